#include "relay/grpc/recent_rejections.h"

#include <utility>

#include "base/errors.h"

namespace fedrelay::relay {
namespace {

// Cuts `text` to at most `max` bytes without splitting a UTF-8 sequence: the
// records travel in proto3 strings, which must stay valid UTF-8.
void CutUtf8(std::string& text, size_t max) {
  if (text.size() <= max) return;
  size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  text.resize(end);
}

}  // namespace

RecentRejections& RecentRejections::Default() {
  static auto* rejections = new RecentRejections();  // never destroyed: used until exit
  return *rejections;
}

void RecentRejections::Record(const absl::Status& status, std::string peer, std::string kind,
                              uint64_t at_ms) {
  if (status.ok()) return;
  RecentRejection rejection;
  rejection.at_ms = at_ms;
  rejection.code = MachineCode(status);
  rejection.peer = peer.empty() ? "unknown" : std::move(peer);
  rejection.kind = std::move(kind);
  rejection.message = WireMessage(status);
  CutUtf8(rejection.message, kMaxMessageBytes);
  CutUtf8(rejection.peer, kMaxMessageBytes);
  absl::MutexLock lock(&mu_);
  ++total_;
  if (ring_.size() == kCapacity) ring_.pop_front();
  ring_.push_back(std::move(rejection));
}

std::vector<RecentRejection> RecentRejections::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return {ring_.begin(), ring_.end()};
}

uint64_t RecentRejections::total() const {
  absl::MutexLock lock(&mu_);
  return total_;
}

}  // namespace fedrelay::relay
