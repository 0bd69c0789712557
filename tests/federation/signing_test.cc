// Canonical signing bytes and strict verification against
// tests/vectors/signing.json (SPEC section 2): every vector must be
// reproduced byte for byte from the proto messages the relay actually receives.
#include "federation/signing.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "absl/strings/ascii.h"
#include "base/encoding.h"
#include "base/errors.h"
#include "federation/signing_vectors_util.h"

namespace fedrelay::federation {
namespace {

using nlohmann::json;
using test_vectors::SigningVectors;
using test_vectors::Unhex;
using test_vectors::VectorKey;

// Reads a vector's fields by name and remembers which ones were used, so a
// vector field the per-tag function ignores is caught.
class FieldReader {
 public:
  explicit FieldReader(const json& fields) {
    for (const auto& field : fields) values_[field.at("name").get<std::string>()] = field;
  }

  std::string Str(const std::string& name) { return Get(name).get<std::string>(); }
  uint64_t U64(const std::string& name) { return Get(name).get<uint64_t>(); }
  // Fields the spec encodes as bytes are given as hex of the raw bytes.
  std::string Raw(const std::string& name) {
    const json& field = values_.at(name);
    EXPECT_TRUE(field.contains("value_encoding")) << name << " is not marked as raw bytes";
    return Unhex(Get(name).get<std::string>());
  }

  std::set<std::string> Unused() const {
    std::set<std::string> unused;
    for (const auto& [name, field] : values_) {
      if (used_.count(name) == 0) unused.insert(name);
    }
    return unused;
  }

 private:
  const json& Get(const std::string& name) {
    used_.insert(name);
    const auto it = values_.find(name);
    if (it == values_.end()) {
      ADD_FAILURE() << "vector has no field " << name;
      static const json kNull;
      return kNull;
    }
    return it->second.at("value");
  }

