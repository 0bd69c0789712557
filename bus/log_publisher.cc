// LogPublisher: one thread that keeps the JetStream copy of the log in step
// with the store (see log_publisher.h for the contract).
//
//   writer thread: OnDurable -> wake ----+
//                                         v
//   publisher thread: connect -> sync (compare the stream's last entry with
//   the log) -> publish event_ids (published, Size()] in order, each with
//   msg id = event_id and expected last sequence = event_id - 1 -> wait
#include "bus/log_publisher.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "base/crypto.h"
#include "base/encoding.h"
#include "base/metrics.h"
#include "base/status_macros.h"
#include "federation/state.h"
#include "fedrelay/v1/fedrelay.pb.h"
#include "spdlog/spdlog.h"

namespace fedrelay::bus {
namespace {

// Leaves read from the store per round (bounds memory while catching up).
constexpr uint64_t kChunk = 256;

}  // namespace

std::string TokenSubject(const BusNames& names, const std::string& invite_id) {
  return absl::StrCat(names.tokens_subject, ".", HexEncode(Sha256(invite_id)));
}

struct LogPublisher::Core {
  explicit Core(LogPublisherOptions o) : options(std::move(o)) {}

  const LogPublisherOptions options;
  std::unique_ptr<NatsBus> bus;  // the publisher thread's own
  bool synced = false;           // publisher thread only

  mutable std::mutex mu;
  std::condition_variable wake;
  bool stopping = false;                              // guarded by mu
  bool dirty = false;                                 // guarded by mu: OnDurable since the last look
  std::optional<std::pair<uint64_t, std::string>> checkpoint;  // guarded by mu: to publish
  State state = State::kConnecting;                   // guarded by mu
  std::string refusal;                                // guarded by mu
  uint64_t published = 0;                             // guarded by mu
  std::chrono::steady_clock::time_point drain_deadline;  // guarded by mu, set by Stop
  std::thread thread;

  void SetState(State next, std::string why = "") {
    std::lock_guard<std::mutex> lock(mu);
    state = next;
    refusal = std::move(why);
  }

  void Refuse(std::string why) {
    spdlog::error("bus: refusing to publish to stream {}: {}", options.names.stream, why);
    SetState(State::kRefused, std::move(why));
  }

  // Compares the stream with the log and decides where publishing resumes.
  // Returns false when refused (a stale or foreign sequencer).
  absl::StatusOr<bool> Sync() {
    ASSIGN_OR_RETURN(uint64_t last,
                     bus->EnsureStream(options.names.stream, {options.names.log_subject}));
    RETURN_IF_ERROR(bus->EnsureStream(options.names.tokens_stream,
                                      {options.names.tokens_subject + ".>"},
                                      /*max_msgs_per_subject=*/1)
                        .status());
    RETURN_IF_ERROR(bus->EnsureStream(options.names.checkpoint_stream,
                                      {options.names.checkpoint_subject},
                                      /*max_msgs_per_subject=*/1)
                        .status());
    const uint64_t size = options.store->Size();
    if (last > size) {
      Refuse(absl::StrCat("the stream holds ", last, " entries but this log only ", size,
                          ": another sequencer's log is on the bus, or this store is behind it"));
      return false;
    }
    if (last > 0) {
      ASSIGN_OR_RETURN(std::optional<std::string> on_stream,
                       bus->GetMessage(options.names.stream, last));
      ASSIGN_OR_RETURN(std::string leaf, options.store->GetLeaf(last - 1));
      if (!on_stream.has_value() || *on_stream != leaf) {
        Refuse(absl::StrCat("event ", last, " on the stream is not this log's event ", last,
                            ": another sequencer's log is on the bus"));
        return false;
      }
    }
    if (last < size) {
      spdlog::info("bus: stream {} holds {} of {} entries; publishing the rest",
                   options.names.stream, last, size);
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      published = last;
      state = State::kPublishing;
    }
    return true;
  }

