#include "tools/bench/e2e_load.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "grpc/grpc.h"
#include "absl/strings/str_cat.h"
#include "base/clock.h"
#include "base/encoding.h"
#include "federation/signing.h"

namespace fedrelay::bench::e2e {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Distinct channel arguments give each channel its own connection.
std::shared_ptr<grpc::Channel> NewConnection(const std::string& target, int serial,
                                            bool stops_reading = false) {
  grpc::ChannelArguments args;
  args.SetInt("fedrelay.bench.connection", serial);
  args.SetMaxReceiveMessageSize(-1);
  if (stops_reading) {
    // A peer that stops reading, as the relay sees it: its receive windows stay
    // at 64 KiB and close. With BDP probing on, gRPC's client library keeps
    // reading into windows it grows to megabytes on the application's behalf,
    // and the relay would be serving a full-rate reader.
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 64 * 1024);
  }
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

// Runs fn(i) for i in [0, n) on every core.
void ParallelFor(size_t n, const std::function<void(size_t)>& fn) {
  const size_t threads = std::max(1u, std::thread::hardware_concurrency());
  std::atomic<size_t> next{0};
  std::vector<std::thread> workers;
  for (size_t t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      for (size_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) fn(i);
    });
  }
  for (auto& worker : workers) worker.join();
}

// A one-shot latch for callback completions.
class Latch {
 public:
  explicit Latch(int64_t count) : count_(count) {}
  void CountDown() {
    std::lock_guard<std::mutex> lock(mu_);
    if (--count_ == 0) cv_.notify_all();
  }
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return count_ <= 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int64_t count_;
};

struct User {
  std::string name;
  Ed25519PrivateKey identity;
  Ed25519PrivateKey device;
  v1::DeviceCert cert;  // made once, reused
  std::string id() const { return identity.PublicKeyHex(); }
};

}  // namespace

Ed25519PrivateKey PartyKey(const std::string& name) {
  return *Ed25519PrivateKey::FromSeed(Sha256("fedrelay bench e2e key " + name));
}

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now().time_since_epoch()).count();
}

