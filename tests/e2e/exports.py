"""Export files as other systems write them: CSV (UTF-8, UTF-8 with BOM, GBK via iconv) and
XLSX laid out the way Excel saves it (shared strings, a styles part with a date format,
dates as serial numbers, long digit strings as text)."""

import csv
import datetime
import io
import os
import subprocess
import zipfile
from xml.sax.saxutils import escape

from harness import SHARED


def shared_messages(limit, encodable="gbk"):
    """(subject, time_raw, detail) from the shared citizen messages, all encodable in GBK."""
    csv.field_size_limit(10**9)
    path = os.path.join(SHARED, "data/teddy2020c/attach2_official_sample495_labeled.csv")
    out = []
    with open(path, encoding="utf-8-sig", newline="") as f:
        for row in csv.DictReader(f):
            detail = " ".join(row["detail"].split())[:400]
            try:
                (row["subject"] + detail).encode(encodable)
            except UnicodeEncodeError:
                continue
            out.append((row["subject"], row["time_raw"], detail))
            if len(out) == limit:
                break
    return out


VISIT_HEADER = ["序号", "来访人", "联系电话", "身份证号", "来访时间", "来访事由", "地址", "接待人", "来访人数"]


def visit_rows(n):
    rows = []
    for i, (subject, when, detail) in enumerate(shared_messages(n)):
        rows.append([str(i + 1), f"访客{i:03d}", f"1380013{i:04d}", f"11010519800101{i:04d}", when,
                     f"{subject}：{detail}", f"A市A{i % 7 + 1}区", "王接待", str(i % 3 + 1)])
    return rows


def write_csv(path, header, rows, bom=False):
    with open(path, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def write_gbk_csv(path, header, rows):
    """UTF-8 CSV converted with iconv, as a GBK export from Excel looks."""
    tmp = path + ".utf8"
    write_csv(tmp, header, rows)
    with open(tmp, "rb") as src, open(path, "wb") as dst:
        subprocess.run(["iconv", "-f", "UTF-8", "-t", "GBK"], stdin=src, stdout=dst, check=True)
    os.remove(tmp)


def _col(i):
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


def excel_serial(text):
    for fmt in ("%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M"):
        try:
            t = datetime.datetime.strptime(text, fmt)
            break
        except ValueError:
            continue
    else:
        return None
    delta = t - datetime.datetime(1899, 12, 30)
    return delta.days + delta.seconds / 86400


def write_xlsx(path, header, rows, date_columns=(), number_columns=()):
    strings, index = [], {}

    def sst(s):
        if s not in index:
            index[s] = len(strings)
            strings.append(s)
        return index[s]

    sheet = io.StringIO()
    sheet.write('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
                f'<dimension ref="A1:{_col(len(header) - 1)}{len(rows) + 1}"/><sheetData>')
    for r, cells in enumerate([header] + rows, start=1):
        sheet.write(f'<row r="{r}" spans="1:{len(header)}">')
        for c, value in enumerate(cells):
            ref = f"{_col(c)}{r}"
            if value == "":
                continue
            if r > 1 and c in date_columns and excel_serial(value) is not None:
                sheet.write(f'<c r="{ref}" s="1"><v>{excel_serial(value)!r}</v></c>')
            elif r > 1 and c in number_columns:
                sheet.write(f'<c r="{ref}"><v>{int(value)}</v></c>')
            else:
                sheet.write(f'<c r="{ref}" t="s"><v>{sst(value)}</v></c>')
        sheet.write("</row>")
    sheet.write("</sheetData></worksheet>")
    sst_xml = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
               '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
               f'count="{len(strings)}" uniqueCount="{len(strings)}">' +
               "".join(f"<si><t>{escape(s)}</t></si>" for s in strings) + "</sst>")
    styles = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
              '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
              '<numFmts count="1"><numFmt numFmtId="176" formatCode="yyyy/m/d\\ h:mm:ss;@"/></numFmts>'
              '<fonts count="1"><font><sz val="11"/><name val="等线"/></font></fonts>'
              '<fills count="1"><fill><patternFill patternType="none"/></fill></fills>'
              '<borders count="1"><border/></borders>'
              '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
              '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
              '<xf numFmtId="176" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
              '</styleSheet>')
    workbook = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
                '<workbookPr/><sheets><sheet name="来访登记" sheetId="1" r:id="rId1"/></sheets></workbook>')
    rels = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
            'worksheet" Target="worksheets/sheet1.xml"/>'
            '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
            'styles" Target="styles.xml"/>'
            '<Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
            'sharedStrings" Target="sharedStrings.xml"/></Relationships>')
    types = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
             '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
             '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
             '<Default Extension="xml" ContentType="application/xml"/>'
             '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.'
             'spreadsheetml.sheet.main+xml"/></Types>')
    root_rels = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                 '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                 '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
                 'officeDocument" Target="xl/workbook.xml"/></Relationships>')
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", types)
        z.writestr("_rels/.rels", root_rels)
        z.writestr("xl/workbook.xml", workbook)
        z.writestr("xl/_rels/workbook.xml.rels", rels)
        z.writestr("xl/styles.xml", styles)
        z.writestr("xl/sharedStrings.xml", sst_xml)
        z.writestr("xl/worksheets/sheet1.xml", sheet.getvalue())


def drop(folder, name, writer, *args, **kw):
    """Writes under a temporary name and renames it in, as a careful exporter does."""
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, "." + name + ".tmp")
    writer(tmp, *args, **kw)
    final = os.path.join(folder, name)
    os.rename(tmp, final)
    return final