  // The token of a DM invite entry goes out before the entry itself.
  absl::Status PublishToken(absl::string_view leaf) {
    v1::LogEntry entry;
    if (!entry.ParseFromString(std::string(leaf)) || !entry.has_dm_invite()) {
      return absl::OkStatus();
    }
    const std::string& invite_id = entry.dm_invite().invite_id();
    ASSIGN_OR_RETURN(std::optional<std::string> token,
                     options.store->Get(store::Table::kAux, federation::InviteTokenKey(invite_id)));
    if (!token.has_value()) return absl::OkStatus();
    return bus->Publish(TokenSubject(options.names, invite_id), *token, /*msg_id=*/"",
                        /*expected_last_sequence=*/0, nullptr)
        .status();
  }

  // Publishes one entry; false when refused.
  absl::StatusOr<bool> PublishEntry(uint64_t event_id, absl::string_view leaf) {
    RETURN_IF_ERROR(PublishToken(leaf));
    PublishError error;
    absl::StatusOr<PublishAck> ack = bus->Publish(options.names.log_subject, leaf,
                                                  absl::StrCat(event_id), event_id - 1, &error);
    if (!ack.ok()) {
      if (error.js_code == kWrongLastSequence) {
        // Someone else moved the stream: Sync decides whether it was us (an
        // earlier attempt that timed out) or another sequencer.
        synced = false;
        return true;
      }
      return ack.status();
    }
    if (ack->sequence != event_id) {
      Refuse(absl::StrCat("event ", event_id, " landed at stream sequence ", ack->sequence));
      return false;
    }
    if (ack->duplicate) {
      // The stream had this id already (a retry, or another sequencer): only
      // the same bytes count as published.
      ASSIGN_OR_RETURN(std::optional<std::string> on_stream,
                       bus->GetMessage(options.names.stream, event_id));
      if (!on_stream.has_value() || *on_stream != leaf) {
        Refuse(absl::StrCat("event ", event_id, " on the stream is not this log's event ",
                            event_id, ": another sequencer's log is on the bus"));
        return false;
      }
    }
    std::lock_guard<std::mutex> lock(mu);
    published = event_id;
    return true;
  }

  // One round: publish what the log has beyond `published`. False when refused.
  absl::StatusOr<bool> PublishPending() {
    uint64_t from;
    {
      std::lock_guard<std::mutex> lock(mu);
      from = published;
    }
    const uint64_t size = options.store->Size();
    while (from < size && synced) {
      const uint64_t end = std::min(size, from + kChunk);
      std::vector<std::string> leaves;
      RETURN_IF_ERROR(options.store->ScanLeaves(from, end, [&](uint64_t, absl::string_view leaf) {
        leaves.emplace_back(leaf);
        return true;
      }));
      for (size_t i = 0; i < leaves.size() && synced; ++i) {
        ASSIGN_OR_RETURN(bool ok, PublishEntry(from + i + 1, leaves[i]));
        if (!ok) return false;
      }
      std::lock_guard<std::mutex> lock(mu);
      from = published;
    }
    std::optional<std::pair<uint64_t, std::string>> checkpoint_to_send;
    {
      std::lock_guard<std::mutex> lock(mu);
      // A checkpoint goes out only once the entries it covers are on the stream.
      if (checkpoint.has_value() && checkpoint->first <= published) checkpoint_to_send.swap(checkpoint);
    }
    if (checkpoint_to_send.has_value()) {
      absl::Status sent = bus->Publish(options.names.checkpoint_subject, checkpoint_to_send->second,
                                       "", 0, nullptr)
                              .status();
      if (!sent.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (!checkpoint.has_value()) checkpoint = std::move(checkpoint_to_send);
        return sent;
      }
    }
    return true;
  }

  bool WaitForWork(std::chrono::milliseconds at_most) {
    std::unique_lock<std::mutex> lock(mu);
    wake.wait_for(lock, at_most, [&] { return stopping || dirty; });
    dirty = false;
    return !stopping;
  }

  // True once Stop asked and everything durable is out, or the drain time is up.
  bool DoneDraining() {
    std::lock_guard<std::mutex> lock(mu);
    if (!stopping) return false;
    if (std::chrono::steady_clock::now() >= drain_deadline) return true;
    return state != State::kPublishing || (published >= options.store->Size() && !checkpoint);
  }