// ---------------------------------------------------------------------------
// Daemon.

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Start(const DaemonFiles& files,
                                                      std::chrono::seconds timeout) {
  std::unique_ptr<Daemon> daemon(new Daemon());
  std::filesystem::remove(files.ready_path);
  const auto started = SteadyClock::now();
  daemon->pid_ = fork();
  if (daemon->pid_ < 0) return absl::InternalError("fork failed");
  if (daemon->pid_ == 0) {
    const int fd = open(files.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    dup2(fd, 1);
    dup2(fd, 2);
    execl(files.binary.c_str(), files.binary.c_str(), "--config", files.config_path.c_str(),
          "--ready-file", files.ready_path.c_str(), "--log-level", "warn", static_cast<char*>(nullptr));
    _exit(127);
  }
  const auto deadline = started + timeout;
  while (SteadyClock::now() < deadline) {
    int status = 0;
    if (waitpid(daemon->pid_, &status, WNOHANG) == daemon->pid_) {
      daemon->pid_ = -1;
      std::ifstream log(files.log_path);
      std::stringstream text;
      text << log.rdbuf();
      return absl::InternalError(absl::StrCat("fedrelayd exited during start-up:\n", text.str()));
    }
    std::ifstream ready(files.ready_path);
    std::string content((std::istreambuf_iterator<char>(ready)), std::istreambuf_iterator<char>());
    // {"grpc_port":N,"http_port":M} once complete.
    const size_t at = content.find("\"grpc_port\":");
    if (at != std::string::npos && content.find('}') != std::string::npos) {
      const size_t begin = at + 12;
      const size_t end = content.find_first_of(",}", begin);
      int port = 0;
      if (absl::SimpleAtoi(content.substr(begin, end - begin), &port) && port > 0) {
        daemon->grpc_port_ = port;
        daemon->ready_seconds_ = std::chrono::duration<double>(SteadyClock::now() - started).count();
        return daemon;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  daemon->Stop();
  return absl::DeadlineExceededError("fedrelayd did not become ready in time");
}

Daemon::~Daemon() { Stop(); }

int Daemon::Stop() {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string Daemon::grpc_target() const { return absl::StrCat("127.0.0.1:", grpc_port_); }

uint64_t Daemon::RssBytes() const {
  std::ifstream status(absl::StrCat("/proc/", pid_, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) != 0) continue;
    std::istringstream fields(line.substr(6));
    uint64_t kib = 0;
    fields >> kib;
    return kib * 1024;
  }
  return 0;
}

size_t Daemon::OpenFiles() const {
  std::error_code ec;
  size_t count = 0;
  for (std::filesystem::directory_iterator it(absl::StrCat("/proc/", pid_, "/fd"), ec), end;
       !ec && it != end; it.increment(ec)) {
    ++count;
  }
  return count;
}

uint64_t Daemon::SettledRssBytes(std::chrono::milliseconds quiet, std::chrono::seconds limit) const {
  const auto deadline = SteadyClock::now() + limit;
  uint64_t highest = RssBytes();
  auto last_growth = SteadyClock::now();
  while (SteadyClock::now() < deadline && SteadyClock::now() - last_growth < quiet) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const uint64_t now = RssBytes();
    if (now > highest) {
      highest = now;
      last_growth = SteadyClock::now();
    }
  }
  return highest;
}

// ---------------------------------------------------------------------------
// Signed requests.

std::vector<v1::FederationRequest> SignedJoins(const std::string& tag, size_t count,
                                               const std::string& peer,
                                               const Ed25519PrivateKey& peer_key) {
  std::vector<v1::FederationRequest> requests(count);
  const uint64_t now = SystemClock().NowMs();
  const std::string peer_pubkey = peer_key.PublicKeyHex();
  ParallelFor(count, [&](size_t i) {
    v1::FederationRequest& request = requests[i];
    request.set_origin_server_id(peer);
    request.set_origin_server_pubkey(peer_pubkey);
    request.set_user_pubkey(HexEncode(Sha256(absl::StrCat("e2e user ", tag, " ", i))));
    request.set_user_display_name("bench user");
    request.set_guild_id(absl::StrCat("g", i % 64));
    request.set_timestamp(now);
    federation::SignFederationRequest(&request, peer_key);
  });
  return requests;
}

std::vector<std::vector<v1::Submission>> AsStreams(const std::vector<v1::FederationRequest>& requests,
                                                   int streams) {
  std::vector<std::vector<v1::Submission>> out(streams);
  for (size_t i = 0; i < requests.size(); ++i) {
    auto& list = out[i % streams];
    v1::Submission& item = list.emplace_back();
    item.set_correlation_id(absl::StrCat(list.size() - 1));
    *item.mutable_federation_request() = requests[i];
  }
  return out;
}

std::vector<std::vector<v1::Submission>> MixedWorkload(const std::string& tag, size_t users,
                                                       int streams, const std::string& peer,
                                                       const Ed25519PrivateKey& peer_key) {
  const uint64_t now = SystemClock().NowMs();
  std::vector<std::unique_ptr<User>> people(users);
  ParallelFor(users, [&](size_t u) {
    const std::string name = absl::StrCat("mixed ", tag, " ", u);
    auto user = std::make_unique<User>(User{name, PartyKey(name + " id"), PartyKey(name + " dev"), {}});
    user->cert.set_pubkey(user->device.PublicKeyHex());
    user->cert.set_device_id(absl::StrCat("dev-", u));
    user->cert.set_issued_at(now - 60000);
    user->cert.set_expiry(now + 3600000);
    federation::SignDeviceCert(&user->cert, user->identity);
    people[u] = std::move(user);
  });

  // Unsigned first (in stream order), then signed on every core.
  struct Pending {
    v1::Submission item;
    const User* signer;  // device or identity key holder; null: the peer
  };
  std::vector<std::vector<Pending>> plan(streams);
  for (size_t u = 0; u < users; ++u) {
    const User& user = *people[u];
    auto& list = plan[u % streams];
    const std::string guild = absl::StrCat("g", u % 64);
    {
      Pending& join = list.emplace_back();
      auto* request = join.item.mutable_federation_request();
      request->set_origin_server_id(peer);
      request->set_origin_server_pubkey(peer_key.PublicKeyHex());
      request->set_user_pubkey(user.id());
      request->set_user_display_name("mixed user");
      request->set_guild_id(guild);
      request->set_timestamp(now);
    }
    if (u % 2 == 0) {
      Pending& profile = list.emplace_back();
      auto* request = profile.item.mutable_profile();
      request->set_user_id(user.id());
      request->set_display_name(absl::StrCat("User ", u));
      request->set_bio("a bench user");
      request->set_timestamp(now);
      *request->mutable_device_cert() = user.cert;
      profile.signer = &user;
    }
    // Invites go to the user `streams` places on: the same stream, later in it.
    const size_t target = u + static_cast<size_t>(streams);
    if (u % 4 == 0 && target < users) {
      const User& invitee = *people[target];
      const std::string invite_id = absl::StrCat("inv-", tag, "-", u);
      Pending& invite = list.emplace_back();
      auto* request = invite.item.mutable_dm_invite()->mutable_invite();
      request->set_token("token-" + invite_id);
      request->set_invite_id(invite_id);
      request->set_inviter_id(user.id());
      request->set_inviter_pubkey(user.id());
      request->set_guild_id(guild);
      request->set_guild_name("Bench guild");
      request->set_host_server_url("https://" + peer);
      request->set_timestamp(now);
      request->set_target_user_id(invitee.id());
      *request->mutable_device_cert() = user.cert;
      invite.signer = &user;
      Pending& decision = list.emplace_back();
      if (u % 20 != 0) {
        auto* accept = decision.item.mutable_dm_accept();
        accept->set_invite_id(invite_id);
        accept->set_timestamp(now);
        *accept->mutable_device_cert() = invitee.cert;
      } else {
        auto* reject = decision.item.mutable_dm_reject();
        reject->set_invite_id(invite_id);
        reject->set_timestamp(now);
        *reject->mutable_device_cert() = invitee.cert;
      }
      decision.signer = &invitee;
    }
    if (u % 10 == 3) {
      Pending& migration = list.emplace_back();
      auto* request = migration.item.mutable_migration();
      request->set_user_id(user.id());
      request->set_new_homeserver(absl::StrCat("home", u % 3, ".example"));
      request->set_timestamp(now);
      migration.signer = &user;
    }
    if (u % 20 == 5) {
      Pending& ban = list.emplace_back();
      auto* request = ban.item.mutable_ban();
      request->set_origin_server_id(peer);
      request->set_banned_user_pubkey(user.id());
      request->set_guild_id(guild);
      request->set_reason("spam");
      request->set_evidence_hash("sha256:" + HexEncode(Sha256("evidence " + user.name)));
      request->set_timestamp(now);
    }
  }
  std::vector<Pending*> all;
  for (auto& list : plan) {
    for (size_t i = 0; i < list.size(); ++i) {
      list[i].item.set_correlation_id(absl::StrCat(i));
      all.push_back(&list[i]);
    }
  }
  ParallelFor(all.size(), [&](size_t i) {
    v1::Submission& item = all[i]->item;
    const User* signer = all[i]->signer;
    switch (item.item_case()) {
      case v1::Submission::kFederationRequest:
        federation::SignFederationRequest(item.mutable_federation_request(), peer_key);
        break;
      case v1::Submission::kBan: federation::SignBanNotification(item.mutable_ban(), peer_key); break;
      case v1::Submission::kProfile: federation::SignProfile(item.mutable_profile(), signer->device); break;
      case v1::Submission::kDmInvite:
        federation::SignDMInvite(item.mutable_dm_invite()->mutable_invite(), signer->device);
        break;
      case v1::Submission::kDmAccept: federation::SignDMDecision(item.mutable_dm_accept(), signer->device); break;
      case v1::Submission::kDmReject: federation::SignDMDecision(item.mutable_dm_reject(), signer->device); break;
      case v1::Submission::kMigration:
        federation::SignMigration(item.mutable_migration(), signer->identity);
        break;
      case v1::Submission::ITEM_NOT_SET: break;
    }
  });
  std::vector<std::vector<v1::Submission>> out(streams);
  for (int s = 0; s < streams; ++s) {
    for (Pending& pending : plan[s]) out[s].push_back(std::move(pending.item));
  }
  return out;
}

// ---------------------------------------------------------------------------
// Load.

namespace {

void Merge(LoadResult& into, LoadResult&& part) {
  into.accepted += part.accepted;
  into.refused += part.refused;
  if (into.first_refusal.empty()) into.first_refusal = std::move(part.first_refusal);
  into.max_event_id = std::max(into.max_event_id, part.max_event_id);
  into.latencies_ns.insert(into.latencies_ns.end(), part.latencies_ns.begin(), part.latencies_ns.end());
}

}  // namespace

LoadResult SubmitStreams(const std::string& target, const std::vector<std::vector<v1::Submission>>& streams,
                         const ReceiptFn& on_receipt) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (size_t s = 0; s < streams.size(); ++s) {
    channels.push_back(NewConnection(target, static_cast<int>(s)));
    channels.back()->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10));
  }
  std::vector<LoadResult> parts(streams.size());
  std::vector<std::thread> threads;
  const int64_t start = NowNs();
  for (size_t s = 0; s < streams.size(); ++s) {
    threads.emplace_back([&, s] {
      const auto& items = streams[s];
      LoadResult& part = parts[s];
      auto stub = v1::FederationRelay::NewStub(channels[s]);
      grpc::ClientContext context;
      auto stream = stub->Submit(&context);
      std::vector<std::atomic<int64_t>> offered(items.size());
      std::thread reader([&] {
        v1::SubmissionResult result;
        while (stream->Read(&result)) {
          const int64_t now = NowNs();
          if (!result.has_receipt()) {
            ++part.refused;
            if (part.first_refusal.empty()) {
              part.first_refusal = absl::StrCat(result.error().code(), ": ", result.error().message());
            }
            continue;
          }
          ++part.accepted;
          part.max_event_id = std::max(part.max_event_id, result.receipt().event_id());
          if (on_receipt) on_receipt(result.receipt().event_id(), now);
          size_t index = 0;
          if (absl::SimpleAtoi(result.correlation_id(), &index) && index < offered.size()) {
            part.latencies_ns.push_back(now - offered[index].load(std::memory_order_acquire));
          }
        }
      });
      for (size_t i = 0; i < items.size(); ++i) {
        offered[i].store(NowNs(), std::memory_order_release);
        if (!stream->Write(items[i])) break;
      }
      stream->WritesDone();
      reader.join();
      const grpc::Status status = stream->Finish();
      if (!status.ok() && part.first_refusal.empty()) {
        part.first_refusal = absl::StrCat("stream ended: ", status.error_message());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  LoadResult result;
  result.seconds = static_cast<double>(NowNs() - start) / 1e9;
  for (auto& part : parts) Merge(result, std::move(part));
  const uint64_t sent = [&] {
    uint64_t n = 0;
    for (const auto& items : streams) n += items.size();
    return n;
  }();
  if (result.accepted + result.refused < sent && result.first_refusal.empty()) {
    result.first_refusal = absl::StrCat(sent - result.accepted - result.refused, " submissions unanswered");
  }
  result.refused = sent - result.accepted;
  return result;
}

LoadResult UnaryFederate(const std::string& target, const std::vector<v1::FederationRequest>& requests,
                         int callers, int connections) {
  std::vector<std::unique_ptr<v1::FederationRelay::Stub>> stubs;
  for (int c = 0; c < connections; ++c) {
    auto channel = NewConnection(target, 100 + c);
    channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10));
    stubs.push_back(v1::FederationRelay::NewStub(channel));
  }
  struct Call {
    grpc::ClientContext context;
    v1::FederationResponse response;
    int64_t started = 0;
  };
  std::mutex mu;
  LoadResult result;
  std::atomic<size_t> next{0};
  Latch finished(callers);
  std::function<void(int)> issue = [&](int caller) {
    const size_t i = next.fetch_add(1);
    if (i >= requests.size()) {
      finished.CountDown();
      return;
    }
    auto* call = new Call();
    call->started = NowNs();
    stubs[caller % connections]->async()->Federate(
        &call->context, &requests[i], &call->response, [&, call, caller](grpc::Status status) {
          const int64_t now = NowNs();
          {
            std::lock_guard<std::mutex> lock(mu);
            if (status.ok()) {
              ++result.accepted;
              result.latencies_ns.push_back(now - call->started);
              result.max_event_id = std::max(result.max_event_id, call->response.receipt().event_id());
            } else {
              ++result.refused;
              if (result.first_refusal.empty()) result.first_refusal = status.error_message();
            }
          }
          delete call;
          issue(caller);
        });
  };
  const int64_t start = NowNs();
  for (int c = 0; c < callers; ++c) issue(c);
  finished.Wait();
  result.seconds = static_cast<double>(NowNs() - start) / 1e9;
  return result;
}

double PingRate(const std::string& target, int callers, double seconds) {
  auto channel = NewConnection(target, 200);
  channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto stub = v1::FederationRelay::NewStub(channel);
  struct Call {
    grpc::ClientContext context;
    v1::PingRequest request;
    v1::PongResponse response;
  };
  std::atomic<uint64_t> done{0};
  std::atomic<uint64_t> failed{0};
  const int64_t start = NowNs();
  const auto end_ns = start + static_cast<int64_t>(seconds * 1e9);
  Latch finished(callers);
  std::function<void()> issue = [&] {
    if (NowNs() >= end_ns) {
      finished.CountDown();
      return;
    }
    auto* call = new Call();
    stub->async()->Ping(&call->context, &call->request, &call->response, [&, call](grpc::Status status) {
      (status.ok() ? done : failed).fetch_add(1);
      delete call;
      issue();
    });
  };
  for (int c = 0; c < callers; ++c) issue();
  finished.Wait();
  const double elapsed = static_cast<double>(NowNs() - start) / 1e9;
  return failed.load() == 0 ? static_cast<double>(done.load()) / elapsed : 0;
}

double VerifyRate(int threads, double seconds) {
  const auto key = PartyKey("verify baseline");
  const std::string message(200, 'm');
  const std::string signature = key.Sign(message);
  const std::string public_key = key.PublicKey();
  std::atomic<uint64_t> total{0};
  std::atomic<bool> bad{false};
  const int64_t start = NowNs();
  const int64_t end_ns = start + static_cast<int64_t>(seconds * 1e9);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      uint64_t n = 0;
      do {
        for (int i = 0; i < 64; ++i, ++n) {
          if (!Ed25519Verify(public_key, message, signature)) bad.store(true);
        }
      } while (NowNs() < end_ns);
      total.fetch_add(n);
    });
  }
  for (auto& worker : workers) worker.join();
  const double elapsed = static_cast<double>(NowNs() - start) / 1e9;
  return bad.load() ? 0 : static_cast<double>(total.load()) / elapsed;
}