  std::map<std::string, json> values_;
  std::set<std::string> used_;
};

// A vector rebuilt through the proto message and the per-tag function.
struct Rebuilt {
  std::string signing_bytes;
  // The signature the Sign* helper of this kind put into the message, as hex.
  std::string signature_hex;
};

Rebuilt Rebuild(const std::string& tag, FieldReader& f, const Ed25519PrivateKey& key) {
  Rebuilt out;
  if (tag == kTagDeviceCert) {
    v1::DeviceCert cert;
    cert.set_pubkey(f.Str("pubkey"));
    cert.set_device_id(f.Str("device_id"));
    cert.set_issued_at(f.U64("issued_at"));
    cert.set_expiry(f.U64("expiry"));
    out.signing_bytes = DeviceCertSigningBytes(cert);
    SignDeviceCert(&cert, key);
    out.signature_hex = cert.signature();
  } else if (tag == kTagFederationRequest) {
    v1::FederationRequest request;
    request.set_origin_server_id(f.Str("origin_server_id"));
    request.set_origin_server_pubkey(f.Str("origin_server_pubkey"));
    request.set_user_pubkey(f.Str("user_pubkey"));
    request.set_user_display_name(f.Str("user_display_name"));
    request.set_guild_id(f.Str("guild_id"));
    request.set_timestamp(f.U64("timestamp"));
    out.signing_bytes = FederationRequestSigningBytes(request);
    SignFederationRequest(&request, key);
    out.signature_hex = HexEncode(request.signature());
  } else if (tag == kTagBanNotification) {
    v1::BanNotification ban;
    ban.set_origin_server_id(f.Str("origin_server_id"));
    ban.set_banned_user_pubkey(f.Str("banned_user_pubkey"));
    ban.set_guild_id(f.Str("guild_id"));
    ban.set_reason(f.Str("reason"));
    ban.set_evidence_hash(f.Str("evidence_hash"));
    ban.set_timestamp(f.U64("timestamp"));
    out.signing_bytes = BanNotificationSigningBytes(ban);
    SignBanNotification(&ban, key);
    out.signature_hex = HexEncode(ban.signature());
  } else if (tag == kTagDMInvite) {
    // As the relay logs it: token cleared, token_sha256 set.
    v1::DMInvite invite;
    invite.set_token_sha256(f.Raw("token_sha256"));
    invite.set_invite_id(f.Str("invite_id"));
    invite.set_inviter_id(f.Str("inviter_id"));
    invite.set_guild_id(f.Str("guild_id"));
    invite.set_guild_name(f.Str("guild_name"));
    invite.set_host_server_url(f.Str("host_server_url"));
    invite.set_timestamp(f.U64("timestamp"));
    invite.set_inviter_pubkey(f.Str("inviter_pubkey"));
    invite.set_target_user_id(f.Str("target_user_id"));
    invite.set_status("pending");  // not signed
    out.signing_bytes = DMInviteSigningBytes(invite, invite.token_sha256());
    SignDMInvite(&invite, key);
    out.signature_hex = HexEncode(invite.signature());
  } else if (tag == kTagDMInviteResponse) {
    const std::string invite_id = f.Str("invite_id");
    const std::string decision = f.Str("decision");
    const uint64_t timestamp = f.U64("timestamp");
    out.signing_bytes = DMInviteResponseSigningBytes(invite_id, decision, timestamp);
    // The request messages imply their decision; they must sign the same bytes.
    if (decision == kDecisionAccepted) {
      v1::AcceptDMInviteRequest request;
      request.set_invite_id(invite_id);
      request.set_timestamp(timestamp);
      EXPECT_EQ(HexEncode(DMInviteResponseSigningBytes(request)), HexEncode(out.signing_bytes));
      SignDMDecision(&request, key);
      out.signature_hex = HexEncode(request.signature());
    } else if (decision == kDecisionRejected) {
      v1::RejectDMInviteRequest request;
      request.set_invite_id(invite_id);
      request.set_timestamp(timestamp);
      EXPECT_EQ(HexEncode(DMInviteResponseSigningBytes(request)), HexEncode(out.signing_bytes));
      SignDMDecision(&request, key);
      out.signature_hex = HexEncode(request.signature());
    } else {
      out.signature_hex = HexEncode(key.Sign(out.signing_bytes));
    }
  } else if (tag == kTagUpdateHomeServer) {
    v1::UpdateHomeServerRequest request;
    request.set_user_id(f.Str("user_id"));
    request.set_new_homeserver(f.Str("new_homeserver"));
    request.set_timestamp(f.U64("timestamp"));
    out.signing_bytes = UpdateHomeServerSigningBytes(request);
    SignMigration(&request, key);
    out.signature_hex = request.signature();
  } else if (tag == kTagFederatedProfile) {
    v1::UpdateFederatedProfileRequest request;
    request.set_user_id(f.Str("user_id"));
    request.set_display_name(f.Str("display_name"));
    request.set_avatar_url(f.Str("avatar_url"));
    request.set_bio(f.Str("bio"));
    request.set_timestamp(f.U64("timestamp"));
    out.signing_bytes = FederatedProfileSigningBytes(request);
    SignProfile(&request, key);
    out.signature_hex = HexEncode(request.signature());
  } else if (tag == kTagMemberSession) {
    const std::string user_id = f.Str("user_id");
    const std::string device_id = f.Str("device_id");
    const uint64_t timestamp = f.U64("timestamp");
    out.signing_bytes = MemberSessionSigningBytes(user_id, device_id, timestamp);
    out.signature_hex = MakeMemberSessionSignatureHex(user_id, device_id, timestamp, key);
  } else if (tag == kTagCall) {
    const std::string origin = f.Str("origin_server_id");
    const std::string destination = f.Str("destination_server_id");
    const std::string method = f.Str("method");
    const uint64_t timestamp = f.U64("timestamp");
    out.signing_bytes = CallSigningBytes(origin, destination, method, timestamp);
    out.signature_hex = MakeCallSignatureHex(origin, destination, method, timestamp, key);
  } else if (tag == kTagReceipt) {
    v1::RelayReceipt receipt;
    receipt.set_event_id(f.U64("event_id"));
    receipt.set_leaf_hash(f.Raw("leaf_hash"));
    receipt.set_timestamp(f.U64("timestamp"));
    out.signing_bytes = ReceiptSigningBytes(receipt);
    EXPECT_EQ(out.signing_bytes,
              ReceiptSigningBytes(receipt.event_id(), receipt.leaf_hash(), receipt.timestamp()));
    SignReceipt(&receipt, key);
    out.signature_hex = HexEncode(receipt.signature());
  } else {
    ADD_FAILURE() << "vector tag " << tag << " has no signing function";
  }
  return out;
}

// The same bytes built generically from the vector's field list, a deliberately
// dumb reference for SigningBytesBuilder itself.
std::string ReferenceSigningBytes(const json& vector) {
  SigningBytesBuilder builder(vector.at("tag").get<std::string>());
  for (const auto& field : vector.at("fields")) {
    const json& value = field.at("value");
    if (value.is_number_unsigned()) {
      builder.AddU64(value.get<uint64_t>());
    } else if (field.contains("value_encoding")) {
      builder.AddBytes(Unhex(value.get<std::string>()));
    } else {
      builder.AddString(value.get<std::string>());
    }
  }
  return builder.bytes();
}

// Changes one field value: flips the low bit of an integer or of a byte of a
// string (the decoded bytes for raw fields); an empty string gains a byte.
json MutateField(const json& field) {
  json mutated = field;
  json& value = mutated["value"];
  if (value.is_number_unsigned()) {
    value = value.get<uint64_t>() ^ 1;
  } else if (field.contains("value_encoding")) {
    std::string raw = Unhex(value.get<std::string>());
    raw[0] ^= 0x01;
    value = HexEncode(raw);
  } else {
    std::string text = value.get<std::string>();
    if (text.empty()) {
      text = "x";
    } else {
      text.back() ^= 0x01;
    }
    value = text;
  }
  return mutated;
}

std::string Upper(absl::string_view text) { return absl::AsciiStrToUpper(text); }

class SigningTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(InitCrypto().ok()); }
};

