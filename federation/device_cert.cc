#include "federation/device_cert.h"

#include "absl/strings/str_cat.h"
#include "base/errors.h"
#include "base/status_macros.h"
#include "federation/signing.h"

namespace fedrelay::federation {

namespace {

absl::Status CheckValidityWindow(const v1::DeviceCert& cert, uint64_t now_ms) {
  if (now_ms < cert.issued_at()) {
    return MakeError(ErrorCode::kInvalidDeviceCert,
                     absl::StrCat("device_cert not yet valid (issued_at ", cert.issued_at(),
                                  " > now ", now_ms, ")"));
  }
  if (now_ms >= cert.expiry()) {
    return MakeError(
        ErrorCode::kInvalidDeviceCert,
        absl::StrCat("device_cert expired (expiry ", cert.expiry(), " <= now ", now_ms, ")"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status VerifyDeviceCertOwner(const v1::DeviceCert& cert, absl::string_view owner_kid_hex) {
  ASSIGN_OR_RETURN(const std::string signature,
                   ParseSignatureHex(cert.signature(), "device_cert.signature"));
  ASSIGN_OR_RETURN(const std::string identity_key,
                   ParsePublicKeyHex(owner_kid_hex, "device_cert owner (K_id)"));
  if (!VerifyOrReject(identity_key, DeviceCertSigningBytes(cert), signature,
                      "device_cert.signature")
           .ok()) {
    return MakeError(ErrorCode::kInvalidDeviceCert,
                     "device_cert signature does not verify under the claimed K_id");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> DeviceKeyValidAt(const v1::DeviceCert& cert, uint64_t now_ms) {
  ASSIGN_OR_RETURN(std::string device_key, ParsePublicKeyHex(cert.pubkey(), "device_cert.pubkey"));
  RETURN_IF_ERROR(ParseSignatureHex(cert.signature(), "device_cert.signature").status());
  RETURN_IF_ERROR(CheckValidityWindow(cert, now_ms));
  return device_key;
}

absl::StatusOr<std::string> ValidatedDeviceKey(const v1::DeviceCert& cert,
                                               absl::string_view expected_kid_hex,
                                               uint64_t now_ms) {
  ASSIGN_OR_RETURN(std::string device_key, ParsePublicKeyHex(cert.pubkey(), "device_cert.pubkey"));
  RETURN_IF_ERROR(VerifyDeviceCertOwner(cert, expected_kid_hex));
  RETURN_IF_ERROR(CheckValidityWindow(cert, now_ms));
  return device_key;
}

absl::Status ValidateDeviceCert(const v1::DeviceCert& cert, absl::string_view expected_kid_hex,
                                uint64_t now_ms) {
  return ValidatedDeviceKey(cert, expected_kid_hex, now_ms).status();
}

}  // namespace fedrelay::federation
