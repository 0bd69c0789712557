#include "relay/downstream/fan_out_ring.h"

#include <algorithm>
#include <utility>

#include "federation/rules/rules.h"

namespace fedrelay::relay::downstream {
namespace {

// Fills in what every stream shares (off the writer thread): the facts
// visibility needs, and each event's wire encoding.
void ResolveAndEncode(FanOutEntry& shared, const Visibility& visibility) {
  shared.facts = visibility.Resolve(*shared.entry);
  const size_t events = static_cast<size_t>(shared.entry->events_size());
  shared.encoded.reserve(events);
  shared.encoded_own.resize(events);
  for (size_t i = 0; i < events; ++i) {
    shared.encoded.push_back(EncodeMessage(shared.entry->events(static_cast<int>(i))));
    if (const auto& own = shared.facts->events[i].with_token; own != nullptr) {
      shared.encoded_own[i] = EncodeMessage(*own);
    }
  }
}

}  // namespace

grpc::Slice EncodeMessage(const google::protobuf::MessageLite& message) {
  grpc::Slice slice(message.ByteSizeLong());
  message.SerializeWithCachedSizesToArray(const_cast<uint8_t*>(slice.begin()));
  return slice;
}

FanOutEntryPtr MakeFanOutEntry(std::shared_ptr<const v1::LogEntry> entry, const Visibility& visibility) {
  auto shared = std::make_shared<FanOutEntry>();
  shared->entry = std::move(entry);
  ResolveAndEncode(*shared, visibility);
  return shared;
}

FanOutRing::FanOutRing(size_t capacity, uint64_t log_size)
    : capacity_(capacity),
      published_(log_size),
      ready_through_(log_size),
      ready_(std::make_shared<std::atomic<uint64_t>>(log_size)) {}

void FanOutRing::Publish(const std::vector<std::shared_ptr<const v1::LogEntry>>& entries) {
  if (entries.empty()) return;
  std::vector<UnpinnedPeer> unpinned;
  std::vector<std::shared_ptr<FanOutEntry>> slots;
  slots.reserve(entries.size());
  for (const auto& entry : entries) {
    if (entry->has_operator_action()) {
      const std::string& action = entry->operator_action().action();
      if (action == federation::rules::kPeerRemove) {
        unpinned.push_back({entry->operator_action().server_id(), "the peer was removed"});
      } else if (action == federation::rules::kPeerRotate) {
        unpinned.push_back({entry->operator_action().server_id(), "the peer's key was rotated"});
      }
    }
    auto slot = std::make_shared<FanOutEntry>();
    slot->entry = entry;
    slots.push_back(std::move(slot));
  }
  absl::MutexLock lock(&mu_);  // unlocking it wakes NextBatch
  if (!ring_.empty() && ring_.back()->event_id() + 1 != slots.front()->event_id()) {
    ring_.clear();  // keep the ids consecutive
  }
  for (auto& slot : slots) ring_.push_back(std::move(slot));
  while (ring_.size() > capacity_) ring_.pop_front();
  published_ = entries.back()->event_id();
  for (auto& peer : unpinned) unpinned_.push_back(std::move(peer));
}

std::optional<ReadyBatch> FanOutRing::NextBatch(const Visibility& visibility) {
  ReadyBatch batch;
  std::vector<std::shared_ptr<FanOutEntry>> fresh;
  {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &FanOutRing::HasWork));
    if (stopping_) return std::nullopt;
    batch.through = published_;
    // The entries handed in since the last round that are still in the ring;
    // older ones were pushed out already and are read from the log.
    for (auto it = ring_.rbegin(); it != ring_.rend() && (*it)->event_id() > ready_through_; ++it) {
      fresh.push_back(*it);
    }
    batch.unpinned.swap(unpinned_);
  }
  std::reverse(fresh.begin(), fresh.end());
  // No stream reads these until they are marked ready below.
  for (const auto& slot : fresh) ResolveAndEncode(*slot, visibility);
  {
    absl::MutexLock lock(&mu_);
    ready_through_ = std::max(ready_through_, batch.through);
    ready_->store(ready_through_);
  }
  batch.entries.assign(fresh.begin(), fresh.end());
  return batch;
}

void FanOutRing::Stop() {
  absl::MutexLock lock(&mu_);
  stopping_ = true;
}

FanOutRing::ReadResult FanOutRing::Read(uint64_t from_id, uint64_t max, const EventFilter& filter,
                                        std::deque<FanOutEntryPtr>* out, uint64_t* through) const {
  absl::MutexLock lock(&mu_);
  if (from_id > ready_through_) return ReadResult::kNothingReady;
  if (ring_.empty() || from_id < ring_.front()->event_id()) return ReadResult::kNotInRing;
  const uint64_t first = ring_.front()->event_id();
  const uint64_t end = std::min(ready_through_, from_id + max - 1);
  for (uint64_t id = from_id; id <= end; ++id) {
    const std::shared_ptr<FanOutEntry>& entry = ring_[id - first];
    if (filter.MayMatch(*entry->entry)) out->push_back(entry);
  }
  *through = end;
  return ReadResult::kRead;
}

}  // namespace fedrelay::relay::downstream
