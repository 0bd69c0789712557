#include "relay/member/member_index.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/encoding.h"
#include "base/errors.h"
#include "base/status_macros.h"
#include "spdlog/spdlog.h"

namespace fedrelay::relay {
namespace {

constexpr absl::string_view kWatermarkKey = "member/indexed";
// Entries indexed per synced write.
constexpr uint64_t kBatchEntries = 512;

std::string IndexKey(absl::string_view user_id, uint64_t event_id) {
  return absl::StrCat(MemberIndexPrefix(user_id), EventKeyPart(event_id));
}

std::optional<uint64_t> EventIdOfKey(absl::string_view key) {
  const size_t slash = key.rfind('/');
  if (slash == absl::string_view::npos) return std::nullopt;
  return ParseDecimalU64(key.substr(slash + 1));
}

IndexedEvent ParseIndexValue(uint64_t event_id, absl::string_view value) {
  IndexedEvent event;
  event.event_id = event_id;
  std::pair<std::string, std::string> parts = absl::StrSplit(value, absl::MaxSplits('\t', 1));
  event.event_class = std::move(parts.first);
  event.guild_id = std::move(parts.second);
  return event;
}

}  // namespace

std::string EventKeyPart(uint64_t event_id) {
  std::string digits = absl::StrCat(event_id);
  return std::string(20 - std::min<size_t>(20, digits.size()), '0') + digits;
}
std::string MemberIndexPrefix(absl::string_view user_id) {
  return absl::StrCat("member/idx/", user_id, "/");
}
std::string MemberAckRequiredPrefix(absl::string_view user_id) {
  return absl::StrCat("member/ackreq/", user_id, "/");
}
std::string MemberBanPrefix(absl::string_view user_id) {
  return absl::StrCat("member/ban/", user_id, "/");
}

std::vector<MemberEventRef> MemberEventsOf(const v1::LogEntry& entry,
                                           const federation::Federation& federation) {
  std::vector<MemberEventRef> out;
  switch (entry.request_case()) {
    case v1::LogEntry::kDmInvite:
      out.push_back({entry.dm_invite().target_user_id(), std::string(kClassDmInvite),
                     entry.dm_invite().guild_id(), true});
      break;
    case v1::LogEntry::kBan:
      out.push_back({entry.ban().banned_user_pubkey(), std::string(kClassBan),
                     entry.ban().guild_id(), true});
      break;
    case v1::LogEntry::kMigration:
      out.push_back({entry.migration().user_id(), std::string(kClassMigration), "", false});
      break;
    case v1::LogEntry::kProfile:
      out.push_back({entry.profile().user_id(), std::string(kClassProfileUpdate), "", false});
      break;
    case v1::LogEntry::kDmAccept:
    case v1::LogEntry::kDmReject: {
      const std::string& invite_id = entry.request_case() == v1::LogEntry::kDmAccept
                                         ? entry.dm_accept().invite_id()
                                         : entry.dm_reject().invite_id();
      if (auto invite = federation.Invite(invite_id)) {
        out.push_back({invite->target_user_id, std::string(kClassDmInviteStatus),
                       invite->guild_id, false});
      }
      break;
    }
    default:
      break;
  }
  // A user id is a hex key; anything else could not have been accepted, but
  // the index keys must never be ambiguous.
  out.erase(std::remove_if(out.begin(), out.end(),
                           [](const MemberEventRef& ref) {
                             return ref.user_id.empty() ||
                                    ref.user_id.find('/') != std::string::npos;
                           }),
            out.end());
  return out;
}

MemberIndex::MemberIndex(store::LogStore* store) : store_(store) {}

MemberIndex::~MemberIndex() { Stop(); }

absl::Status MemberIndex::Start(const federation::Federation* federation) {
  federation_ = federation;
  ASSIGN_OR_RETURN(auto watermark, store_->Get(store::Table::kAux, kWatermarkKey));
  uint64_t indexed = 0;
  if (watermark.has_value()) {
    const auto parsed = ParseDecimalU64(*watermark);
    if (!parsed.has_value()) return MakeError(ErrorCode::kInternal, "corrupt member index watermark");
    indexed = *parsed;
  }
  {
    absl::MutexLock lock(&mu_);
    indexed_ = indexed;
    target_ = std::max(target_, store_->Size());
  }
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void MemberIndex::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void MemberIndex::OnDurable(const std::vector<std::shared_ptr<const v1::LogEntry>>& entries) {
  if (entries.empty()) return;
  absl::MutexLock lock(&mu_);
  target_ = std::max(target_, entries.back()->event_id());
}

uint64_t MemberIndex::target() const {
  absl::MutexLock lock(&mu_);
  return target_;
}

uint64_t MemberIndex::WaitIndexed(uint64_t event_id, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto done = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return indexed_ >= event_id || stopping_; };
  mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
  return indexed_;
}

void MemberIndex::Run() {
  while (true) {
    uint64_t begin = 0, end = 0;
    {
      absl::MutexLock lock(&mu_);
      auto work = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stopping_ || target_ > indexed_; };
      mu_.Await(absl::Condition(&work));
      if (stopping_) return;
      begin = indexed_;
      end = std::min(target_, indexed_ + kBatchEntries);
    }
    if (absl::Status status = IndexRange(begin, end); !status.ok()) {
      spdlog::error("member index: entries {}..{}: {}", begin + 1, end, status.ToString());
      absl::MutexLock lock(&mu_);
      auto stop = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stopping_; };
      mu_.AwaitWithTimeout(absl::Condition(&stop), absl::Seconds(1));
      continue;
    }
    absl::MutexLock lock(&mu_);
    indexed_ = end;
  }
}

