// Checkpoint bodies, verifier keys and signed notes: what an auditor or a
// witness reads from a relay it does not trust.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "absl/strings/string_view.h"
#include "store/note.h"

namespace {

// The test vectors' verifier key (tests/vectors/checkpoint.vkey).
constexpr char kVerifierKey[] = "relay.example/log+392e5462+ATtdMrFJPvPcsYHakFFkQnMmLMDjTw6I8Qnb9ONWM4XF";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  using namespace fedrelay::store;

  if (auto body = ParseCheckpointBody(input); body.ok()) {
    // Whatever parses must format back to a body that parses to the same values.
    auto again = ParseCheckpointBody(FormatCheckpointBody(*body));
    if (!again.ok() || again->origin != body->origin || again->tree_size != body->tree_size ||
        again->root_hash != body->root_hash) {
      std::abort();
    }
  }
  if (auto verifier = ParseVerifierKey(input); verifier.ok()) {
    if (verifier->public_key.size() != 32 || verifier->key_hash.size() != 4) std::abort();
  }
  static const NoteVerifier verifier = *ParseVerifierKey(kVerifierKey);
  (void)OpenNote(input, verifier);
  (void)IsValidNoteName(input);
  return 0;
}
