#include "relay/ulid.h"

#include <set>
#include <string>

#include "absl/strings/match.h"
#include "base/clock.h"
#include "gtest/gtest.h"

namespace fedrelay::relay {
namespace {

bool IsCrockford(const std::string& text) {
  return text.find_first_not_of("0123456789ABCDEFGHJKMNPQRSTVWXYZ") == std::string::npos;
}

TEST(UlidTest, EncodesTimeInTheFirstTenCharacters) {
  FakeClock clock(1700000000123);
  UlidGenerator generator(&clock, /*seed=*/1);
  const std::string ulid = generator.Next();
  ASSERT_EQ(ulid.size(), 26u);
  EXPECT_TRUE(IsCrockford(ulid)) << ulid;
  // 1700000000123 in ten big-endian Crockford base32 digits.
  EXPECT_EQ(ulid.substr(0, 10), "01HF7YAT3V");
  EXPECT_EQ(UlidTimeMs(ulid).value(), 1700000000123u);
}

TEST(UlidTest, StrictlyIncreasingWithinOneMillisecondAndWhenTheClockStepsBack) {
  FakeClock clock(1000);
  UlidGenerator generator(&clock, /*seed=*/2);
  std::string previous = generator.Next();
  for (int i = 0; i < 1000; ++i) {
    if (i == 500) clock.SetMs(900);  // clock steps back
    const std::string next = generator.Next();
    EXPECT_LT(previous, next);
    previous = next;
  }
  clock.SetMs(2000);
  const std::string later = generator.Next();
  EXPECT_LT(previous, later);
  EXPECT_EQ(UlidTimeMs(later).value(), 2000u);
}

TEST(UlidTest, DifferentGeneratorsDrawDifferentRandomness) {
  FakeClock clock(5000);
  UlidGenerator a(&clock, /*seed=*/3);
  UlidGenerator b(&clock, /*seed=*/4);
  EXPECT_NE(a.Next(), b.Next());
}

TEST(UlidTest, CorrelationIdsAreUniqueAndPrefixed) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = NewCorrelationId();
    ASSERT_TRUE(absl::StartsWith(id, "req_")) << id;
    ASSERT_EQ(id.size(), 30u);
    EXPECT_TRUE(IsCrockford(id.substr(4)));
    EXPECT_TRUE(seen.insert(id).second);
  }
}

TEST(UlidTest, RejectsMalformedUlids) {
  EXPECT_FALSE(UlidTimeMs("").ok());
  EXPECT_FALSE(UlidTimeMs("01HF7YAT00ABCDEFGHJKMNPQR").ok());    // 25 chars
  EXPECT_FALSE(UlidTimeMs("01HF7YAT00ABCDEFGHJKMNPQRU").ok());   // U is not Crockford
  EXPECT_FALSE(UlidTimeMs("81HF7YAT00ABCDEFGHJKMNPQRS").ok());   // more than 128 bits
}

}  // namespace
}  // namespace fedrelay::relay
