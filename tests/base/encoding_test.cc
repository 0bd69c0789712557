// Strict text encodings (SPEC section 1).
#include "base/encoding.h"

#include "gtest/gtest.h"

namespace fedrelay {
namespace {

TEST(ParseDecimalU64Test, AcceptsPlainDigitsUpToTheLargestU64) {
  EXPECT_EQ(ParseDecimalU64("0"), 0u);
  EXPECT_EQ(ParseDecimalU64("1731974400000"), 1731974400000u);
  EXPECT_EQ(ParseDecimalU64("18446744073709551615"), UINT64_MAX);
}

TEST(ParseDecimalU64Test, RefusesAnythingElse) {
  for (const char* text : {"", "-1", "+1", " 1", "1 ", "1e3", "0x10", "1_000", "1.0",
                           "18446744073709551616", "000000000000000000001"}) {
    EXPECT_EQ(ParseDecimalU64(text), std::nullopt) << "'" << text << "'";
  }
}

}  // namespace
}  // namespace fedrelay