TEST_F(SigningTest, VectorFileCoversEveryTagOfTheSpec) {
  std::set<std::string> tags;
  for (const auto& vector : SigningVectors().at("vectors")) tags.insert(vector.at("tag"));
  EXPECT_THAT(tags,
              ::testing::IsSupersetOf({"DeviceCert", "FederationRequest", "BanNotification",
                                       "DMInvite", "DMInviteResponse", "UpdateHomeServer",
                                       "FederatedProfile", "MemberSession", "Call", "Receipt"}));
}

TEST_F(SigningTest, VectorKeysDeriveFromTheirSeeds) {
  for (const auto& [name, key] : SigningVectors().at("keys").items()) {
    EXPECT_EQ(VectorKey(name).PublicKeyHex(), key.at("pubkey_hex").get<std::string>()) << name;
  }
}

TEST_F(SigningTest, EveryVectorIsReproducedByteForByte) {
  for (const auto& vector : SigningVectors().at("vectors")) {
    const std::string name = vector.at("name");
    SCOPED_TRACE(name);
    const std::string tag = vector.at("tag");
    const Ed25519PrivateKey key = VectorKey(vector.at("signer"));
    ASSERT_EQ(key.PublicKeyHex(), vector.at("signer_pubkey").get<std::string>());
    const std::string expected_bytes_hex = vector.at("signing_bytes_hex");
    const std::string signature_hex = vector.at("signature_hex");

    FieldReader fields(vector.at("fields"));
    const Rebuilt rebuilt = Rebuild(tag, fields, key);
    EXPECT_THAT(fields.Unused(), ::testing::IsEmpty()) << "fields the per-tag function ignores";

    EXPECT_EQ(HexEncode(rebuilt.signing_bytes), expected_bytes_hex);
    EXPECT_EQ(HexEncode(ReferenceSigningBytes(vector)), expected_bytes_hex);

    // The published signature verifies under the signer's public key, parsed strictly.
    auto public_key = ParsePublicKeyHex(vector.at("signer_pubkey").get<std::string>(), "signer");
    ASSERT_TRUE(public_key.ok()) << public_key.status();
    auto signature = ParseSignatureHex(signature_hex, "signature_hex");
    ASSERT_TRUE(signature.ok()) << signature.status();
    EXPECT_TRUE(VerifyOrReject(*public_key, rebuilt.signing_bytes, *signature, name).ok());

    // Ed25519 is deterministic: the Sign* helper reproduces the signature.
    EXPECT_EQ(rebuilt.signature_hex, signature_hex);
  }
}