double QuantileMs(std::vector<int64_t>& values_ns, double q) {
  if (values_ns.empty()) return 0;
  std::sort(values_ns.begin(), values_ns.end());
  const auto rank = static_cast<size_t>(q * static_cast<double>(values_ns.size() - 1));
  return static_cast<double>(values_ns[rank]) / 1e6;
}

// ---------------------------------------------------------------------------
// Subscribers.

class SubscriberSet::Stream final : public grpc::ClientReadReactor<v1::StreamResponse> {
 public:
  Stream(SubscriberSet* set, v1::FederationRelay::Stub* stub, const Peer& peer, Mode mode,
         uint64_t resume_after)
      : set_(set), mode_(mode) {
    for (const auto& [name, value] : federation::CallSignatureMetadata(
             peer.server_id, "relay.example", federation::kSubscribeMethod, SystemClock().NowMs(),
             *peer.key)) {
      context_.AddMetadata(name, value);
    }
    request_.set_resume_from_event_id(absl::StrCat(resume_after));
    request_.add_kinds("member_joined");
    if (mode == Mode::kIdle) request_.add_guild_ids("a guild without events");
    stub->async()->Subscribe(&context_, &request_, this);
    if (mode != Mode::kStalled) StartRead(&response_);
    StartCall();
  }

