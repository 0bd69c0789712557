// Strict text encodings used on the wire (SPEC section 1).
//
// Hex is lowercase only: uppercase or odd-length input is rejected, never
// "fixed up", because a peer that sends it is not following the contract.
#ifndef FEDRELAY_BASE_ENCODING_H_
#define FEDRELAY_BASE_ENCODING_H_

#include <cstdint>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace fedrelay {

// Lowercase hex of `bytes`.
std::string HexEncode(absl::string_view bytes);

// Decodes lowercase hex. When `expected_bytes` is non-zero the decoded length
// must equal it. Errors are INVALID_ARGUMENT naming `what`.
absl::StatusOr<std::string> HexDecode(absl::string_view hex, absl::string_view what,
                                      size_t expected_bytes = 0);

// Standard base64 with padding (RFC 4648 section 4), as used by C2SP notes.
std::string Base64Encode(absl::string_view bytes);
absl::StatusOr<std::string> Base64Decode(absl::string_view text);

// Strict decimal (event ids, timestamps in metadata): digits only, no sign,
// spaces or leading "+", and it fits in 64 bits; nullopt otherwise.
std::optional<uint64_t> ParseDecimalU64(absl::string_view text);

// Appends big-endian integers (the canonical signing bytes use these).
void AppendU32BE(std::string& out, uint32_t value);
void AppendU64BE(std::string& out, uint64_t value);
// The big-endian integer in the first 8 bytes of `bytes` (which must hold 8).
uint64_t ReadU64BE(absl::string_view bytes);

}  // namespace fedrelay

#endif  // FEDRELAY_BASE_ENCODING_H_
