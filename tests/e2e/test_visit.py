"""channel_visit end to end: reception exports dropped into a spool folder and read by the
real minyid — UTF-8 with BOM, GBK (made with iconv) and XLSX give the same suggestions;
bad rows are reported and the good ones kept; re-drops add nothing; kill -9 in the middle
of a 50,000-row file neither loses nor doubles a row; memory stays bounded."""

import json
import os
import time
import unittest

from exports import VISIT_HEADER, drop, shared_messages, visit_rows, write_csv, write_gbk_csv, write_xlsx
from harness import Minyid, wait_until


def write_bytes(path, data, size=None):
    with open(path, "wb") as f:
        f.write(data)
        if size:
            f.truncate(size)


def visit_instance(name, folder, **extra):
    c = {"name": name, "plugin": "visit", "spool_dir": folder, "settle": "200ms", "poll_interval": "100ms"}
    c.update(extra)
    return c


def report(folder, sub, name):
    with open(os.path.join(folder, sub, name + ".report.json"), encoding="utf-8") as f:
        return json.load(f)


def moved(folder, sub, name):
    return os.path.exists(os.path.join(folder, sub, name))


def docs(d, inst):
    return [json.loads(r[0]) for r in
            d.query("SELECT doc FROM suggestions WHERE instance=? ORDER BY submitted_at, rowid", inst)]


def comparable(doc):
    """What a registration says, independent of which file or instance it came from."""
    return {k: doc.get(k) for k in ("content", "submitted_at", "submitter", "location", "extras")}


# Peak resident memory allowed while reading files. The daemon's own working set (SQLite
# cache, dedup index) is ~100 MiB; sanitizer builds keep freed memory in quarantine.
MEMORY_BOUND_KIB = (1536 if os.environ.get("MINYI_SANITIZED") == "1" else 300) * 1024


def vm_hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


class VisitFormatsTest(unittest.TestCase):
    def test_bom_gbk_and_xlsx_give_the_same_suggestions(self):
        rows = visit_rows(40)
        tmp = Minyid().tmp
        folders = {k: os.path.join(tmp, "spool-" + k) for k in ("bom", "gbk", "xlsx")}
        d = Minyid(tmp=tmp, channels=[visit_instance("visit_" + k, f) for k, f in folders.items()]).start()
        try:
            drop(folders["bom"], "来访登记-utf8bom.csv", write_csv, VISIT_HEADER, rows, bom=True)
            drop(folders["gbk"], "来访登记-gbk.csv", write_gbk_csv, VISIT_HEADER, rows)
            drop(folders["xlsx"], "来访登记.xlsx", write_xlsx, VISIT_HEADER, rows, date_columns={4},
                 number_columns={0, 2, 8})
            for k, name in (("bom", "来访登记-utf8bom.csv"), ("gbk", "来访登记-gbk.csv"), ("xlsx", "来访登记.xlsx")):
                wait_until(lambda: moved(folders[k], "processed", name), what=f"{k} file processed")
                r = report(folders[k], "processed", name)
                self.assertEqual((r["rows"], r["ingested"], r["bad_rows"]), (40, 40, 0), r)
            self.assertEqual(report(folders["gbk"], "processed", "来访登记-gbk.csv")["charset"], "gb18030")
            got = {k: [comparable(x) for x in docs(d, "visit_" + k)] for k in folders}
            self.assertEqual(len(got["bom"]), 40)
            self.assertEqual(got["bom"], got["gbk"])
            self.assertEqual(got["bom"], got["xlsx"])
            first = docs(d, "visit_xlsx")[0]
            self.assertEqual(first["channel"], "visit")
            self.assertRegex(first["submitted_at"], r"^20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$")
            self.assertNotIn("1380013", json.dumps(first, ensure_ascii=False), "phones only masked and hashed")
            self.assertIn("visitors", first["extras"]["visit"])
            # The same export dropped again (another name, another encoding): nothing new.
            drop(folders["bom"], "来访登记-again.xlsx", write_xlsx, VISIT_HEADER, rows, date_columns={4},
                 number_columns={0, 2, 8})
            wait_until(lambda: moved(folders["bom"], "processed", "来访登记-again.xlsx"), what="re-drop processed")
            r = report(folders["bom"], "processed", "来访登记-again.xlsx")
            self.assertEqual((r["ingested"], r["already_known"]), (0, 40))
            self.assertEqual(len(docs(d, "visit_bom")), 40)
            self.assertEqual(d.terminate(), 0)
        finally:
            d.stop()


