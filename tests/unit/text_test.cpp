// Matching normalization and charset detection/decoding.
#include "core/text.hpp"

#include <gtest/gtest.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/ucnv.h>
#include <unicode/unistr.h>

#include <fstream>
#include <memory>
#include <sstream>

#include "text/charset.hpp"
#include "text/normalize.hpp"

namespace minyi {

namespace {
// Encodes UTF-8 text in another charset with ICU, as a test fixture would with iconv.
std::string encode(const std::string& utf8, const char* charset) {
  UErrorCode ec = U_ZERO_ERROR;
  std::unique_ptr<UConverter, decltype(&ucnv_close)> conv(ucnv_open(charset, &ec), &ucnv_close);
  icu::UnicodeString u = icu::UnicodeString::fromUTF8(utf8);
  std::string out(static_cast<size_t>(u.length()) * 4 + 4, '\0');
  int32_t n = u.extract(out.data(), static_cast<int32_t>(out.size()), conv.get(), ec);
  EXPECT_TRUE(U_SUCCESS(ec)) << u_errorName(ec);
  out.resize(static_cast<size_t>(n));
  return out;
}
}  // namespace

TEST(MatchText, FoldsWidthCaseScriptAndPunctuation) {
  EXPECT_EQ(normalize_for_matching("  國家 ＡＢＣ１２３，噪音！"), "国家abc123噪音");
  EXPECT_EQ(normalize_for_matching("關於幸福小區門口的問題"), "关于幸福小区门口的问题");
  EXPECT_EQ(normalize_for_matching("Hello, World... 2020年"), "helloworld2020年");
  EXPECT_EQ(normalize_for_matching("【建议】“噪音”扰民——请处理。"), "建议噪音扰民请处理");
  EXPECT_EQ(normalize_for_matching(""), "");
  EXPECT_EQ(to_simplified(U'門'), U'门');
  EXPECT_EQ(to_simplified(U'门'), U'门');
}

// The definition: NFKC_Casefold of the whole text, then Traditional → Simplified, with
// everything that is not a letter or digit dropped (or one space per run).
std::string reference_match_text(const std::string& utf8, bool keep_separators) {
  UErrorCode ec = U_ZERO_ERROR;
  icu::UnicodeString folded =
      icu::Normalizer2::getNFKCCasefoldInstance(ec)->normalize(icu::UnicodeString::fromUTF8(utf8), ec);
  EXPECT_TRUE(U_SUCCESS(ec));
  std::u32string kept;
  for (int32_t i = 0; i < folded.length();) {
    UChar32 c = folded.char32At(i);
    i += U16_LENGTH(c);
    if (!u_isalnum(c)) {
      if (keep_separators && !kept.empty() && kept.back() != U' ') kept += U' ';
      continue;
    }
    kept += to_simplified(static_cast<char32_t>(c));
  }
  return u32_to_utf8(kept);
}

// Every line of the two CSV files of ../shared/data/teddy2020c (real citizen messages).
std::vector<std::string> shared_data_lines() {
  std::vector<std::string> out;
  int files = 0;
  for (const char* name :
       {"/data/teddy2020c/stream_all_attachments.csv", "/data/teddy2020c/attach3_hot_messages.csv"}) {
    std::ifstream in(std::string(MINYI_SHARED_DIR) + name);
    if (!in) continue;
    ++files;
    std::stringstream all;
    all << in.rdbuf();
    std::string line;
    for (std::istringstream lines(all.str()); std::getline(lines, line);) out.push_back(line);
  }
  EXPECT_EQ(files, 2) << "shared data not found under " << MINYI_SHARED_DIR;
  return out;
}

// The fast path (ASCII and Han handled without ICU, other runs normalized apart) gives
// exactly the whole-text result: on combining sequences, compatibility characters, and
// every text in ../shared/data.
TEST(MatchText, SplitNormalizationEqualsWholeTextNormalization) {
  std::vector<std::string> texts = {
      "Cafe\u0301 cafe\xCC\x81 Ame\xCC\x81lie",  // e + combining acute after ASCII
      "e\xCC\x81\xCC\xA3X",
      "\xCC\x81leading mark",
      "漢\xCC\x81字",  // marks after Han; a leading mark
      "ＡＢＣ１２３ﬁ ℌ ① ㍿ ﾊﾟ ｶﾞ",
      "한국어 ᄀ\xE1\x85\xA1 조합",  // compatibility, half-width kana, jamo
      "Straße ΣΑΣ İstanbul",
      "x\xE2\x80\x8By\xC2\xADz",  // case folding, default ignorables
      "國家\t\n噪音\x01",
      "𠀀𪚥 emoji 😀 end",
      "",
  };
  for (auto& line : shared_data_lines())
    if (is_valid_utf8(line)) texts.push_back(std::move(line));
  for (const auto& t : texts) {
    ASSERT_EQ(normalize_for_matching(t), reference_match_text(t, false)) << t.substr(0, 80);
    ASSERT_EQ(normalize_for_matching(t, {.keep_separators = true}), reference_match_text(t, true)) << t.substr(0, 80);
  }
}

// The definition of nfc_trim: NFC of the whole text through UTF-16 (ill-formed bytes
// become U+FFFD), then white space (u_isUWhiteSpace) cut from both ends.
std::string reference_nfc_trim(const std::string& utf8) {
  UErrorCode ec = U_ZERO_ERROR;
  icu::UnicodeString n = icu::Normalizer2::getNFCInstance(ec)->normalize(icu::UnicodeString::fromUTF8(utf8), ec);
  EXPECT_TRUE(U_SUCCESS(ec));
  int32_t start = 0, end = n.length();
  while (start < end && u_isUWhiteSpace(n.char32At(start))) start = n.moveIndex32(start, 1);
  while (end > start && u_isUWhiteSpace(n.char32At(n.moveIndex32(end, -1)))) end = n.moveIndex32(end, -1);
  std::string out;
  n.tempSubStringBetween(start, end).toUTF8String(out);
  return out;
}

// Text already in NFC is checked and cut on its UTF-8 bytes; the rest goes through ICU.
// Both give the definition's result, on every line of ../shared/data padded with Unicode
// spaces and on text that is not NFC or not UTF-8.
TEST(NfcTrim, EqualsNormalizingTheWholeTextThenTrimming) {
  std::vector<std::string> texts = {
      "",
      " ",
      "\u3000",
      "e\u0301",
      " \u0301 ",
      "\u0301\u3000",
      "\uFA10\u2003",
      "\u1100\u1161\u11A8 ",
      "\u212B\u2126",
      "\u00a0\u2003 幸福小区 噪音\t\u3000\u2028",
      " a\xFF ",
      "\xE6\xB0 ",
      "\xED\xA0\x80x",
      "\u200B零宽\u200B",
      "\u0085x\u0085",
      "😀 \u3000",
  };
  for (const auto& line : shared_data_lines()) {
    texts.push_back(line);
    texts.push_back("\u3000 " + line + "\r\n\u2028");
  }
  for (const auto& t : texts) {
    ASSERT_EQ(nfc_trim(t), reference_nfc_trim(t)) << t.substr(0, 80);
    // Intake's variant for strings of a parsed draft, which skips the UTF-8 check.
    if (is_valid_utf8(t)) {
      ASSERT_EQ(nfc_trim_valid(t), reference_nfc_trim(t)) << t.substr(0, 80);
    }
  }
}

TEST(MatchText, AsrFillersOnlyWhenAsked) {
  std::string spoken = "嗯，就是说那个小区的噪音啊，呃，很吵";
  EXPECT_EQ(normalize_for_matching(spoken, {.drop_asr_fillers = true}), "小区的噪音很吵");
  EXPECT_EQ(normalize_for_matching(spoken), "嗯就是说那个小区的噪音啊呃很吵");
  EXPECT_EQ(normalize_for_matching("这个额度", {.drop_asr_fillers = true}), "这个额度");
}

TEST(Charset, Utf8AndBoms) {
  auto d = decode_text("民意");
  EXPECT_EQ(d.charset, "utf-8");
  EXPECT_EQ(d.utf8, "民意");
  EXPECT_FALSE(d.replaced());
  d = decode_text("\xEF\xBB\xBF民意");
  EXPECT_EQ(d.utf8, "民意");
  d = decode_text(std::string("\xFF\xFE", 2) + encode("民意 ok", "UTF-16LE"));
  EXPECT_EQ(d.charset, "utf-16le");
  EXPECT_EQ(d.utf8, "民意 ok");
  d = decode_text(std::string("\xFE\xFF", 2) + encode("民意", "UTF-16BE"));
  EXPECT_EQ(d.charset, "utf-16be");
  EXPECT_EQ(d.utf8, "民意");
}

TEST(Charset, DetectsGbkAndBig5) {
  std::string simplified = "幸福小区旁边的工地每天晚上施工到凌晨，噪音很大，居民无法休息，请有关部门处理。";
  std::string traditional = "幸福小區旁邊的工地每天晚上施工到凌晨，噪音很大，居民無法休息，請有關部門處理。";
  auto gbk = decode_text(encode(simplified, "GBK"));
  EXPECT_EQ(gbk.charset, "gb18030");
  EXPECT_EQ(gbk.utf8, simplified);
  EXPECT_FALSE(gbk.replaced());
  auto big5 = decode_text(encode(traditional, "windows-950"));
  EXPECT_EQ(big5.charset, "big5");
  EXPECT_EQ(big5.utf8, traditional);
  // Declared charsets are honoured, with GB2312/GBK read as GB18030.
  EXPECT_EQ(decode_text(encode(simplified, "GBK"), "GB2312").utf8, simplified);
}

TEST(Charset, GbkEuroByteIsNotAnError) {
  // Windows code page 936 maps 0x80 to '€'; GB18030 leaves it undefined (glibc rejects it).
  std::string bytes = "\x80" + encode("价格100元", "GBK");
  auto d = decode_text(bytes, "gbk");
  EXPECT_EQ(d.utf8, "€价格100元");
  EXPECT_FALSE(d.replaced());
  auto detected = decode_text(bytes);
  EXPECT_EQ(detected.charset, "gb18030");
  EXPECT_EQ(detected.utf8, "€价格100元");
}

TEST(Charset, RecordsReplacements) {
  auto d = decode_text(std::string("ok \xFF\xFF\xFF end"), "utf-8");
  EXPECT_TRUE(d.replaced());
  EXPECT_NE(d.utf8.find("\xEF\xBF\xBD"), std::string::npos);  // U+FFFD
  EXPECT_NE(d.utf8.find("end"), std::string::npos);
}

}  // namespace minyi
