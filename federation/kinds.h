// What the relay knows per submitted message kind, in one place: its name in
// the log, its oneof cases, its acceptance rule's Validate half, which rate
// limit it counts against and who it is charged to, which free-text fields
// rate_limits.max_message_length caps, and who may see the events it derives.
//
// Adding a kind: its message in fedrelay.proto, a KindTraits specialization
// here, the Submission alternative (federation.h), and its rule file
// (federation/rules/<kind>.cc, with the Decide dispatch in rules/common.cc).
// tests/federation/kinds_test.cc checks the table against the proto.
//
// Operator actions (the relay's own entries) are not submitted and have no
// traits; rules::ValidateOperatorAction handles them.
//
// Thread-safety: constants and pure functions.
#ifndef FEDRELAY_FEDERATION_KINDS_H_
#define FEDRELAY_FEDERATION_KINDS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "federation/federation.h"
#include "federation/rules/rules.h"
#include "fedrelay/v1/fedrelay.pb.h"

namespace fedrelay::federation {

// Which of the relay's submission rate limits a kind counts against
// (rate_limits.message_rate_limit or rate_limits.invite_rate_limit).
enum class RateLimit : uint8_t { kMessage, kInvite };

// Who may see the events an entry of the kind derives (every event of an
// entry shares its kind's audience): every authenticated subscriber, or only
// full-access API keys and the current homeservers of the invite's target and
// inviter. relay/downstream/visibility.cc reads it through AudienceOf.
enum class Audience : uint8_t { kEverySubscriber, kInviteParties };

// A free-text field capped by rate_limits.max_message_length: names, reasons,
// bios, urls and invite tokens. Identifiers (server, guild, invite and device
// ids) are not text a person writes, so they are not capped here; they are
// bounded by max_upload_size like the rest of the request.
struct CappedText {
  absl::string_view field;
  absl::string_view value;
};

// One specialization per submitted kind; each has the same members.
template <typename Request>
struct KindTraits;

template <>
struct KindTraits<v1::FederationRequest> {
  static constexpr absl::string_view kName = "federation_request";
  static constexpr v1::LogEntry::RequestCase kRequestCase = v1::LogEntry::kFederationRequest;
  static constexpr v1::Submission::ItemCase kSubmissionCase = v1::Submission::kFederationRequest;
  static constexpr RateLimit kRateLimit = RateLimit::kMessage;
  static constexpr Audience kAudience = Audience::kEverySubscriber;
  static constexpr auto& Validate = rules::ValidateFederationRequest;
  static const v1::FederationRequest& FromSubmission(const v1::Submission& in) {
    return in.federation_request();
  }
  // Server-signed: charged to the origin server.
  static std::string RateKey(const v1::FederationRequest& m) {
    return "server:" + m.origin_server_id();
  }
  static std::vector<CappedText> CappedTexts(const v1::FederationRequest& m) {
    return {{"user_display_name", m.user_display_name()}};
  }
};

template <>
struct KindTraits<v1::BanNotification> {
  static constexpr absl::string_view kName = "ban";
  static constexpr v1::LogEntry::RequestCase kRequestCase = v1::LogEntry::kBan;
  static constexpr v1::Submission::ItemCase kSubmissionCase = v1::Submission::kBan;
  static constexpr RateLimit kRateLimit = RateLimit::kMessage;
  static constexpr Audience kAudience = Audience::kEverySubscriber;
  static constexpr auto& Validate = rules::ValidateBan;
  static const v1::BanNotification& FromSubmission(const v1::Submission& in) { return in.ban(); }
  static std::string RateKey(const v1::BanNotification& m) {
    return "server:" + m.origin_server_id();
  }
  static std::vector<CappedText> CappedTexts(const v1::BanNotification& m) {
    return {{"reason", m.reason()}};
  }
};

template <>
struct KindTraits<v1::DMInvite> {
  static constexpr absl::string_view kName = "dm_invite";
  static constexpr v1::LogEntry::RequestCase kRequestCase = v1::LogEntry::kDmInvite;
  static constexpr v1::Submission::ItemCase kSubmissionCase = v1::Submission::kDmInvite;
  static constexpr RateLimit kRateLimit = RateLimit::kInvite;
  static constexpr Audience kAudience = Audience::kInviteParties;
  static constexpr auto& Validate = rules::ValidateDMInvite;
  // The Submit stream wraps the invite as ReceiveDMInvite does.
  static const v1::DMInvite& FromSubmission(const v1::Submission& in) {
    return in.dm_invite().invite();
  }
  static std::string RateKey(const v1::DMInvite& m) { return "user:" + m.inviter_id(); }
  static std::vector<CappedText> CappedTexts(const v1::DMInvite& m) {
    return {{"token", m.token()},
            {"guild_name", m.guild_name()},
            {"host_server_url", m.host_server_url()}};
  }
};

template <>
struct KindTraits<v1::AcceptDMInviteRequest> {
  static constexpr absl::string_view kName = "dm_accept";
  static constexpr v1::LogEntry::RequestCase kRequestCase = v1::LogEntry::kDmAccept;
  static constexpr v1::Submission::ItemCase kSubmissionCase = v1::Submission::kDmAccept;
  static constexpr RateLimit kRateLimit = RateLimit::kInvite;
  static constexpr Audience kAudience = Audience::kInviteParties;
  static constexpr auto& Validate = rules::ValidateDMAccept;
  static const v1::AcceptDMInviteRequest& FromSubmission(const v1::Submission& in) {
    return in.dm_accept();
  }
  // Device-signed: charged to the device key.
  static std::string RateKey(const v1::AcceptDMInviteRequest& m) {
    return "device:" + m.device_cert().pubkey();
  }
  static std::vector<CappedText> CappedTexts(const v1::AcceptDMInviteRequest&) { return {}; }
};

template <>
struct KindTraits<v1::RejectDMInviteRequest> {
  static constexpr absl::string_view kName = "dm_reject";
  static constexpr v1::LogEntry::RequestCase kRequestCase = v1::LogEntry::kDmReject;
  static constexpr v1::Submission::ItemCase kSubmissionCase = v1::Submission::kDmReject;
  static constexpr RateLimit kRateLimit = RateLimit::kInvite;
  static constexpr Audience kAudience = Audience::kInviteParties;
  static constexpr auto& Validate = rules::ValidateDMReject;
  static const v1::RejectDMInviteRequest& FromSubmission(const v1::Submission& in) {
    return in.dm_reject();
  }
  static std::string RateKey(const v1::RejectDMInviteRequest& m) {
    return "device:" + m.device_cert().pubkey();
  }
  static std::vector<CappedText> CappedTexts(const v1::RejectDMInviteRequest&) { return {}; }
};

template <>
struct KindTraits<v1::UpdateHomeServerRequest> {
  static constexpr absl::string_view kName = "migration";
  static constexpr v1::LogEntry::RequestCase kRequestCase = v1::LogEntry::kMigration;
  static constexpr v1::Submission::ItemCase kSubmissionCase = v1::Submission::kMigration;
  static constexpr RateLimit kRateLimit = RateLimit::kMessage;
  static constexpr Audience kAudience = Audience::kEverySubscriber;
  static constexpr auto& Validate = rules::ValidateMigration;
  static const v1::UpdateHomeServerRequest& FromSubmission(const v1::Submission& in) {
    return in.migration();
  }
  // User-signed: charged to the user.
  static std::string RateKey(const v1::UpdateHomeServerRequest& m) { return "user:" + m.user_id(); }
  static std::vector<CappedText> CappedTexts(const v1::UpdateHomeServerRequest& m) {
    return {{"new_homeserver", m.new_homeserver()}};
  }
};

template <>
struct KindTraits<v1::UpdateFederatedProfileRequest> {
  static constexpr absl::string_view kName = "profile";
  static constexpr v1::LogEntry::RequestCase kRequestCase = v1::LogEntry::kProfile;
  static constexpr v1::Submission::ItemCase kSubmissionCase = v1::Submission::kProfile;
  static constexpr RateLimit kRateLimit = RateLimit::kMessage;
  static constexpr Audience kAudience = Audience::kEverySubscriber;
  static constexpr auto& Validate = rules::ValidateProfile;
  static const v1::UpdateFederatedProfileRequest& FromSubmission(const v1::Submission& in) {
    return in.profile();
  }
  static std::string RateKey(const v1::UpdateFederatedProfileRequest& m) {
    return "user:" + m.user_id();
  }
  static std::vector<CappedText> CappedTexts(const v1::UpdateFederatedProfileRequest& m) {
    return {{"display_name", m.display_name()}, {"avatar_url", m.avatar_url()}, {"bio", m.bio()}};
  }
};

// The table, read through a submission of any kind.
absl::string_view KindName(const Submission& submission);
RateLimit RateLimitOf(const Submission& submission);
// Who the submission is charged to for rate limiting ("server:<id>",
// "user:<id>" or "device:<pubkey>").
std::string RateKey(const Submission& submission);
std::vector<CappedText> CappedTexts(const Submission& submission);
// The audience of a logged entry's kind, by its LogEntry request case. The
// relay's own operator actions derive no events; they (and an entry of no
// kind) answer kEverySubscriber.
Audience AudienceOf(v1::LogEntry::RequestCase request_case);
// The Submission a Submit stream item carries; nullopt when it carries none.
std::optional<Submission> SubmissionFromProto(const v1::Submission& in);

}  // namespace fedrelay::federation

#endif  // FEDRELAY_FEDERATION_KINDS_H_