class VisitBadInputTest(unittest.TestCase):
    def test_bad_rows_and_bad_files(self):
        tmp = Minyid().tmp
        folder = os.path.join(tmp, "spool")
        folder_u = os.path.join(tmp, "spool-utf8")
        d = Minyid(tmp=tmp, channels=[visit_instance("visit", folder),
                                      visit_instance("visit_utf8", folder_u, charset="utf-8")]).start()
        try:
            rows = visit_rows(10)
            rows[2][4] = "2020-13-45 10:00"       # no such date
            rows[4] = rows[4] + ["多出来的一格"]     # ragged
            rows[6][5] = ""                        # no matter recorded
            rows[8][8] = "三"                      # visitor count not a number
            drop(folder, "partly-bad.csv", write_csv, VISIT_HEADER, rows)
            # A GBK file read as UTF-8 (the instance's charset says so): every row is reported.
            drop(folder_u, "gbk-but-said-utf8.csv", write_gbk_csv, VISIT_HEADER, visit_rows(3))
            good = visit_rows(3)
            drop(folder_u, "mixed.csv", write_bytes,
                 b"\n".join([",".join(VISIT_HEADER).encode()] +
                            [",".join(r).encode("gbk" if i == 1 else "utf-8") for i, r in enumerate(good)]) + b"\n")
            drop(folder, "empty.csv", write_bytes, b"")
            write_xlsx(os.path.join(tmp, "whole.xlsx"), VISIT_HEADER, visit_rows(5), date_columns={4})
            with open(os.path.join(tmp, "whole.xlsx"), "rb") as f:
                data = f.read()
            drop(folder, "truncated.xlsx", write_bytes, data[: len(data) // 2])
            # 200 MB: refused by size before anything is parsed.
            drop(folder, "huge.csv", write_bytes, b"", size=200 << 20)
            drop(folder, "notes.docx", write_bytes, b"PK")  # not a wanted suffix: left alone

            wait_until(lambda: moved(folder, "processed", "partly-bad.csv"), what="partly bad file")
            r = report(folder, "processed", "partly-bad.csv")
            self.assertEqual((r["rows"], r["ingested"], r["bad_rows"]), (10, 6, 4), r)
            reasons = {b["row"]: b["reason"] for b in r["bad"]}
            self.assertEqual(sorted(reasons), [4, 6, 8, 10], "spreadsheet row numbers (header is row 1)")
            self.assertIn("not a date", reasons[4])
            self.assertIn("cells", reasons[6])
            self.assertIn("no text", reasons[8])
            self.assertIn("visitor count", reasons[10])

            wait_until(lambda: moved(folder_u, "failed", "gbk-but-said-utf8.csv"), what="mis-encoded file")
            self.assertIn("not valid utf-8", report(folder_u, "failed", "gbk-but-said-utf8.csv")["error"])
            # Only some rows mis-encoded: those rows are reported, the rest kept.
            wait_until(lambda: moved(folder_u, "processed", "mixed.csv"), what="partly mis-encoded file")
            r = report(folder_u, "processed", "mixed.csv")
            self.assertEqual((r["ingested"], r["bad_rows"]), (2, 1))
            self.assertIn("not valid utf-8", r["bad"][0]["reason"])

            for name, why in (("empty.csv", "empty"), ("truncated.xlsx", "XLSX"), ("huge.csv", "limit")):
                wait_until(lambda: moved(folder, "failed", name), what=f"{name} failed")
                self.assertIn(why, report(folder, "failed", name)["error"], name)
            self.assertTrue(os.path.exists(os.path.join(folder, "notes.docx")))
            # Still up and serving.
            self.assertEqual(d.admin("GET", "/livez")[0], 200)
            self.assertEqual(d.query("SELECT COUNT(*) FROM suggestions")[0][0], 6 + 2)
            self.assertLess(vm_hwm_kib(d.proc.pid), MEMORY_BOUND_KIB, "a 200 MB file is never read into memory")
            self.assertEqual(d.terminate(), 0)
        finally:
            d.stop()


class VisitCrashTest(unittest.TestCase):
    def test_kill9_in_the_middle_of_a_50000_row_file(self):
        base = shared_messages(200)
        rows = []
        for i in range(50000):
            subject, when, detail = base[i % len(base)]
            rows.append([str(i + 1), f"访客{i}", f"139{i:08d}", "", when, f"{subject}（登记{i}）：{detail[:120]}",
                         "A市", "李接待", "1"])
        tmp = Minyid().tmp
        folder = os.path.join(tmp, "spool")
        d = Minyid(tmp=tmp, channels=[visit_instance("visit", folder)]).start()
        try:
            drop(folder, "big.csv", write_csv, VISIT_HEADER, rows)
            wait_until(lambda: d.query("SELECT COUNT(*) FROM suggestions")[0][0] >= 3000, timeout=120,
                       what="ingest under way")
            d.kill9()
            mid = d.query("SELECT COUNT(*) FROM suggestions")[0][0]
            self.assertLess(mid, 50000, "killed in the middle")
            d.start()
            wait_until(lambda: moved(folder, "processed", "big.csv"), timeout=300, what="file finished")
            n, distinct = d.query("SELECT COUNT(*), COUNT(DISTINCT external_id) FROM suggestions")[0]
            self.assertEqual((n, distinct), (50000, 50000))
            contents = {r[0] for r in d.query("SELECT json_extract(doc, '$.content') FROM suggestions")}
            self.assertEqual(len(contents), 50000, "every row exactly once")
            r = report(folder, "processed", "big.csv")
            self.assertEqual(r["rows"], 50000)
            self.assertEqual(r["ingested_before_restart"] + r["ingested"] + r["already_known"], 50000)
            self.assertLess(vm_hwm_kib(d.proc.pid), MEMORY_BOUND_KIB, "streamed with bounded memory")
            self.assertEqual(d.terminate(), 0)
        finally:
            d.stop()


if __name__ == "__main__":
    unittest.main()
