// The audit's re-validation of logged entries (fedrelay-audit reads them from
// a relay it does not trust), fed the bytes of a v1::LogEntry.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "base/crypto.h"
#include "base/encoding.h"
#include "federation/rules/rules.h"
#include "fedrelay/v1/fedrelay.pb.h"

namespace {

constexpr uint64_t kNowMs = 1790000000000;
// The test vectors' relay key ("relay" in tests/vectors/signing.json).
constexpr char kRelayPubkeyHex[] = "3b5d32b1493ef3dcb181da9051644273262cc0e34f0e88f109dbf4e3563385c5";

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (!fedrelay::InitCrypto().ok()) std::abort();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fedrelay::v1::LogEntry entry;
  if (!entry.ParseFromArray(data, static_cast<int>(size))) return 0;
  static const std::string relay_key = *fedrelay::HexDecode(kRelayPubkeyHex, "relay key", 32);
  fedrelay::federation::rules::Context ctx;
  ctx.now_ms = kNowMs;
  ctx.max_clock_skew_ms = 10ull * 365 * 24 * 3600 * 1000;
  ctx.from_log = true;
  (void)fedrelay::federation::rules::ValidateLogged(entry, relay_key, ctx);
  return 0;
}