  void Cancel() { context_.TryCancel(); }

  void OnReadInitialMetadataDone(bool ok) override {
    if (ok) set_->accepted_.fetch_add(1);
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    if (set_->on_event_) set_->on_event_(response_.event_id(), NowNs());
    StartRead(&response_);
  }
  void OnDone(const grpc::Status&) override { set_->ended_.fetch_add(1); }

 private:
  SubscriberSet* const set_;
  const Mode mode_;
  grpc::ClientContext context_;
  v1::SubscribeRequest request_;
  v1::StreamResponse response_;
};

SubscriberSet::SubscriberSet(const std::string& target, const std::vector<Peer>& peers, Mode mode,
                             uint64_t resume_after, std::function<void(uint64_t, int64_t)> on_event)
    : on_event_(std::move(on_event)) {
  // Stalled subscribers are peers that stopped reading: one connection each,
  // so that one's closed window is its own.
  const bool stalled = mode == Mode::kStalled;
  const size_t connections = stalled ? peers.size() : std::min<size_t>(8, peers.size());
  for (size_t c = 0; c < connections; ++c) {
    channels_.push_back(
        NewConnection(target, 300 + static_cast<int>(c) + static_cast<int>(mode) * 10000, stalled));
    stubs_.push_back(v1::FederationRelay::NewStub(channels_.back()));
  }
  for (size_t i = 0; i < peers.size(); ++i) {
    streams_.push_back(std::make_unique<Stream>(this, stubs_[i % stubs_.size()].get(), peers[i], mode,
                                                resume_after));
  }
}

