#include "relay/auth/api_keys.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/crypto.h"
#include "base/encoding.h"
#include "base/errors.h"
#include "base/status_macros.h"
#include "nlohmann/json.hpp"

namespace fedrelay::relay {
namespace {

constexpr absl::string_view kKeyPrefix = "fr_";
constexpr size_t kSecretBytes = 32;
constexpr size_t kKeyIdHexChars = 16;
constexpr size_t kMaxNameLength = 100;
constexpr absl::string_view kRecordPrefix = "apikey/";

std::string RecordKey(absl::string_view key_id) { return absl::StrCat(kRecordPrefix, key_id); }

bool IsLowerHex(absl::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// Compares without an early exit, so the time taken does not tell how much of a
// guessed hash matched.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

absl::Status ValidateName(absl::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) {
    return MakeError(ErrorCode::kMalformed,
                     absl::StrCat("key name must be 1..", kMaxNameLength, " characters"));
  }
  for (char c : name) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return MakeError(ErrorCode::kMalformed, "key name contains control characters");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateScopes(const std::vector<std::string>& scopes) {
  if (scopes.empty()) return MakeError(ErrorCode::kMalformed, "a key needs at least one scope");
  for (const auto& scope : scopes) {
    if (scope != kScopeRestFull) {
      return MakeError(ErrorCode::kMalformed, absl::StrCat("unknown scope '", scope, "'"));
    }
  }
  return absl::OkStatus();
}

absl::Status Unauthenticated() {
  return MakeError(ErrorCode::kUnauthenticated, "unknown, malformed or revoked API key");
}

std::string Serialize(const ApiKeyInfo& info, absl::string_view sha256_hex) {
  nlohmann::json json = {{"key_id", info.key_id},
                         {"name", info.name},
                         {"scopes", info.scopes},
                         {"created_at", info.created_at_ms},
                         {"revoked", info.revoked},
                         {"revoked_at", info.revoked_at_ms},
                         {"sha256", std::string(sha256_hex)}};
  return json.dump();
}

absl::StatusOr<ApiKeyInfo> Parse(absl::string_view bytes, std::string* sha256_hex) {
  try {
    const auto json = nlohmann::json::parse(bytes.begin(), bytes.end());
    ApiKeyInfo info;
    info.key_id = json.at("key_id").get<std::string>();
    info.name = json.at("name").get<std::string>();
    info.scopes = json.at("scopes").get<std::vector<std::string>>();
    info.created_at_ms = json.at("created_at").get<uint64_t>();
    info.revoked = json.at("revoked").get<bool>();
    info.revoked_at_ms = json.at("revoked_at").get<uint64_t>();
    if (sha256_hex != nullptr) *sha256_hex = json.at("sha256").get<std::string>();
    return info;
  } catch (const nlohmann::json::exception& e) {
    return MakeError(ErrorCode::kInternal, absl::StrCat("corrupt API key record: ", e.what()));
  }
}

}  // namespace

bool ApiKeyInfo::HasScope(absl::string_view scope) const {
  return std::find(scopes.begin(), scopes.end(), scope) != scopes.end();
}

ApiKeys::ApiKeys(store::KeyValueStore* store, const Clock* clock) : store_(store), clock_(clock) {}

absl::StatusOr<std::string> ApiKeys::KeyIdOf(absl::string_view key) {
  if (!absl::StartsWith(key, kKeyPrefix)) return Unauthenticated();
  const absl::string_view secret = key.substr(kKeyPrefix.size());
  if (secret.size() != 2 * kSecretBytes || !IsLowerHex(secret)) return Unauthenticated();
  return HexEncode(Sha256(key)).substr(0, kKeyIdHexChars);
}

absl::StatusOr<ApiKeys::Created> ApiKeys::Create(absl::string_view name,
                                                 const std::vector<std::string>& scopes) {
  RETURN_IF_ERROR(ValidateName(name));
  RETURN_IF_ERROR(ValidateScopes(scopes));
  absl::StatusOr<Created> created = DrawAndSave(name, scopes);
  if (created.ok()) Notify(/*revoked=*/false, created->info.key_id);
  return created;
}

absl::StatusOr<ApiKeys::Created> ApiKeys::DrawAndSave(absl::string_view name,
                                                       const std::vector<std::string>& scopes) {
  absl::MutexLock lock(&write_mu_);
  // A 64-bit id prefix collides with an existing key practically never; if it
  // does, draw again rather than shadow the older key.
  for (int attempt = 0; attempt < 4; ++attempt) {
    const std::string secret = RandomBytes(kSecretBytes);
    Created created;
    created.key = absl::StrCat(kKeyPrefix, HexEncode(secret));
    const std::string sha256_hex = HexEncode(Sha256(created.key));
    created.info.key_id = sha256_hex.substr(0, kKeyIdHexChars);
    ASSIGN_OR_RETURN(auto existing, Load(created.info.key_id, nullptr));
    if (existing.has_value()) continue;
    created.info.name = std::string(name);
    created.info.scopes = scopes;
    created.info.created_at_ms = clock_->NowMs();
    RETURN_IF_ERROR(Save(created.info, sha256_hex));
    return created;
  }
  return MakeError(ErrorCode::kInternal, "could not draw an unused key id");
}

absl::StatusOr<ApiKeyInfo> ApiKeys::Authenticate(absl::string_view key) const {
  ASSIGN_OR_RETURN(const std::string key_id, KeyIdOf(key));
  std::string stored_sha256_hex;
  ASSIGN_OR_RETURN(auto info, Load(key_id, &stored_sha256_hex));
  if (!info.has_value() || info->revoked ||
      !ConstantTimeEquals(HexEncode(Sha256(key)), stored_sha256_hex)) {
    return Unauthenticated();
  }
  return *std::move(info);
}

absl::StatusOr<std::vector<ApiKeyInfo>> ApiKeys::List() const {
  std::vector<ApiKeyInfo> keys;
  absl::Status parse_status;
  RETURN_IF_ERROR(store_->Scan(store::Table::kAux, kRecordPrefix,
                               [&](absl::string_view, absl::string_view value) {
                                 auto info = Parse(value, nullptr);
                                 if (!info.ok()) {
                                   parse_status = info.status();
                                   return false;
                                 }
                                 keys.push_back(*std::move(info));
                                 return true;
                               }));
  RETURN_IF_ERROR(parse_status);
  std::sort(keys.begin(), keys.end(), [](const ApiKeyInfo& a, const ApiKeyInfo& b) {
    return std::tie(a.created_at_ms, a.key_id) < std::tie(b.created_at_ms, b.key_id);
  });
  return keys;
}

absl::StatusOr<ApiKeyInfo> ApiKeys::Revoke(absl::string_view key_id) {
  ApiKeyInfo info;
  {
    absl::MutexLock lock(&write_mu_);
    std::string sha256_hex;
    std::optional<ApiKeyInfo> existing;
    if (key_id.size() == kKeyIdHexChars && IsLowerHex(key_id)) {
      ASSIGN_OR_RETURN(existing, Load(key_id, &sha256_hex));
    }
    if (!existing.has_value()) {
      return MakeError(ErrorCode::kNotFound, absl::StrCat("no API key with id '", key_id, "'"));
    }
    if (existing->revoked) return *std::move(existing);
    info = *std::move(existing);
    info.revoked = true;
    info.revoked_at_ms = clock_->NowMs();
    RETURN_IF_ERROR(Save(info, sha256_hex));
  }
  Notify(/*revoked=*/true, info.key_id);
  return info;
}

void ApiKeys::Notify(bool revoked, const std::string& key_id) {
  std::vector<std::function<void(const std::string&)>> listeners;
  {
    absl::MutexLock lock(&listeners_mu_);
    listeners = change_listeners_;
    if (revoked) listeners.insert(listeners.begin(), listeners_.begin(), listeners_.end());
  }
  for (const auto& listener : listeners) listener(key_id);
}

void ApiKeys::AddChangeListener(std::function<void(const std::string& key_id)> listener) {
  absl::MutexLock lock(&listeners_mu_);
  change_listeners_.push_back(std::move(listener));
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ApiKeys::Records() const {
  std::vector<std::pair<std::string, std::string>> records;
  RETURN_IF_ERROR(store_->Scan(store::Table::kAux, kRecordPrefix,
                               [&](absl::string_view key, absl::string_view value) {
                                 records.emplace_back(std::string(key.substr(kRecordPrefix.size())),
                                                      std::string(value));
                                 return true;
                               }));
  return records;
}

absl::Status ApiKeys::Mirror(absl::string_view record) {
  std::string sha256_hex;
  absl::StatusOr<ApiKeyInfo> info = Parse(record, &sha256_hex);
  if (!info.ok() || info->key_id.size() != kKeyIdHexChars || !IsLowerHex(info->key_id) ||
      sha256_hex.size() != 64 || !IsLowerHex(sha256_hex) ||
      !absl::StartsWith(sha256_hex, info->key_id) || !ValidateScopes(info->scopes).ok()) {
    return MakeError(ErrorCode::kMalformed, "not an API key record");
  }
  bool was_live = false;
  {
    absl::MutexLock lock(&write_mu_);
    ASSIGN_OR_RETURN(auto existing, Load(info->key_id, nullptr));
    was_live = existing.has_value() && !existing->revoked;
    RETURN_IF_ERROR(Save(*info, sha256_hex));
  }
  if (was_live && info->revoked) Notify(/*revoked=*/true, info->key_id);
  return absl::OkStatus();
}

absl::Status ApiKeys::Forget(absl::string_view key_id) {
  bool was_live = false;
  {
    absl::MutexLock lock(&write_mu_);
    ASSIGN_OR_RETURN(auto existing, Load(key_id, nullptr));
    if (!existing.has_value()) return absl::OkStatus();
    was_live = !existing->revoked;
    store::WriteSet writes;
    writes.Delete(store::Table::kAux, RecordKey(key_id));
    RETURN_IF_ERROR(store_->Write(writes));
  }
  if (was_live) Notify(/*revoked=*/true, std::string(key_id));
  return absl::OkStatus();
}

void ApiKeys::AddRevocationListener(std::function<void(const std::string& key_id)> listener) {
  absl::MutexLock lock(&listeners_mu_);
  listeners_.push_back(std::move(listener));
}

absl::StatusOr<std::optional<ApiKeyInfo>> ApiKeys::Load(absl::string_view key_id,
                                                        std::string* sha256_hex) const {
  ASSIGN_OR_RETURN(auto bytes, store_->Get(store::Table::kAux, RecordKey(key_id)));
  if (!bytes.has_value()) return std::optional<ApiKeyInfo>();
  ASSIGN_OR_RETURN(ApiKeyInfo info, Parse(*bytes, sha256_hex));
  return std::optional<ApiKeyInfo>(std::move(info));
}

absl::Status ApiKeys::Save(const ApiKeyInfo& info, absl::string_view sha256_hex) {
  store::WriteSet writes;
  writes.Put(store::Table::kAux, RecordKey(info.key_id), Serialize(info, sha256_hex));
  return store_->Write(writes);
}

}  // namespace fedrelay::relay
