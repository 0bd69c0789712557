// Device certificate validation (SPEC section 2): signature under the claimed
// K_id and issued_at <= now < expiry, with strict encodings.
#include "federation/device_cert.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "absl/strings/ascii.h"
#include "base/clock.h"
#include "base/crypto.h"
#include "base/encoding.h"
#include "base/errors.h"
#include "federation/signing.h"
#include "federation/signing_vectors_util.h"

namespace fedrelay::federation {
namespace {

using test_vectors::FieldValue;
using test_vectors::SigningVectors;
using test_vectors::Unhex;
using test_vectors::VectorKey;

constexpr uint64_t kIssuedAt = 1'800'000'000'000;
constexpr uint64_t kExpiry = kIssuedAt + 30ull * 24 * 3600 * 1000;

class DeviceCertTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(InitCrypto().ok()); }

  DeviceCertTest()
      : alice_id_(VectorKey("user-alice-id")),
        alice_dev_(VectorKey("user-alice-dev")),
        bob_id_(VectorKey("user-bob-id")),
        clock_(kIssuedAt + 1000) {
    cert_.set_pubkey(alice_dev_.PublicKeyHex());
    cert_.set_device_id("laptop-1");
    cert_.set_issued_at(kIssuedAt);
    cert_.set_expiry(kExpiry);
    SignDeviceCert(&cert_, alice_id_);
  }

  absl::Status Validate(const v1::DeviceCert& cert) {
    return ValidateDeviceCert(cert, alice_id_.PublicKeyHex(), clock_.NowMs());
  }

  Ed25519PrivateKey alice_id_;
  Ed25519PrivateKey alice_dev_;
  Ed25519PrivateKey bob_id_;
  FakeClock clock_;
  v1::DeviceCert cert_;
};

TEST_F(DeviceCertTest, ValidCertYieldsTheDeviceKey) {
  EXPECT_TRUE(Validate(cert_).ok());
  auto device_key = ValidatedDeviceKey(cert_, alice_id_.PublicKeyHex(), clock_.NowMs());
  ASSERT_TRUE(device_key.ok()) << device_key.status();
  EXPECT_EQ(*device_key, alice_dev_.PublicKey());
}

TEST_F(DeviceCertTest, VectorCertsAreValidForTheirSigner) {
  int certs = 0;
  for (const auto& vector : SigningVectors().at("vectors")) {
    if (vector.at("tag").get<std::string>() != kTagDeviceCert) continue;
    SCOPED_TRACE(vector.at("name").get<std::string>());
    v1::DeviceCert cert;
    cert.set_pubkey(FieldValue(vector, "pubkey").get<std::string>());
    cert.set_device_id(FieldValue(vector, "device_id").get<std::string>());
    cert.set_issued_at(FieldValue(vector, "issued_at").get<uint64_t>());
    cert.set_expiry(FieldValue(vector, "expiry").get<uint64_t>());
    cert.set_signature(vector.at("signature_hex").get<std::string>());
    const std::string signer = vector.at("signer_pubkey");
    auto device_key = ValidatedDeviceKey(cert, signer, cert.issued_at());
    ASSERT_TRUE(device_key.ok()) << device_key.status();
    EXPECT_EQ(*device_key, Unhex(cert.pubkey()));
    ++certs;
  }
  EXPECT_GT(certs, 0);
}

TEST_F(DeviceCertTest, CertSignedByAnotherIdentityIsInvalid) {
  v1::DeviceCert cert = cert_;
  SignDeviceCert(&cert, bob_id_);
  const absl::Status status = Validate(cert);
  EXPECT_EQ(MachineCode(status), "invalid_device_cert") << status;
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  // And alice's own cert does not pass as bob's.
  EXPECT_EQ(MachineCode(ValidateDeviceCert(cert_, bob_id_.PublicKeyHex(), clock_.NowMs())),
            "invalid_device_cert");
}

TEST_F(DeviceCertTest, ValidityWindowIncludesIssuedAtAndExcludesExpiry) {
  clock_.SetMs(kIssuedAt);
  EXPECT_TRUE(Validate(cert_).ok());
  clock_.SetMs(kIssuedAt - 1);
  EXPECT_EQ(MachineCode(Validate(cert_)), "invalid_device_cert");
  clock_.SetMs(0);
  EXPECT_EQ(MachineCode(Validate(cert_)), "invalid_device_cert");
  clock_.SetMs(kExpiry - 1);
  EXPECT_TRUE(Validate(cert_).ok());
  clock_.SetMs(kExpiry);
  EXPECT_EQ(MachineCode(Validate(cert_)), "invalid_device_cert");
  clock_.SetMs(kExpiry + 1);
  EXPECT_EQ(MachineCode(Validate(cert_)), "invalid_device_cert");
}

TEST_F(DeviceCertTest, TamperedFieldsAreInvalid) {
  v1::DeviceCert device_id = cert_;
  device_id.set_device_id("laptop-2");
  EXPECT_EQ(MachineCode(Validate(device_id)), "invalid_device_cert");

  v1::DeviceCert pubkey = cert_;
  pubkey.set_pubkey(bob_id_.PublicKeyHex());  // well-formed, but not the certified key
  EXPECT_EQ(MachineCode(Validate(pubkey)), "invalid_device_cert");

  v1::DeviceCert expiry = cert_;
  expiry.set_expiry(kExpiry + 1);
  EXPECT_EQ(MachineCode(Validate(expiry)), "invalid_device_cert");

  v1::DeviceCert issued_at = cert_;
  issued_at.set_issued_at(kIssuedAt - 1);
  EXPECT_EQ(MachineCode(Validate(issued_at)), "invalid_device_cert");
}

TEST_F(DeviceCertTest, BadEncodingsAreMalformed) {
  v1::DeviceCert upper_pubkey = cert_;
  upper_pubkey.set_pubkey(absl::AsciiStrToUpper(cert_.pubkey()));
  ASSERT_NE(upper_pubkey.pubkey(), cert_.pubkey());
  EXPECT_EQ(MachineCode(Validate(upper_pubkey)), "malformed");

  v1::DeviceCert upper_signature = cert_;
  upper_signature.set_signature(absl::AsciiStrToUpper(cert_.signature()));
  EXPECT_EQ(MachineCode(Validate(upper_signature)), "malformed");

  v1::DeviceCert short_signature = cert_;
  short_signature.set_signature(cert_.signature().substr(0, 126));
  EXPECT_EQ(MachineCode(Validate(short_signature)), "malformed");

  v1::DeviceCert raw_signature = cert_;  // raw bytes where hex is required
  raw_signature.set_signature(Unhex(cert_.signature()));
  EXPECT_EQ(MachineCode(Validate(raw_signature)), "malformed");

  v1::DeviceCert no_signature = cert_;
  no_signature.clear_signature();
  EXPECT_EQ(MachineCode(Validate(no_signature)), "malformed");

  v1::DeviceCert short_pubkey = cert_;
  short_pubkey.set_pubkey(cert_.pubkey().substr(0, 62));
  EXPECT_EQ(MachineCode(Validate(short_pubkey)), "malformed");

  const std::string kid = alice_id_.PublicKeyHex();
  EXPECT_EQ(MachineCode(ValidateDeviceCert(cert_, absl::AsciiStrToUpper(kid), clock_.NowMs())),
            "malformed");
  EXPECT_EQ(MachineCode(ValidateDeviceCert(cert_, kid.substr(2), clock_.NowMs())), "malformed");
}

}  // namespace
}  // namespace fedrelay::federation