SubscriberSet::~SubscriberSet() { Close(); }

bool SubscriberSet::WaitAccepted(std::chrono::seconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  const int wanted = static_cast<int>(streams_.size());
  while (accepted_.load() < wanted && ended_.load() == 0 && SteadyClock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return accepted_.load() == wanted;
}

void SubscriberSet::Close() {
  for (auto& stream : streams_) stream->Cancel();
  const int wanted = static_cast<int>(streams_.size());
  const auto deadline = SteadyClock::now() + std::chrono::seconds(30);
  while (ended_.load() < wanted && SteadyClock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (ended_.load() == wanted) streams_.clear();  // else leak rather than free a live reactor
}

// ---------------------------------------------------------------------------
// Idle connections.

uint64_t RaiseOpenFileLimit(uint64_t wanted) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < wanted) {
    limit.rlim_cur = std::min<rlim_t>(wanted, limit.rlim_max);
    setrlimit(RLIMIT_NOFILE, &limit);
    getrlimit(RLIMIT_NOFILE, &limit);
  }
  return limit.rlim_cur;
}

absl::StatusOr<std::unique_ptr<IdleConnections>> IdleConnections::Open(int port, size_t count) {
  RaiseOpenFileLimit(count + 1024);
  auto idle = std::make_unique<IdleConnections>();
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // Client preface, then an empty SETTINGS frame (length 0, type 4, no flags, stream 0).
  static constexpr char kPreface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0";
  static constexpr char kSettingsAck[] = "\0\0\0\x04\x01\0\0\0\0";
  for (size_t i = 0; i < count; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return absl::ResourceExhaustedError(absl::StrCat("socket() failed after ", i, " connections"));
    idle->fds_.push_back(fd);
    if (connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
      return absl::UnavailableError(absl::StrCat("connect failed after ", i, " connections"));
    }
    if (write(fd, kPreface, sizeof(kPreface) - 1) != static_cast<ssize_t>(sizeof(kPreface) - 1)) {
      return absl::UnavailableError("writing the HTTP/2 preface failed");
    }
  }
  // The server's SETTINGS arrive on each; acknowledge them so no settings
  // timeout closes the connection.
  for (const int fd : idle->fds_) {
    pollfd readable{fd, POLLIN, 0};
    if (poll(&readable, 1, 10000) <= 0) return absl::DeadlineExceededError("the server sent no SETTINGS");
    char buffer[512];
    if (read(fd, buffer, sizeof(buffer)) <= 0) return absl::UnavailableError("the server closed an idle connection");
    if (write(fd, kSettingsAck, sizeof(kSettingsAck) - 1) != static_cast<ssize_t>(sizeof(kSettingsAck) - 1)) {
      return absl::UnavailableError("writing SETTINGS ack failed");
    }
  }
  return idle;
}

IdleConnections::~IdleConnections() {
  for (const int fd : fds_) close(fd);
}

}  // namespace fedrelay::bench::e2e