TEST_F(SigningTest, DMInviteSignatureCoversTheTokenHash) {
  for (const auto& vector : SigningVectors().at("vectors")) {
    if (vector.at("tag").get<std::string>() != kTagDMInvite) continue;
    SCOPED_TRACE(vector.at("name").get<std::string>());
    FieldReader fields(vector.at("fields"));
    const Ed25519PrivateKey key = VectorKey(vector.at("signer"));
    v1::DMInvite logged;
    logged.set_token_sha256(fields.Raw("token_sha256"));
    logged.set_invite_id(fields.Str("invite_id"));
    logged.set_inviter_id(fields.Str("inviter_id"));
    logged.set_guild_id(fields.Str("guild_id"));
    logged.set_guild_name(fields.Str("guild_name"));
    logged.set_host_server_url(fields.Str("host_server_url"));
    logged.set_timestamp(fields.U64("timestamp"));
    logged.set_inviter_pubkey(fields.Str("inviter_pubkey"));
    logged.set_target_user_id(fields.Str("target_user_id"));

    // A logged invite (token cleared) yields its stored hash.
    auto from_log = DMInviteTokenSha256(logged);
    ASSERT_TRUE(from_log.ok()) << from_log.status();
    EXPECT_EQ(*from_log, logged.token_sha256());

    // The sender's invite carries the token; signing it hashes the token, so the
    // same signature verifies from the logged form. Any token works for this.
    v1::DMInvite sent = logged;
    sent.clear_token_sha256();
    sent.set_token("a token chosen by this test");
    SignDMInvite(&sent, key);
    auto hash = DMInviteTokenSha256(sent);
    ASSERT_TRUE(hash.ok()) << hash.status();
    EXPECT_EQ(*hash, Sha256(sent.token()));
    v1::DMInvite relogged = sent;
    relogged.clear_token();
    relogged.set_token_sha256(*hash);
    EXPECT_TRUE(VerifyOrReject(key.PublicKey(), DMInviteSigningBytes(relogged, *hash),
                               sent.signature(), "logged invite")
                    .ok());

    // A token that disagrees with a present token_sha256 is malformed.
    v1::DMInvite inconsistent = sent;
    inconsistent.set_token_sha256(logged.token_sha256());
    EXPECT_EQ(MachineCode(DMInviteTokenSha256(inconsistent).status()), "malformed");
    // Neither a token nor a 32-byte hash is malformed.
    v1::DMInvite neither = logged;
    neither.set_token_sha256(logged.token_sha256().substr(0, 31));
    EXPECT_EQ(MachineCode(DMInviteTokenSha256(neither).status()), "malformed");
    neither.clear_token_sha256();
    EXPECT_EQ(MachineCode(DMInviteTokenSha256(neither).status()), "malformed");
  }
}

TEST_F(SigningTest, AFlippedBitInAnyFieldBreaksVerification) {
  for (const auto& vector : SigningVectors().at("vectors")) {
    const std::string name = vector.at("name");
    const std::string tag = vector.at("tag");
    const Ed25519PrivateKey key = VectorKey(vector.at("signer"));
    const std::string signature = Unhex(vector.at("signature_hex"));
    const json& fields = vector.at("fields");
    for (size_t i = 0; i < fields.size(); ++i) {
      SCOPED_TRACE(name + " / " + fields[i].at("name").get<std::string>());
      json mutated = fields;
      mutated[i] = MutateField(fields[i]);
      FieldReader reader(mutated);
      const Rebuilt rebuilt = Rebuild(tag, reader, key);
      const absl::Status status =
          VerifyOrReject(key.PublicKey(), rebuilt.signing_bytes, signature, name);
      EXPECT_EQ(MachineCode(status), "bad_signature") << status;
    }
  }
}

TEST_F(SigningTest, AFlippedBitInTheSignatureOrKeyBreaksVerification) {
  for (const auto& vector : SigningVectors().at("vectors")) {
    SCOPED_TRACE(vector.at("name").get<std::string>());
    const std::string message = Unhex(vector.at("signing_bytes_hex"));
    const std::string signature = Unhex(vector.at("signature_hex"));
    const std::string public_key = Unhex(vector.at("signer_pubkey"));
    ASSERT_TRUE(VerifyOrReject(public_key, message, signature, "vector").ok());
    for (size_t i = 0; i < signature.size(); i += 7) {
      std::string bad = signature;
      bad[i] ^= 0x04;
      EXPECT_EQ(MachineCode(VerifyOrReject(public_key, message, bad, "vector")), "bad_signature");
    }
    std::string other_key = public_key;
    other_key[5] ^= 0x01;
    EXPECT_FALSE(VerifyOrReject(other_key, message, signature, "vector").ok());
    std::string other_message = message;
    other_message.push_back('\0');
    EXPECT_EQ(MachineCode(VerifyOrReject(public_key, other_message, signature, "vector")),
              "bad_signature");
  }
}

