#include "base/encoding.h"

#include "absl/status/status.h"
#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace fedrelay {
namespace {

int HexDigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

std::string HexEncode(absl::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.resize(bytes.size() * 2);
  for (size_t i = 0; i < bytes.size(); ++i) {
    const auto b = static_cast<unsigned char>(bytes[i]);
    out[2 * i] = kDigits[b >> 4];
    out[2 * i + 1] = kDigits[b & 0xf];
  }
  return out;
}

absl::StatusOr<std::string> HexDecode(absl::string_view hex, absl::string_view what,
                                      size_t expected_bytes) {
  if (expected_bytes != 0 && hex.size() != expected_bytes * 2) {
    return absl::InvalidArgumentError(absl::StrCat(what, " must be ", expected_bytes * 2,
                                                   " lowercase hex characters, got ",
                                                   hex.size()));
  }
  if (hex.size() % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, " has an odd number of hex characters"));
  }
  std::string out;
  out.resize(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    const int hi = HexDigitValue(hex[2 * i]);
    const int lo = HexDigitValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " is not lowercase hex (bad character at ", 2 * i, ")"));
    }
    out[i] = static_cast<char>((hi << 4) | lo);
  }
  return out;
}

std::string Base64Encode(absl::string_view bytes) { return absl::Base64Escape(bytes); }

absl::StatusOr<std::string> Base64Decode(absl::string_view text) {
  std::string out;
  // absl accepts unpadded input too; require canonical padded form by round-tripping.
  if (!absl::Base64Unescape(text, &out) || absl::Base64Escape(out) != text) {
    return absl::InvalidArgumentError("not canonical base64");
  }
  return out;
}

std::optional<uint64_t> ParseDecimalU64(absl::string_view text) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  if (!std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  uint64_t value = 0;
  if (!absl::SimpleAtoi(text, &value)) return std::nullopt;  // over 2^64 - 1
  return value;
}

void AppendU32BE(std::string& out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(value >> shift));
}

void AppendU64BE(std::string& out, uint64_t value) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(value >> shift));
}

uint64_t ReadU64BE(absl::string_view bytes) {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value = (value << 8) | static_cast<uint8_t>(bytes[i]);
  return value;
}

}  // namespace fedrelay
