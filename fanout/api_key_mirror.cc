// ApiKeyMirror: one thread watching the API key bucket (see api_key_mirror.h).
#include "fanout/api_key_mirror.h"

#include <chrono>
#include <set>
#include <utility>

#include "spdlog/spdlog.h"

namespace fedrelay::fanout {

using Clock = std::chrono::steady_clock;

std::unique_ptr<ApiKeyMirror> ApiKeyMirror::Start(ApiKeyMirrorOptions options) {
  std::unique_ptr<ApiKeyMirror> mirror(new ApiKeyMirror(std::move(options)));
  mirror->thread_ = std::thread([raw = mirror.get()] { raw->Run(); });
  const auto deadline = Clock::now() + std::chrono::milliseconds(mirror->options_.initial_wait_ms);
  while (!mirror->caught_up() && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!mirror->caught_up()) {
    spdlog::warn("fan-out node: the API key bucket {} is not loaded yet: API keys are refused "
                 "until it is", mirror->options_.bucket);
  }
  return mirror;
}

ApiKeyMirror::~ApiKeyMirror() { Stop(); }

void ApiKeyMirror::Stop() {
  stopping_.store(true);
  if (thread_.joinable()) thread_.join();
}

void ApiKeyMirror::ForgetAll(const char* why) {
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> records =
      options_.api_keys->Records();
  if (!records.ok() || records->empty()) return;
  spdlog::warn("fan-out node: {}: refusing every API key until the key bucket is watched again", why);
  for (const auto& [key_id, record] : *records) (void)options_.api_keys->Forget(key_id);
}

void ApiKeyMirror::Run() {
  std::unique_ptr<bus::NatsBus::KvWatcher> watcher;
  std::set<std::string> loaded;  // keys seen in the current watch's initial values
  bool initial = false;          // the current watch is still giving its initial values
  bool lost = false;             // the connection dropped since the watch began
  auto connected_at = Clock::now();
  bool reported = false;
  while (!stopping_.load()) {
    if (options_.bus->Connected()) {
      connected_at = Clock::now();
    } else {
      lost = true;
      if (Clock::now() - connected_at > std::chrono::milliseconds(options_.lost_after_ms) &&
          caught_up_.exchange(false)) {
        ForgetAll("lost the bus");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    if (lost) {
      // Back on the bus: read the bucket afresh rather than trust a watch
      // that may have missed changes while the connection was down.
      watcher.reset();
      lost = false;
    }
    if (watcher == nullptr) {
      absl::StatusOr<std::unique_ptr<bus::NatsBus::KvWatcher>> made =
          options_.bus->KvWatch(options_.bucket);
      if (!made.ok()) {
        if (!reported) spdlog::warn("fan-out node: watching {}: {}", options_.bucket, made.status().ToString());
        reported = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
        continue;
      }
      watcher = std::move(*made);
      loaded.clear();
      initial = true;
      reported = false;
    }
    absl::StatusOr<std::optional<bus::NatsBus::KvUpdate>> update = watcher->Next(200);
    if (!update.ok()) {
      spdlog::warn("fan-out node: watching {}: {}", options_.bucket, update.status().ToString());
      watcher.reset();
      continue;
    }
    if (!update->has_value()) continue;
    const bus::NatsBus::KvUpdate& change = **update;
    switch (change.kind) {
      case bus::NatsBus::KvUpdate::Kind::kPut:
        if (absl::Status mirrored = options_.api_keys->Mirror(change.value); !mirrored.ok()) {
          // Fail closed: a record this node cannot read is no key here.
          spdlog::warn("fan-out node: ignoring API key record {}: {}", change.key,
                       mirrored.ToString());
          (void)options_.api_keys->Forget(change.key);
        }
        if (initial) loaded.insert(change.key);
        break;
      case bus::NatsBus::KvUpdate::Kind::kDelete:
        (void)options_.api_keys->Forget(change.key);
        break;
      case bus::NatsBus::KvUpdate::Kind::kCaughtUp: {
        // Keys gone from the bucket while this node was not watching are gone here too.
        absl::StatusOr<std::vector<std::pair<std::string, std::string>>> records =
            options_.api_keys->Records();
        if (records.ok()) {
          for (const auto& [key_id, record] : *records) {
            if (loaded.count(key_id) == 0) (void)options_.api_keys->Forget(key_id);
          }
        }
        initial = false;
        caught_up_.store(true);
        spdlog::info("fan-out node: {} API key records loaded from {}", loaded.size(),
                     options_.bucket);
        break;
      }
    }
  }
}

}  // namespace fedrelay::fanout
