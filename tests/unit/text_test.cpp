// Matching normalization and charset detection/decoding.
#include <gtest/gtest.h>
#include <unicode/ucnv.h>
#include <unicode/unistr.h>

#include <memory>

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
