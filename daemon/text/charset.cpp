// Charset decoding with ICU converters (not iconv: glibc's GB18030 rejects 0x80).
#include "text/charset.hpp"

#include <unicode/ucnv.h>
#include <unicode/ucnv_cb.h>
#include <unicode/ucnv_err.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <stdexcept>
#include <string_view>

#include "core/text.hpp"

namespace minyi {

namespace {

struct ConvCounter {
  size_t bad = 0;
  bool gbk_euro = false;
};

// To-Unicode error callback: counts bad sequences, writes U+FFFD, and for GB18030 turns a
// lone 0x80 into '€' as GBK does.
void on_bad_bytes(const void* context, UConverterToUnicodeArgs* args, const char* units, int32_t length,
                  UConverterCallbackReason reason, UErrorCode* err) {
  if (reason != UCNV_ILLEGAL && reason != UCNV_UNASSIGNED && reason != UCNV_IRREGULAR) return;
  auto* counter = static_cast<ConvCounter*>(const_cast<void*>(context));
  *err = U_ZERO_ERROR;
  if (counter->gbk_euro && length == 1 && static_cast<unsigned char>(units[0]) == 0x80) {
    const UChar euro = 0x20AC;
    ucnv_cbToUWriteUChars(args, &euro, 1, 0, err);
    return;
  }
  ++counter->bad;
  const UChar fffd = 0xFFFD;
  ucnv_cbToUWriteUChars(args, &fffd, 1, 0, err);
}

struct Attempt {
  std::string utf8;
  size_t bad = 0;
};

Attempt convert(std::string_view bytes, const char* icu_name, bool gbk_euro) {
  UErrorCode ec = U_ZERO_ERROR;
  std::unique_ptr<UConverter, decltype(&ucnv_close)> conv(ucnv_open(icu_name, &ec), &ucnv_close);
  if (U_FAILURE(ec)) throw std::runtime_error(std::string("ICU converter unavailable: ") + icu_name);
  ConvCounter counter;
  counter.gbk_euro = gbk_euro;
  ucnv_setToUCallBack(conv.get(), on_bad_bytes, &counter, nullptr, nullptr, &ec);
  icu::UnicodeString u(bytes.data(), static_cast<int32_t>(bytes.size()), conv.get(), ec);
  Attempt a;
  if (U_FAILURE(ec)) {
    a.bad = bytes.size() + 1;
    return a;
  }
  u.toUTF8String(a.utf8);
  a.bad = counter.bad;
  return a;
}

// Very common Chinese characters, simplified and traditional forms: a decoding that reads
// like Chinese hits them often; mojibake from the wrong double-byte charset rarely does.
constexpr std::u16string_view kCommon =
    u"的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么"
    u"心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分"
    u"将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重"
    u"被走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住"
    u"员九笑性通目华报立马命张活难神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制"
    u"解各任至清物台象记边共风战干接它许八特觉望直服林题建南度统色字请交爱让认算论百吃义科怎元社术结六功指思非流"
    u"每青管夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办运武半候七必城父强步完革深区即求品士转量空"
    u"甚众技轻程告江语英基派满式李息写呢识极令黄德收脸钱党倒未持取设始版双历越史商千片容研像找友孩站广改议形委早"
    u"房音火际则首单据导影失拿网香似斯专石若兵弟谁校读志飞观争究包组造落视济喜离虽坏兴切整土居民小区路街道噪音问题"
    u"們個來國說時會這對過學後麼現樣兩長將麼種們開義請無與樣機關問題實點從動還發經頭當應邊說區環境噪聲號碼這裡樓"
    u"車線網電視門業書記讓們為處產專轉體會議話題";

double chinese_score(const std::string& utf8) {
  icu::UnicodeString u = icu::UnicodeString::fromUTF8(utf8);
  size_t han = 0, common = 0;
  for (int32_t i = 0; i < u.length(); i = u.moveIndex32(i, 1)) {
    UChar32 c = u.char32At(i);
    if (c < 0x2E80) continue;
    ++han;
    if (c <= 0xFFFF && kCommon.find(static_cast<char16_t>(c)) != std::u16string_view::npos) ++common;
  }
  return han == 0 ? 0.0 : static_cast<double>(common) / static_cast<double>(han);
}

std::string lower(std::string_view s) {
  std::string o(s);
  std::transform(o.begin(), o.end(), o.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return o;
}

DecodedText from_attempt(Attempt a, const char* charset) { return DecodedText{std::move(a.utf8), charset, a.bad}; }

}  // namespace

DecodedText decode_text(std::string_view bytes, std::string_view declared_charset) {
  // A byte-order mark decides, whatever was declared.
  if (bytes.size() >= 3 && bytes.substr(0, 3) == "\xEF\xBB\xBF") return decode_text(bytes.substr(3), "utf-8");
  if (bytes.size() >= 2 && bytes.substr(0, 2) == "\xFF\xFE")
    return from_attempt(convert(bytes.substr(2), "UTF-16LE", false), "utf-16le");
  if (bytes.size() >= 2 && bytes.substr(0, 2) == "\xFE\xFF")
    return from_attempt(convert(bytes.substr(2), "UTF-16BE", false), "utf-16be");

  std::string cs = lower(declared_charset);
  if (cs == "utf-8" || cs == "utf8") {
    if (is_valid_utf8(bytes)) return DecodedText{std::string(bytes), "utf-8", 0};
    return from_attempt(convert(bytes, "UTF-8", false), "utf-8");
  }
  if (cs == "gb18030" || cs == "gbk" || cs == "gb2312" || cs == "cp936" || cs == "x-gbk" || cs == "euc-cn" ||
      cs == "windows-936" || cs == "ms936")
    return from_attempt(convert(bytes, "GB18030", true), "gb18030");
  if (cs == "big5" || cs == "x-big5" || cs == "cp950" || cs == "windows-950" || cs == "big5-hkscs")
    return from_attempt(convert(bytes, "windows-950", false), "big5");
  if (cs == "utf-16le") return from_attempt(convert(bytes, "UTF-16LE", false), "utf-16le");
  if (cs == "utf-16be" || cs == "utf-16") return from_attempt(convert(bytes, "UTF-16BE", false), "utf-16be");

  // Undeclared (or unknown): detect.
  if (is_valid_utf8(bytes)) return DecodedText{std::string(bytes), "utf-8", 0};
  Attempt gb = convert(bytes, "GB18030", true);
  Attempt big5 = convert(bytes, "windows-950", false);
  bool gb_wins;
  if (gb.bad != big5.bad) {
    gb_wins = gb.bad < big5.bad;
  } else {
    gb_wins = chinese_score(gb.utf8) >= chinese_score(big5.utf8);
  }
  return gb_wins ? from_attempt(std::move(gb), "gb18030") : from_attempt(std::move(big5), "big5");
}

}  // namespace minyi
