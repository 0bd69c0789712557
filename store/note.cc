#include "store/note.h"

#include <cstdint>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/encoding.h"
#include "base/status_macros.h"

namespace fedrelay::store {
namespace {

constexpr char kEd25519Algorithm = '\x01';
constexpr size_t kKeyHashBytes = 4;
// U+2014 EM DASH then a space, in UTF-8.
constexpr absl::string_view kSignaturePrefix = "\xe2\x80\x94 ";
// Bounds the work an attacker-supplied note can cause (as Go's sumdb/note does).
constexpr int kMaxSignatures = 100;

// Decodes one UTF-8 code point at text[*pos], advancing *pos. Rejects
// overlong forms, surrogates and values above U+10FFFF.
bool DecodeUtf8(absl::string_view text, size_t* pos, char32_t* out) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(*pos);
  int extra = 0;
  char32_t cp = 0;
  char32_t min = 0;
  if (lead < 0x80) {
    *out = lead;
    *pos += 1;
    return true;
  } else if ((lead & 0xe0) == 0xc0) {
    extra = 1;
    cp = lead & 0x1f;
    min = 0x80;
  } else if ((lead & 0xf0) == 0xe0) {
    extra = 2;
    cp = lead & 0x0f;
    min = 0x800;
  } else if ((lead & 0xf8) == 0xf0) {
    extra = 3;
    cp = lead & 0x07;
    min = 0x10000;
  } else {
    return false;
  }
  if (*pos + extra >= text.size()) return false;
  for (int i = 1; i <= extra; ++i) {
    const unsigned char next = byte(*pos + i);
    if ((next & 0xc0) != 0x80) return false;
    cp = (cp << 6) | (next & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
  *out = cp;
  *pos += 1 + extra;
  return true;
}

// Unicode White_Space (what Go's unicode.IsSpace reports).
bool IsUnicodeSpace(char32_t cp) {
  return cp == ' ' || (cp >= 0x09 && cp <= 0x0d) || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f ||
         cp == 0x205f || cp == 0x3000;
}

// Valid UTF-8 without ASCII control characters other than newline.
bool IsValidNoteText(absl::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    char32_t cp;
    if (!DecodeUtf8(text, &pos, &cp)) return false;
    if (cp < 0x20 && cp != '\n') return false;
    if (cp == 0x7f) return false;
  }
  return true;
}

bool IsAllDigits(absl::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

absl::Status Malformed(absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("malformed note: ", why));
}

}  // namespace

bool IsValidNoteName(absl::string_view name) {
  if (name.empty()) return false;
  size_t pos = 0;
  while (pos < name.size()) {
    char32_t cp;
    if (!DecodeUtf8(name, &pos, &cp)) return false;
    if (cp < 0x20 || cp == 0x7f || cp == '+' || IsUnicodeSpace(cp)) return false;
  }
  return true;
}

std::string FormatCheckpointBody(const CheckpointBody& checkpoint) {
  return absl::StrCat(checkpoint.origin, "\n", checkpoint.tree_size, "\n",
                      Base64Encode(checkpoint.root_hash), "\n");
}

absl::StatusOr<CheckpointBody> ParseCheckpointBody(absl::string_view body) {
  if (body.empty() || body.back() != '\n') {
    return absl::InvalidArgumentError("checkpoint body must end in a newline");
  }
  if (!IsValidNoteText(body)) {
    return absl::InvalidArgumentError("checkpoint body is not UTF-8 text without control characters");
  }
  body.remove_suffix(1);
  std::vector<absl::string_view> lines = absl::StrSplit(body, '\n');
  if (lines.size() < 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint body has ", lines.size(), " lines, want at least 3"));
  }
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].empty()) {
      return absl::InvalidArgumentError(absl::StrCat("checkpoint line ", i + 1, " is empty"));
    }
  }
  CheckpointBody checkpoint;
  checkpoint.origin = std::string(lines[0]);

  const absl::string_view size = lines[1];
  if (!IsAllDigits(size) || (size.size() > 1 && size[0] == '0')) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint tree size \"", size, "\" is not a canonical decimal"));
  }
  uint64_t tree_size = 0;
  for (char c : size) {
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (tree_size > (UINT64_MAX - digit) / 10) {
      return absl::InvalidArgumentError("checkpoint tree size overflows 64 bits");
    }
    tree_size = tree_size * 10 + digit;
  }
  checkpoint.tree_size = tree_size;

  absl::StatusOr<std::string> root = Base64Decode(lines[2]);
  if (!root.ok() || root->size() != kSha256Bytes) {
    return absl::InvalidArgumentError("checkpoint root is not base64 of 32 bytes");
  }
  checkpoint.root_hash = *std::move(root);
  return checkpoint;
}

std::string NoteKeyHash(absl::string_view name, absl::string_view public_key) {
  std::string input(name);
  input.push_back('\n');
  input.push_back(kEd25519Algorithm);
  input.append(public_key.data(), public_key.size());
  return Sha256(input).substr(0, kKeyHashBytes);
}

