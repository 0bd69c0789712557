// The typed-error helpers every transport uses to put a Status on the wire.
#include "base/errors.h"

#include "gtest/gtest.h"

namespace fedrelay {
namespace {

TEST(ErrorsTest, MakeErrorCarriesTheMachineCodeAndTheSpecCode) {
  const absl::Status status = MakeError(ErrorCode::kStaleTimestamp, "too old");
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(status.message(), "stale_timestamp: too old");
  EXPECT_EQ(MachineCode(status), "stale_timestamp");
  EXPECT_EQ(HumanMessage(status), "too old");
  EXPECT_EQ(WireMessage(status), "stale_timestamp: too old");
}

// SPEC section 5: every error message starts with its machine code, also when
// the Status came from a library (RocksDB, the log writer) and not MakeError.
TEST(ErrorsTest, WireMessageAddsTheMachineCodeAStatusLacks) {
  EXPECT_EQ(WireMessage(absl::InvalidArgumentError("leaf too large")), "malformed: leaf too large");
  EXPECT_EQ(WireMessage(absl::UnavailableError("log writer is stopped")),
            "unavailable: log writer is stopped");
  EXPECT_EQ(WireMessage(absl::DataLossError("bad block")), "internal: bad block");
  // A message that merely contains a colon is not mistaken for a prefix.
  EXPECT_EQ(WireMessage(absl::InternalError("rocksdb: IO error")), "internal: rocksdb: IO error");
  const absl::Status limited = RateLimitedError("ping_rate_limit of 2/min exceeded", 250);
  EXPECT_EQ(WireMessage(limited), limited.message());
  EXPECT_EQ(RetryAfterMs(limited), 250u);
}

}  // namespace
}  // namespace fedrelay