  // Connects, syncs and publishes what is pending; false when refused.
  absl::StatusOr<bool> Step() {
    if (bus == nullptr) {
      ASSIGN_OR_RETURN(bus, NatsBus::Connect(options.nats_url, "fedrelayd publisher",
                                             options.connect_timeout_ms));
      synced = false;
    }
    if (!synced) {
      ASSIGN_OR_RETURN(bool ok, Sync());
      if (!ok) return false;
      synced = true;
    }
    return PublishPending();
  }

  void Run() {
    bool reported_down = false;
    while (!DoneDraining()) {
      if (state_is(State::kRefused)) {
        if (!WaitForWork(std::chrono::milliseconds(1000))) return;  // refused for good
        continue;
      }
      absl::StatusOr<bool> step = Step();
      if (step.ok() && !*step) continue;  // refused
      if (!step.ok()) {
        if (!reported_down) {
          spdlog::warn("bus: cannot publish to {} (retrying every {} ms): {}", options.nats_url,
                       options.retry_ms, step.status().ToString());
          reported_down = true;
        }
        synced = false;
        // Stopping while NATS is away: nothing more can go out.
        if (!WaitForWork(std::chrono::milliseconds(options.retry_ms))) return;
        continue;
      }
      if (reported_down) {
        spdlog::info("bus: publishing to {} again", options.nats_url);
        reported_down = false;
      }
      if (!synced) continue;  // the stream moved: sync again at once
      if (DoneDraining()) return;
      WaitForWork(std::chrono::milliseconds(1000));
    }
  }

  bool state_is(State s) const {
    std::lock_guard<std::mutex> lock(mu);
    return state == s;
  }
};

std::unique_ptr<LogPublisher> LogPublisher::Start(LogPublisherOptions options) {
  auto core = std::make_shared<Core>(std::move(options));
  core->thread = std::thread([raw = core.get()] { raw->Run(); });
  MetricsRegistry::Default().AddCallbackGauge(
      "fedrelay_bus_published_event_id", "Highest event_id the bus stream holds from this log",
      [raw = core.get()] {
        std::lock_guard<std::mutex> lock(raw->mu);
        return static_cast<double>(raw->published);
      });
  MetricsRegistry::Default().AddCallbackGauge(
      "fedrelay_bus_refused", "1 when the bus stream refused this relay as its sequencer",
      [raw = core.get()] {
        std::lock_guard<std::mutex> lock(raw->mu);
        return raw->state == State::kRefused ? 1.0 : 0.0;
      });
  return std::unique_ptr<LogPublisher>(new LogPublisher(std::move(core)));
}

LogPublisher::~LogPublisher() { Stop(); }

void LogPublisher::OnDurable(const std::vector<std::shared_ptr<const v1::LogEntry>>&) {
  {
    std::lock_guard<std::mutex> lock(core_->mu);
    core_->dirty = true;
  }
  core_->wake.notify_one();
}

void LogPublisher::PublishCheckpoint(uint64_t tree_size, const std::string& note) {
  {
    std::lock_guard<std::mutex> lock(core_->mu);
    if (core_->checkpoint.has_value() && core_->checkpoint->first > tree_size) return;
    core_->checkpoint = std::make_pair(tree_size, note);
    core_->dirty = true;
  }
  core_->wake.notify_one();
}

void LogPublisher::Stop(int64_t timeout_ms) {
  {
    std::lock_guard<std::mutex> lock(core_->mu);
    if (core_->stopping) return;
    core_->stopping = true;
    core_->drain_deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  }
  core_->wake.notify_one();
  if (core_->thread.joinable()) core_->thread.join();
  MetricsRegistry::Default().RemoveCallbacks("fedrelay_bus_published_event_id");
  MetricsRegistry::Default().RemoveCallbacks("fedrelay_bus_refused");
  core_->bus.reset();
}

LogPublisher::State LogPublisher::state() const {
  std::lock_guard<std::mutex> lock(core_->mu);
  return core_->state;
}

std::string LogPublisher::refusal() const {
  std::lock_guard<std::mutex> lock(core_->mu);
  return core_->refusal;
}

uint64_t LogPublisher::published() const {
  std::lock_guard<std::mutex> lock(core_->mu);
  return core_->published;
}

}  // namespace fedrelay::bus