std::string FormatVerifierKey(absl::string_view name, absl::string_view public_key) {
  std::string key(1, kEd25519Algorithm);
  key.append(public_key.data(), public_key.size());
  return absl::StrCat(name, "+", HexEncode(NoteKeyHash(name, public_key)), "+",
                      Base64Encode(key));
}

absl::StatusOr<NoteVerifier> ParseVerifierKey(absl::string_view vkey) {
  // Names hold no '+', but the base64 key may: split at the first two only.
  std::vector<absl::string_view> parts = absl::StrSplit(vkey, absl::MaxSplits('+', 2));
  if (parts.size() != 3) {
    return absl::InvalidArgumentError("verifier key must be <name>+<hex key hash>+<base64 key>");
  }
  if (!IsValidNoteName(parts[0])) {
    return absl::InvalidArgumentError(absl::StrCat("invalid note key name \"", parts[0], "\""));
  }
  ASSIGN_OR_RETURN(std::string key_hash,
                   HexDecode(parts[1], "verifier key hash", kKeyHashBytes));
  absl::StatusOr<std::string> key = Base64Decode(parts[2]);
  if (!key.ok()) return absl::InvalidArgumentError("verifier key is not canonical base64");
  if (key->empty() || (*key)[0] != kEd25519Algorithm) {
    return absl::InvalidArgumentError("verifier key is not an Ed25519 (0x01) key");
  }
  if (key->size() != 1 + kEd25519PublicKeyBytes) {
    return absl::InvalidArgumentError(absl::StrCat("verifier key is ", key->size() - 1,
                                                   " bytes, want ", kEd25519PublicKeyBytes));
  }
  NoteVerifier verifier;
  verifier.name = std::string(parts[0]);
  verifier.public_key = key->substr(1);
  verifier.key_hash = std::move(key_hash);
  if (verifier.key_hash != NoteKeyHash(verifier.name, verifier.public_key)) {
    return absl::InvalidArgumentError("verifier key hash does not match its name and key");
  }
  return verifier;
}

std::string SignNote(absl::string_view body, absl::string_view name, const Ed25519PrivateKey& key) {
  std::string text(body);
  // The contract asks for a newline-terminated body; signing a repaired body
  // yields a note that opens, where signing it as given could only yield a
  // malformed one.
  if (text.empty() || text.back() != '\n') text.push_back('\n');
  std::string blob = NoteKeyHash(name, key.PublicKey());
  blob += key.Sign(text);
  return absl::StrCat(text, "\n", kSignaturePrefix, name, " ", Base64Encode(blob), "\n");
}

absl::StatusOr<std::string> OpenNote(absl::string_view note, const NoteVerifier& verifier) {
  if (!IsValidNoteText(note)) {
    return Malformed("not UTF-8 text without control characters");
  }
  // The signature block follows the last blank line.
  const size_t split = note.rfind("\n\n");
  if (split == absl::string_view::npos) return Malformed("no blank line before the signatures");
  const absl::string_view text = note.substr(0, split + 1);
  absl::string_view signatures = note.substr(split + 2);
  if (signatures.empty()) return Malformed("no signature lines");
  if (signatures.back() != '\n') return Malformed("signature block does not end in a newline");
  signatures.remove_suffix(1);

  bool verified = false;
  int count = 0;
  std::set<std::pair<std::string, std::string>> seen;  // (name, key hash) already checked
  for (absl::string_view line : absl::StrSplit(signatures, '\n')) {
    if (++count > kMaxSignatures) return Malformed("too many signatures");
    if (!absl::ConsumePrefix(&line, kSignaturePrefix)) {
      return Malformed("signature line does not start with an em dash and a space");
    }
    const size_t space = line.find(' ');
    if (space == absl::string_view::npos) return Malformed("signature line has no signature");
    const absl::string_view name = line.substr(0, space);
    const absl::string_view encoded = line.substr(space + 1);
    if (!IsValidNoteName(name)) return Malformed(absl::StrCat("invalid signer name \"", name, "\""));
    absl::StatusOr<std::string> blob = Base64Decode(encoded);
    if (encoded.empty() || !blob.ok() || blob->size() <= kKeyHashBytes) {
      return Malformed(absl::StrCat("signature by \"", name, "\" is not base64 of hash and signature"));
    }
    const std::string key_hash = blob->substr(0, kKeyHashBytes);
    // Signatures by other keys are someone else's business (witnesses, cosigners).
    if (name != verifier.name || key_hash != verifier.key_hash) continue;
    if (!seen.insert({std::string(name), key_hash}).second) continue;
    if (!Ed25519Verify(verifier.public_key, text, blob->substr(kKeyHashBytes))) {
      return absl::UnauthenticatedError(
          absl::StrCat("note signature by \"", verifier.name, "\" does not verify"));
    }
    verified = true;
  }
  if (!verified) {
    return absl::UnauthenticatedError(
        absl::StrCat("note carries no signature by \"", verifier.name, "\""));
  }
  return std::string(text);
}

}  // namespace fedrelay::store
