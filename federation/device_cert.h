// Device certificates (SPEC section 2): a user's identity key K_id vouches for
// a device key K_dev for [issued_at, expiry).
//
// Thread-safety: the functions are pure and thread-safe.
#ifndef FEDRELAY_FEDERATION_DEVICE_CERT_H_
#define FEDRELAY_FEDERATION_DEVICE_CERT_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "fedrelay/v1/fedrelay.pb.h"

namespace fedrelay::federation {

// OK when `cert` is valid for `expected_kid_hex` (the claimed K_id, lowercase
// hex) at `now_ms`: cert.pubkey is a strict hex key, cert.signature is a strict
// hex signature over DeviceCertSigningBytes(cert) that verifies under K_id, and
// issued_at <= now_ms < expiry.
// Errors: kMalformed for a bad encoding of cert.pubkey, cert.signature or
// expected_kid_hex; kInvalidDeviceCert naming the failed check otherwise.
absl::Status ValidateDeviceCert(const v1::DeviceCert& cert, absl::string_view expected_kid_hex,
                                uint64_t now_ms);

// As ValidateDeviceCert; on success returns the raw 32-byte K_dev, the key the
// message carrying the cert must be signed with.
absl::StatusOr<std::string> ValidatedDeviceKey(const v1::DeviceCert& cert,
                                               absl::string_view expected_kid_hex, uint64_t now_ms);

// The two halves of ValidatedDeviceKey, for a message whose cert owner is
// known only from state (a DM decision: the invite's target_user_id).
//
// Parses cert.pubkey and cert.signature (kMalformed) and checks issued_at <=
// now_ms < expiry (kInvalidDeviceCert); returns the raw 32-byte K_dev.
absl::StatusOr<std::string> DeviceKeyValidAt(const v1::DeviceCert& cert, uint64_t now_ms);
// OK when cert.signature verifies under `owner_kid_hex`; kInvalidDeviceCert
// when it does not, kMalformed for a bad encoding.
absl::Status VerifyDeviceCertOwner(const v1::DeviceCert& cert, absl::string_view owner_kid_hex);

}  // namespace fedrelay::federation

#endif  // FEDRELAY_FEDERATION_DEVICE_CERT_H_