TEST_F(SigningTest, LengthPrefixesKeepFieldBoundaries) {
  // Moving a byte across a field boundary must change the signed bytes.
  EXPECT_NE(SigningBytesBuilder("T").AddString("ab").AddString("c").bytes(),
            SigningBytesBuilder("T").AddString("a").AddString("bc").bytes());
  // The tag is terminated, so a tag cannot absorb the start of a field.
  EXPECT_NE(SigningBytesBuilder("Ab").AddString("").bytes(),
            SigningBytesBuilder("A").AddString("b").bytes());
  // Different tags over the same fields differ (no cross-kind signature reuse).
  v1::AcceptDMInviteRequest accept;
  accept.set_invite_id("i");
  accept.set_timestamp(1);
  v1::RejectDMInviteRequest reject;
  reject.set_invite_id("i");
  reject.set_timestamp(1);
  EXPECT_NE(DMInviteResponseSigningBytes(accept), DMInviteResponseSigningBytes(reject));
  EXPECT_EQ(HexEncode(SigningBytesBuilder("Tag").AddU64(0x0102030405060708).AddBytes("").bytes()),
            HexEncode(std::string("fedrelay.v1.Tag\0", 16)) + "0102030405060708" + "00000000");
}

TEST_F(SigningTest, OperatorActionSignsItsFieldsWithMayBanJoined) {
  const Ed25519PrivateKey relay = VectorKey("relay");
  v1::OperatorAction action;
  action.set_action("peer_add");
  action.set_server_id("alpha.example");
  action.set_pubkey(VectorKey("server-alpha").PublicKeyHex());
  action.add_may_ban("g1");
  action.add_may_ban("g2");
  action.set_timestamp(42);
  EXPECT_EQ(OperatorActionSigningBytes(action), SigningBytesBuilder("OperatorAction")
                                                    .AddString("peer_add")
                                                    .AddString("alpha.example")
                                                    .AddString(action.pubkey())
                                                    .AddString("g1,g2")
                                                    .AddU64(42)
                                                    .bytes());
  SignOperatorAction(&action, relay);
  EXPECT_TRUE(VerifyOrReject(relay.PublicKey(), OperatorActionSigningBytes(action),
                             action.signature(), "operator action")
                  .ok());
  action.set_may_ban(1, "g3");
  EXPECT_FALSE(VerifyOrReject(relay.PublicKey(), OperatorActionSigningBytes(action),
                              action.signature(), "operator action")
                   .ok());
}