absl::Status MemberIndex::IndexRange(uint64_t begin, uint64_t end) {
  store::WriteSet writes;
  absl::Status parse_status;
  RETURN_IF_ERROR(store_->ScanLeaves(begin, end, [&](uint64_t index, absl::string_view leaf) {
    v1::LogEntry entry;
    if (!entry.ParseFromArray(leaf.data(), static_cast<int>(leaf.size()))) {
      parse_status = MakeError(ErrorCode::kInternal, absl::StrCat("unparsable leaf ", index));
      return false;
    }
    const uint64_t event_id = index + 1;
    for (const MemberEventRef& ref : MemberEventsOf(entry, *federation_)) {
      writes.Put(store::Table::kAux, IndexKey(ref.user_id, event_id),
                 absl::StrCat(ref.event_class, "\t", ref.guild_id));
      if (ref.requires_ack) {
        writes.Put(store::Table::kAux,
                   absl::StrCat(MemberAckRequiredPrefix(ref.user_id), EventKeyPart(event_id)), "");
      }
      if (ref.event_class == kClassBan) {
        writes.Put(store::Table::kAux, absl::StrCat(MemberBanPrefix(ref.user_id), ref.guild_id),
                   absl::StrCat(event_id));
      }
    }
    return true;
  }));
  RETURN_IF_ERROR(parse_status);
  writes.Put(store::Table::kAux, kWatermarkKey, absl::StrCat(end));
  // Derived from the log and rebuilt from the watermark after a crash: a
  // synced write per batch would compete with the log writer's own fsync.
  return store_->WriteDerived(writes);
}

absl::StatusOr<std::optional<IndexedEvent>> MemberIndex::Find(absl::string_view user_id,
                                                              uint64_t event_id) const {
  ASSIGN_OR_RETURN(auto value, store_->Get(store::Table::kAux, IndexKey(user_id, event_id)));
  if (!value.has_value()) return std::optional<IndexedEvent>();
  return std::optional<IndexedEvent>(ParseIndexValue(event_id, *value));
}

absl::StatusOr<std::vector<IndexedEvent>> MemberIndex::After(
    absl::string_view user_id, uint64_t after, size_t max,
    const std::optional<std::string>& guild_id) const {
  std::vector<IndexedEvent> events;
  if (max == 0) return events;
  const std::string prefix = MemberIndexPrefix(user_id);
  RETURN_IF_ERROR(store_->ScanFrom(
      store::Table::kAux, prefix, IndexKey(user_id, after + 1),
      [&](absl::string_view key, absl::string_view value) {
        const auto event_id = EventIdOfKey(key);
        if (!event_id.has_value() || *event_id <= after) return true;
        IndexedEvent event = ParseIndexValue(*event_id, value);
        if (!guild_id.has_value() || event.guild_id == *guild_id) events.push_back(std::move(event));
        return events.size() < max;
      }));
  return events;
}

absl::StatusOr<std::vector<uint64_t>> MemberIndex::AckRequired(absl::string_view user_id,
                                                               uint64_t up_to) const {
  std::vector<uint64_t> ids;
  RETURN_IF_ERROR(store_->Scan(store::Table::kAux, MemberAckRequiredPrefix(user_id),
                               [&](absl::string_view key, absl::string_view) {
                                 const auto event_id = EventIdOfKey(key);
                                 if (!event_id.has_value()) return true;
                                 if (*event_id > up_to) return false;
                                 ids.push_back(*event_id);
                                 return true;
                               }));
  return ids;
}

absl::StatusOr<std::vector<std::string>> MemberIndex::BannedGuilds(absl::string_view user_id) const {
  std::vector<std::string> guilds;
  const std::string prefix = MemberBanPrefix(user_id);
  RETURN_IF_ERROR(store_->Scan(store::Table::kAux, prefix,
                               [&](absl::string_view key, absl::string_view) {
                                 guilds.emplace_back(key.substr(prefix.size()));
                                 return true;
                               }));
  return guilds;
}

}  // namespace fedrelay::relay
