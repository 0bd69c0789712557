#include "store/note.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "base/crypto.h"
#include "base/encoding.h"

namespace fedrelay::store {
namespace {

constexpr absl::string_view kOrigin = "relay.example/log";
constexpr absl::string_view kEmDash = "\xe2\x80\x94";

std::string ReadVector(const std::string& name) {
  std::ifstream in(std::string(FEDRELAY_SOURCE_DIR "/tests/vectors/") + name,
                   std::ios::binary);
  EXPECT_TRUE(in) << "missing tests/vectors/" << name;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

nlohmann::json ReadJsonVector(const std::string& name) {
  return nlohmann::json::parse(ReadVector(name));
}

Ed25519PrivateKey TestKey(const std::string& name) {
  const nlohmann::json keys = ReadJsonVector("signing.json").at("keys");
  const std::string seed =
      HexDecode(keys.at(name).at("seed_hex").get<std::string>(), "seed", kEd25519SeedBytes).value();
  return Ed25519PrivateKey::FromSeed(seed).value();
}

NoteVerifier VerifierFor(absl::string_view name, const Ed25519PrivateKey& key) {
  return ParseVerifierKey(FormatVerifierKey(name, key.PublicKey())).value();
}

std::string Size13Root() {
  const nlohmann::json vectors = ReadJsonVector("merkle.json");
  for (const auto& root : vectors.at("roots")) {
    if (root.at("size").get<uint64_t>() == 13) {
      return HexDecode(root.at("root_hex").get<std::string>(), "root", 32).value();
    }
  }
  ADD_FAILURE() << "merkle.json has no size-13 root";
  return "";
}

class NoteTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(InitCrypto().ok()); }
};

// ---- The shared vectors. ----

TEST_F(NoteTest, OpensSharedCheckpointWithSharedVerifierKey) {
  const std::string vkey(absl::StripAsciiWhitespace(ReadVector("checkpoint.vkey")));
  absl::StatusOr<NoteVerifier> verifier = ParseVerifierKey(vkey);
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  EXPECT_EQ(verifier->name, kOrigin);

  absl::StatusOr<std::string> body = OpenNote(ReadVector("checkpoint.note"), *verifier);
  ASSERT_TRUE(body.ok()) << body.status();
  absl::StatusOr<CheckpointBody> checkpoint = ParseCheckpointBody(*body);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_EQ(checkpoint->origin, kOrigin);
  EXPECT_EQ(checkpoint->tree_size, 13u);
  EXPECT_EQ(checkpoint->root_hash, Size13Root());
}

TEST_F(NoteTest, RelayTestKeyReproducesSharedVerifierKey) {
  const Ed25519PrivateKey relay = TestKey("relay");
  const std::string vkey(absl::StripAsciiWhitespace(ReadVector("checkpoint.vkey")));
  EXPECT_EQ(FormatVerifierKey(kOrigin, relay.PublicKey()), vkey);
  EXPECT_EQ(HexEncode(NoteKeyHash(kOrigin, relay.PublicKey())), vkey.substr(kOrigin.size() + 1, 8));
}

TEST_F(NoteTest, SigningSharedCheckpointReproducesSharedNote) {
  // Ed25519 is deterministic, so our signer must produce the vector byte for byte.
  const CheckpointBody checkpoint{std::string(kOrigin), 13, Size13Root()};
  EXPECT_EQ(SignNote(FormatCheckpointBody(checkpoint), kOrigin, TestKey("relay")),
            ReadVector("checkpoint.note"));
}

// ---- Round trips and rejection. ----

TEST_F(NoteTest, SignThenOpenRoundTrip) {
  const Ed25519PrivateKey key = Ed25519PrivateKey::Generate();
  const std::string body = "example.org/log\n42\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
  const std::string note = SignNote(body, "example.org/log", key);
  EXPECT_TRUE(note.starts_with(body + "\n" + std::string(kEmDash) + " example.org/log "));
  absl::StatusOr<std::string> opened = OpenNote(note, VerifierFor("example.org/log", key));
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(*opened, body);
}

TEST_F(NoteTest, BodiesWithBlankLinesAndUnicodeRoundTrip) {
  const Ed25519PrivateKey key = Ed25519PrivateKey::Generate();
  const NoteVerifier verifier = VerifierFor("n", key);
  for (const std::string body : {"a\n", "\n", "a\n\nb\n", "a\n\n", "caf\xc3\xa9 \xe2\x80\x94 x\n"}) {
    absl::StatusOr<std::string> opened = OpenNote(SignNote(body, "n", key), verifier);
    ASSERT_TRUE(opened.ok()) << opened.status() << " body " << body;
    EXPECT_EQ(*opened, body);
  }
}

TEST_F(NoteTest, TamperedBodyIsUnauthenticated) {
  const Ed25519PrivateKey key = TestKey("relay");
  const std::string note = ReadVector("checkpoint.note");
  const NoteVerifier verifier = VerifierFor(kOrigin, key);
  ASSERT_TRUE(OpenNote(note, verifier).ok());
  std::string tampered = note;
  tampered.replace(tampered.find("\n13\n"), 4, "\n14\n");
  EXPECT_EQ(OpenNote(tampered, verifier).status().code(), absl::StatusCode::kUnauthenticated);
  // An extension line slipped in before the blank line changes the signed text.
  tampered = note;
  tampered.insert(tampered.find("\n\n") + 1, "extra\n");
  EXPECT_EQ(OpenNote(tampered, verifier).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(NoteTest, TamperedSignatureIsUnauthenticated) {
  const Ed25519PrivateKey key = Ed25519PrivateKey::Generate();
  const NoteVerifier verifier = VerifierFor("n", key);
  const std::string body = "hello\n";
  const std::string note = SignNote(body, "n", key);
  const size_t sig_start = note.rfind(' ') + 1;
  std::string blob = Base64Decode(note.substr(sig_start, note.size() - sig_start - 1)).value();
  for (size_t i = 4; i < blob.size(); i += 7) {
    std::string bad_blob = blob;
    bad_blob[i] ^= 0x04;
    const std::string bad = absl::StrCat(note.substr(0, sig_start), Base64Encode(bad_blob), "\n");
    EXPECT_EQ(OpenNote(bad, verifier).status().code(), absl::StatusCode::kUnauthenticated)
        << "byte " << i;
  }
  // A truncated signature under the right key hash is a bad signature, not an absent one.
  const std::string short_sig =
      absl::StrCat(note.substr(0, sig_start), Base64Encode(blob.substr(0, 40)), "\n");
  EXPECT_EQ(OpenNote(short_sig, verifier).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(NoteTest, WrongKeyIsUnauthenticated) {
  const Ed25519PrivateKey key = Ed25519PrivateKey::Generate();
  const Ed25519PrivateKey other = Ed25519PrivateKey::Generate();
  const std::string note = SignNote("hello\n", "n", key);
  // Same name, another key: its key hash differs, so there is no signature by it.
  EXPECT_EQ(OpenNote(note, VerifierFor("n", other)).status().code(),
            absl::StatusCode::kUnauthenticated);
  // Same key under another name.
  EXPECT_EQ(OpenNote(note, VerifierFor("m", key)).status().code(),
            absl::StatusCode::kUnauthenticated);
  // A verifier claiming the signer's key hash but holding another key.
  NoteVerifier impostor = VerifierFor("n", other);
  impostor.key_hash = NoteKeyHash("n", key.PublicKey());
  EXPECT_EQ(OpenNote(note, impostor).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(NoteTest, SignaturesFromOtherKeysAreIgnored) {
  const Ed25519PrivateKey key = Ed25519PrivateKey::Generate();
  const Ed25519PrivateKey witness = Ed25519PrivateKey::Generate();
  const NoteVerifier verifier = VerifierFor("n", key);
  const std::string body = "hello\n";
  const std::string ours = SignNote(body, "n", key);
  const std::string ours_line = ours.substr(body.size() + 1);
  const std::string theirs = SignNote(body, "witness", witness);
  const std::string their_line = theirs.substr(body.size() + 1);
  // A garbage signature under an unknown name, and one under our name but
  // another key hash (a rotated key), are not ours to judge.
  const std::string garbage_line =
      absl::StrCat(kEmDash, " someone ", Base64Encode(std::string(70, 'x')), "\n");
  const std::string rotated_line =
      absl::StrCat(kEmDash, " n ", Base64Encode(std::string("abcd") + std::string(64, 'y')), "\n");

  for (const std::string& sigs :
       {their_line + ours_line, ours_line + their_line, garbage_line + ours_line + rotated_line,
        ours_line + ours_line}) {
    absl::StatusOr<std::string> opened = OpenNote(body + "\n" + sigs, verifier);
    ASSERT_TRUE(opened.ok()) << opened.status() << "\n" << sigs;
    EXPECT_EQ(*opened, body);
  }
  // Only others' signatures: nothing by our verifier.
  EXPECT_EQ(OpenNote(body + "\n" + their_line + garbage_line, verifier).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(NoteTest, MalformedNotesAreInvalidArgument) {
  const Ed25519PrivateKey key = Ed25519PrivateKey::Generate();
  const NoteVerifier verifier = VerifierFor("n", key);
  const std::string body = "hello\n";
  const std::string note = SignNote(body, "n", key);
  const std::string sig_line = note.substr(body.size() + 1);  // "— n <b64>\n"
  const std::string sig_b64 = sig_line.substr(sig_line.rfind(' ') + 1, sig_line.size() - sig_line.rfind(' ') - 2);
  ASSERT_TRUE(OpenNote(note, verifier).ok());

  const std::vector<std::pair<std::string, std::string>> cases = {
      {"missing blank line", body + sig_line},
      {"not newline-terminated", note.substr(0, note.size() - 1)},
      {"body not ending in newline", "hello" + ("\n" + sig_line)},
      {"no signature lines", body + "\n"},
      {"empty", ""},
      {"hyphen instead of em dash", body + "\n- n " + sig_b64 + "\n"},
      {"no space after em dash", body + "\n" + std::string(kEmDash) + "n " + sig_b64 + "\n"},
      {"no signature", body + "\n" + std::string(kEmDash) + " n\n"},
      {"empty signature", body + "\n" + std::string(kEmDash) + " n \n"},
      {"empty name", body + "\n" + std::string(kEmDash) + "  " + sig_b64 + "\n"},
      {"name with plus", body + "\n" + std::string(kEmDash) + " n+1 " + sig_b64 + "\n"},
      {"not base64", body + "\n" + std::string(kEmDash) + " n !!!!\n"},
      {"unpadded base64", body + "\n" + std::string(kEmDash) + " n " +
                              sig_b64.substr(0, sig_b64.find('=')) + "\n"},
      {"blob of only a key hash", body + "\n" + std::string(kEmDash) + " n " +
                                      Base64Encode("abcd") + "\n"},
      {"control character", "hel\x01lo\n\n" + sig_line},
      {"carriage return", "hello\r\n\n" + sig_line},
      {"invalid UTF-8", "hel\xfflo\n\n" + sig_line},
      {"overlong UTF-8", "hel\xc0\xafo\n\n" + sig_line},
      {"truncated UTF-8", "hel\xe2\x80\n\n" + sig_line},
  };
  for (const auto& [what, text] : cases) {
    EXPECT_EQ(OpenNote(text, verifier).status().code(), absl::StatusCode::kInvalidArgument)
        << what;
  }
  // A blank line among the signatures makes the earlier ones part of the text,
  // which the signature then does not cover.
  EXPECT_FALSE(OpenNote(body + "\n" + sig_line + "\n" + sig_line, verifier).ok());
}

TEST_F(NoteTest, TooManySignaturesAreRejected) {
  const Ed25519PrivateKey key = Ed25519PrivateKey::Generate();
  const NoteVerifier verifier = VerifierFor("n", key);
  const std::string note = SignNote("hello\n", "n", key);
  std::string other_line =
      absl::StrCat(kEmDash, " other ", Base64Encode(std::string(68, 'z')), "\n");
  std::string many = note;
  for (int i = 0; i < 99; ++i) many += other_line;
  EXPECT_TRUE(OpenNote(many, verifier).ok());  // 100 signatures
  many += other_line;
  EXPECT_EQ(OpenNote(many, verifier).status().code(), absl::StatusCode::kInvalidArgument);
}

// ---- Verifier keys. ----

TEST_F(NoteTest, VerifierKeyRoundTrip) {
  const Ed25519PrivateKey key = Ed25519PrivateKey::Generate();
  const std::string vkey = FormatVerifierKey("example.com/a", key.PublicKey());
  absl::StatusOr<NoteVerifier> verifier = ParseVerifierKey(vkey);
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  EXPECT_EQ(verifier->name, "example.com/a");
  EXPECT_EQ(verifier->public_key, key.PublicKey());
  EXPECT_EQ(verifier->key_hash, NoteKeyHash("example.com/a", key.PublicKey()));
  EXPECT_EQ(verifier->key_hash.size(), 4u);
  // The key hash commits to the name and the algorithm byte.
  std::string expected_input = "example.com/a\n\x01" + key.PublicKey();
  EXPECT_EQ(verifier->key_hash, Sha256(expected_input).substr(0, 4));
  EXPECT_NE(NoteKeyHash("example.com/b", key.PublicKey()), verifier->key_hash);
}

TEST_F(NoteTest, VerifierKeyWhoseBase64HoldsPlus) {
  // The base64 alphabet includes '+', the field separator: find such a key.
  for (int i = 0;; ++i) {
    ASSERT_LT(i, 1000);
    const Ed25519PrivateKey key = Ed25519PrivateKey::FromSeed(Sha256(absl::StrCat("k", i))).value();
    const std::string vkey = FormatVerifierKey("n", key.PublicKey());
    if (std::count(vkey.begin(), vkey.end(), '+') < 3) continue;
    absl::StatusOr<NoteVerifier> verifier = ParseVerifierKey(vkey);
    ASSERT_TRUE(verifier.ok()) << verifier.status() << " " << vkey;
    EXPECT_EQ(verifier->public_key, key.PublicKey());
    EXPECT_TRUE(OpenNote(SignNote("x\n", "n", key), *verifier).ok());
    break;
  }
}

TEST_F(NoteTest, ParseVerifierKeyRejectsMalformedKeys) {
  const std::string vkey(absl::StripAsciiWhitespace(ReadVector("checkpoint.vkey")));
  ASSERT_TRUE(ParseVerifierKey(vkey).ok());
  const size_t first_plus = vkey.find('+');
  const size_t second_plus = vkey.find('+', first_plus + 1);
  const std::string name = vkey.substr(0, first_plus);
  const std::string hash = vkey.substr(first_plus + 1, second_plus - first_plus - 1);
  const std::string key_b64 = vkey.substr(second_plus + 1);
  const std::string raw_key = Base64Decode(key_b64).value();

  std::string wrong_hash = hash;
  wrong_hash[0] = wrong_hash[0] == '0' ? '1' : '0';
  std::string wrong_alg = raw_key;
  wrong_alg[0] = '\x02';

  const std::vector<std::pair<std::string, std::string>> cases = {
      {"empty", ""},
      {"two parts", name + "+" + hash},
      {"junk after the key", vkey + "+x"},
      {"empty name", "+" + hash + "+" + key_b64},
      {"name with space", "relay example+" + hash + "+" + key_b64},
      {"uppercase hash", name + "+" + absl::AsciiStrToUpper(hash) + "+" + key_b64},
      {"short hash", name + "+" + hash.substr(0, 6) + "+" + key_b64},
      {"hash mismatch", name + "+" + wrong_hash + "+" + key_b64},
      {"other name, same hash", "relay.example/other+" + hash + "+" + key_b64},
      {"not base64", name + "+" + hash + "+" + "@@@@"},
      {"unknown algorithm", name + "+" + hash + "+" + Base64Encode(wrong_alg)},
      {"short key", name + "+" + hash + "+" + Base64Encode(raw_key.substr(0, 32))},
      {"long key", name + "+" + hash + "+" + Base64Encode(raw_key + "x")},
      {"trailing newline", vkey + "\n"},
  };
  for (const auto& [what, text] : cases) {
    EXPECT_EQ(ParseVerifierKey(text).status().code(), absl::StatusCode::kInvalidArgument) << what;
  }
}

TEST(NoteNameTest, ValidNames) {
  EXPECT_TRUE(IsValidNoteName("relay.example/log"));
  EXPECT_TRUE(IsValidNoteName("caf\xc3\xa9"));
  EXPECT_FALSE(IsValidNoteName(""));
  EXPECT_FALSE(IsValidNoteName("a b"));
  EXPECT_FALSE(IsValidNoteName("a+b"));
  EXPECT_FALSE(IsValidNoteName("a\tb"));
  EXPECT_FALSE(IsValidNoteName("a\nb"));
  EXPECT_FALSE(IsValidNoteName("a\xc2\xa0" "b"));  // U+00A0 no-break space
  EXPECT_FALSE(IsValidNoteName("a\xe3\x80\x80" "b"));  // U+3000 ideographic space
  EXPECT_FALSE(IsValidNoteName("a\xff"));
}

// ---- Checkpoint bodies. ----

TEST(CheckpointBodyTest, FormatThenParseRoundTrip) {
  const std::string root = Sha256("root");
  for (uint64_t size : {uint64_t{0}, uint64_t{1}, uint64_t{13}, UINT64_MAX}) {
    const CheckpointBody checkpoint{"example.org/log", size, root};
    const std::string body = FormatCheckpointBody(checkpoint);
    EXPECT_EQ(body, absl::StrCat("example.org/log\n", size, "\n", Base64Encode(root), "\n"));
    absl::StatusOr<CheckpointBody> parsed = ParseCheckpointBody(body);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(parsed->origin, checkpoint.origin);
    EXPECT_EQ(parsed->tree_size, size);
    EXPECT_EQ(parsed->root_hash, root);
  }
}

TEST(CheckpointBodyTest, ExtensionLinesAreIgnored) {
  const std::string root_b64 = Base64Encode(Sha256("root"));
  absl::StatusOr<CheckpointBody> parsed =
      ParseCheckpointBody("o\n7\n" + root_b64 + "\n\xe2\x80\x94 ext one\nsecond ext\n");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->origin, "o");
  EXPECT_EQ(parsed->tree_size, 7u);
}

TEST(CheckpointBodyTest, RejectsMalformedBodies) {
  const std::string root_b64 = Base64Encode(Sha256("root"));
  const auto body = [&](absl::string_view size, absl::string_view root = "") {
    return absl::StrCat("o\n", size, "\n", root.empty() ? root_b64 : root, "\n");
  };
  ASSERT_TRUE(ParseCheckpointBody(body("7")).ok());
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"empty", ""},
      {"no trailing newline", body("7").substr(0, body("7").size() - 1)},
      {"two lines", "o\n7\n"},
      {"empty origin", "\n7\n" + root_b64 + "\n"},
      {"empty extension line", body("7") + "\n"},
      {"leading zero", body("07")},
      {"plus sign", body("+7")},
      {"minus sign", body("-7")},
      {"space", body(" 7")},
      {"hex", body("0x7")},
      {"empty size", body("")},
      {"overflow", body("18446744073709551616")},
      {"short root", body("7", Base64Encode(std::string(31, 'r')))},
      {"long root", body("7", Base64Encode(std::string(33, 'r')))},
      {"unpadded root", body("7", root_b64.substr(0, root_b64.size() - 1))},
      {"CRLF", "o\r\n7\r\n" + root_b64 + "\r\n"},
  };
  for (const auto& [what, text] : cases) {
    EXPECT_EQ(ParseCheckpointBody(text).status().code(), absl::StatusCode::kInvalidArgument)
        << what;
  }
  absl::StatusOr<CheckpointBody> max = ParseCheckpointBody(body("18446744073709551615"));
  ASSERT_TRUE(max.ok());
  EXPECT_EQ(max->tree_size, UINT64_MAX);
}

}  // namespace
}  // namespace fedrelay::store