TEST_F(SigningTest, PublicKeyHexIsStrict) {
  const Ed25519PrivateKey key = VectorKey("server-alpha");
  const std::string hex = key.PublicKeyHex();
  auto raw = ParsePublicKeyHex(hex, "pubkey");
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_EQ(*raw, key.PublicKey());

  ASSERT_NE(Upper(hex), hex);  // the key has letters, so uppercase differs
  for (const std::string& bad :
       {Upper(hex), hex.substr(0, 62), hex + "00", std::string(), "0x" + hex.substr(2),
        hex.substr(0, 63) + "g", hex.substr(0, 63) + " ", " " + hex.substr(1), hex.substr(0, 63)}) {
    const absl::Status status = ParsePublicKeyHex(bad, "pubkey").status();
    EXPECT_EQ(MachineCode(status), "malformed") << "accepted: '" << bad << "'";
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST_F(SigningTest, SignatureEncodingsAreStrict) {
  const std::string hex = SigningVectors().at("vectors").at(0).at("signature_hex");
  auto raw = ParseSignatureHex(hex, "signature");
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_EQ(HexEncode(*raw), hex);
  EXPECT_TRUE(CheckRawSignature(*raw, "signature").ok());

  for (const std::string& bad : {Upper(hex), hex.substr(0, 126), hex + "00", std::string()}) {
    EXPECT_EQ(MachineCode(ParseSignatureHex(bad, "signature").status()), "malformed")
        << "accepted: '" << bad << "'";
  }
  for (size_t size : {size_t{0}, size_t{63}, size_t{65}, size_t{128}}) {
    EXPECT_EQ(MachineCode(CheckRawSignature(std::string(size, 'x'), "signature")), "malformed")
        << size;
  }
  // A raw key or signature of the wrong length is malformed, not a bad signature.
  const std::string message = "m";
  EXPECT_EQ(MachineCode(VerifyOrReject(std::string(31, 'k'), message, *raw, "x")), "malformed");
  EXPECT_EQ(MachineCode(VerifyOrReject(std::string(32, 'k'), message, raw->substr(1), "x")),
            "malformed");
}

TEST_F(SigningTest, EvidenceHashIsStrict) {
  std::string evidence;
  for (const auto& vector : SigningVectors().at("vectors")) {
    if (vector.at("tag").get<std::string>() == kTagBanNotification) {
      evidence = test_vectors::FieldValue(vector, "evidence_hash");
    }
  }
  ASSERT_FALSE(evidence.empty());
  auto digest = ParseEvidenceHash(evidence);
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ("sha256:" + HexEncode(*digest), evidence);

  const std::string hex = evidence.substr(7);
  for (const std::string& bad :
       {"sha256:" + Upper(hex), "SHA256:" + hex, hex, std::string("sha256:"),
        "sha256:" + hex.substr(2), "sha256:" + hex + "00", "sha512:" + hex,
        "sha256: " + hex.substr(1)}) {
    EXPECT_EQ(MachineCode(ParseEvidenceHash(bad).status()), "malformed")
        << "accepted: '" << bad << "'";
  }
}

// RFC 8032 base point B and the group order L, little-endian.
constexpr unsigned char kBasePoint[32] = {
    0x58, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
    0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66};
constexpr unsigned char kGroupOrder[32] = {
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10};

TEST_F(SigningTest, SmallOrderPublicKeysAreRejected) {
  // With A = identity, R = B and S = 1 satisfy the verification equation
  // [S]B = R + [k]A for every message, so a lax verifier accepts this forgery.
  const std::string forged_r(reinterpret_cast<const char*>(kBasePoint), 32);
  std::string one(32, '\0');
  one[0] = 1;
  const std::string forgery = forged_r + one;

  std::string identity(32, '\0');
  identity[0] = 1;
  const std::string all_zero(32, '\0');            // y = 0: a point of order 4
  std::string non_canonical_identity(32, '\xff');  // y = p + 1 (not reduced)
  non_canonical_identity[0] = '\xee';
  non_canonical_identity[31] = '\x7f';

  for (const std::string& message :
       {std::string("any message"),
        Unhex(SigningVectors().at("vectors").at(0).at("signing_bytes_hex"))}) {
    for (const std::string& key : {identity, all_zero, non_canonical_identity}) {
      EXPECT_EQ(MachineCode(VerifyOrReject(key, message, forgery, "small order")), "bad_signature")
          << HexEncode(key);
    }
  }
  // The strict hex parser takes these keys (they are well-formed hex); it is the
  // verifier that refuses them.
  EXPECT_TRUE(ParsePublicKeyHex(HexEncode(identity), "pubkey").ok());
}

TEST_F(SigningTest, NonCanonicalSIsRejected) {
  for (const auto& vector : SigningVectors().at("vectors")) {
    SCOPED_TRACE(vector.at("name").get<std::string>());
    const std::string message = Unhex(vector.at("signing_bytes_hex"));
    const std::string signature = Unhex(vector.at("signature_hex"));
    const std::string public_key = Unhex(vector.at("signer_pubkey"));
    // S + L is the same scalar mod L: a lax verifier that reduces S accepts it.
    std::string malleated = signature;
    unsigned carry = 0;
    for (size_t i = 0; i < 32; ++i) {
      const unsigned sum = static_cast<unsigned char>(signature[32 + i]) + kGroupOrder[i] + carry;
      malleated[32 + i] = static_cast<char>(sum & 0xff);
      carry = sum >> 8;
    }
    ASSERT_EQ(carry, 0u);
    ASSERT_NE(malleated, signature);
    EXPECT_EQ(MachineCode(VerifyOrReject(public_key, message, malleated, "malleated")),
              "bad_signature");
  }
}

}  // namespace
}  // namespace fedrelay::federation
