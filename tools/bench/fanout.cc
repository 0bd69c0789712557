#include "tools/bench/fanout.h"
#include "tools/bench/load.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/clock.h"
#include "base/crypto.h"
#include "base/encoding.h"
#include "config/config.h"
#include "federation/signing.h"
#include "fedrelay/v1/fedrelay.grpc.pb.h"
#include "relay/relay.h"

namespace fedrelay::bench {

void BM_FanOut(benchmark::State& state, const FanOutSettings* settings) {
  const int subscribers = static_cast<int>(state.range(0));
  const double rate = static_cast<double>(state.range(1));
  const int guilds = static_cast<int>(state.range(2));
  const auto events = static_cast<uint64_t>(rate * settings->seconds);
  spdlog::set_level(spdlog::level::warn);  // a thousand peer_add lines say nothing here

  for (auto _ : state) {
    const std::string dir = absl::StrCat(settings->dir, "/fanout-", subscribers, "-", guilds);
    std::filesystem::remove_all(dir);

    // The relay: alpha submits, sub-i.example subscribe; no rate limit in the way.
    const Ed25519PrivateKey alpha = BenchKey("alpha");
    std::vector<Ed25519PrivateKey> keys;
    config::Config config;
    config.server_id = "relay.example";
    config.origin = "relay.example/log";
    config.key_file = dir + "/relay.key";
    config.data_dir = dir + "/data";
    config.grpc_listen = "127.0.0.1:0";
    config.http_listen = "127.0.0.1:0";
    config.rate_limits.message_rate_limit = 0;
    config.peers.push_back({"alpha.example", alpha.PublicKeyHex(), {}});
    for (int i = 0; i < subscribers; ++i) {
      keys.push_back(BenchKey(absl::StrCat("sub-", i)));
      config.peers.push_back({absl::StrCat("sub-", i, ".example"), keys.back().PublicKeyHex(), {}});
    }
    auto relay = relay::Relay::Start(config);
    if (!relay.ok()) {
      state.SkipWithError(std::string(relay.status().message()).c_str());
      return;
    }
    const std::string target = absl::StrCat("127.0.0.1:", (*relay)->grpc_port());

    // Every config peer became one log entry before the first event.
    Shared shared(config.peers.size() + events + 64);
    std::vector<std::unique_ptr<v1::FederationRelay::Stub>> stubs;
    for (int c = 0; c < kChannels; ++c) {
      grpc::ChannelArguments args;
      args.SetInt("fedrelay.bench.channel", c);  // distinct args: a connection each
      stubs.push_back(v1::FederationRelay::NewStub(
          grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args)));
    }
    std::vector<std::unique_ptr<Subscriber>> streams;
    for (int i = 0; i < subscribers; ++i) {
      streams.push_back(std::make_unique<Subscriber>(stubs[i % kChannels].get(),
                                                     absl::StrCat("sub-", i, ".example"), keys[i],
                                                     guilds == 0 ? "" : absl::StrCat("g", i % guilds), &shared));
    }
    if (!AllAccepted(shared, streams, std::chrono::seconds(30))) {
      state.SkipWithError("not every subscriber was accepted");
      (*relay)->Shutdown();
      return;
    }

    // Signed before the clock starts: the benchmark measures the relay.
    std::vector<v1::Submission> submissions(events);
    uint64_t expected_deliveries = 0;
    for (uint64_t i = 0; i < events; ++i) {
      v1::FederationRequest* request = submissions[i].mutable_federation_request();
      request->set_origin_server_id("alpha.example");
      request->set_origin_server_pubkey(alpha.PublicKeyHex());
      request->set_user_pubkey(HexEncode(Sha256(absl::StrCat("fanout user ", i))));
      request->set_user_display_name("bench user");
      const int guild = guilds == 0 ? 0 : static_cast<int>(i % guilds);
      request->set_guild_id(absl::StrCat("g", guild));
      request->set_timestamp(SystemClock().NowMs());
      federation::SignFederationRequest(request, alpha);
      submissions[i].set_correlation_id(absl::StrCat(i));
      expected_deliveries += guilds == 0 ? subscribers
                                         : subscribers / guilds + (guild < subscribers % guilds ? 1 : 0);
    }

    grpc::ClientContext submit_context;
    auto submit = stubs[0]->Submit(&submit_context);
    std::vector<std::atomic<int64_t>> sent_ns(events);
    std::atomic<uint64_t> refused{0};
    std::atomic<uint64_t> receipts{0};
    std::thread reader([&] {
      v1::SubmissionResult result;
      while (submit->Read(&result)) {
        if (!result.has_receipt()) {
          refused.fetch_add(1);
          continue;
        }
        receipts.fetch_add(1);
        uint64_t serial = 0;
        if (absl::SimpleAtoi(result.correlation_id(), &serial) && serial < events) {
          shared.receipt_latency.Add(NowNs() - sent_ns[serial].load(std::memory_order_acquire));
        }
        const uint64_t id = result.receipt().event_id();
        if (id < shared.receipt_ns.size()) shared.receipt_ns[id].store(NowNs(), std::memory_order_release);
      }
    });
    const auto start = Clock::now();
    const auto period = std::chrono::duration<double>(1.0 / rate);
    for (uint64_t i = 0; i < events; ++i) {
      std::this_thread::sleep_until(start + std::chrono::duration_cast<Clock::duration>(period * i));
      sent_ns[i].store(NowNs(), std::memory_order_release);
      if (!submit->Write(submissions[i])) break;
    }
    const auto submitted = Clock::now();
    submit->WritesDone();
    const bool drained = WaitFor(shared, std::chrono::seconds(30), [&] {
      return shared.deliveries.load() >= expected_deliveries;
    });
    reader.join();
    const grpc::Status submit_status = submit->Finish();
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    state.SetIterationTime(elapsed);

    for (auto& stream : streams) stream->Cancel();
    WaitFor(shared, std::chrono::seconds(30), [&] { return shared.done.load() == subscribers; });
    (*relay)->Shutdown();
    relay->reset();

    const double submit_seconds = std::chrono::duration<double>(submitted - start).count();
    state.counters["events_per_s"] = static_cast<double>(events) / submit_seconds;
    state.counters["deliveries_per_s"] = static_cast<double>(shared.deliveries.load()) / elapsed;
    state.counters["p50_ms"] = shared.latency.QuantileMs(0.50);
    state.counters["p99_ms"] = shared.latency.QuantileMs(0.99);
    state.counters["max_ms"] = shared.latency.MaxMs();
    state.counters["receipt_p99_ms"] = shared.receipt_latency.QuantileMs(0.99);
    if (!submit_status.ok() || refused.load() != 0) {
      state.SkipWithError(absl::StrCat("submissions refused: ", refused.load(), " ",
                                       submit_status.error_message()).c_str());
    } else if (!drained) {
      state.SkipWithError(absl::StrCat("only ", shared.deliveries.load(), " of ", expected_deliveries,
                                       " deliveries arrived within 30 s (", receipts.load(), " of ",
                                       events, " receipts, ", shared.done.load(),
                                       " streams ended early)").c_str());
    }
    std::filesystem::remove_all(dir);
  }
}

}  // namespace fedrelay::bench
