#include "tools/bench/cluster.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/encoding.h"
#include "tools/bench/load.h"

namespace fedrelay::bench {

std::string ClusterPeersYaml(int subscribers) {
  std::string yaml = absl::StrCat("peers:\n  - server_id: alpha.example\n    pubkey: ",
                                  BenchKey("alpha").PublicKeyHex(), "\n");
  for (int i = 0; i < subscribers; ++i) {
    absl::StrAppend(&yaml, "  - server_id: sub-", i, ".example\n    pubkey: ",
                    BenchKey(absl::StrCat("sub-", i)).PublicKeyHex(), "\n");
  }
  return yaml;
}

void BM_Cluster(benchmark::State& state, const ClusterSettings* settings) {
  const int subscribers = static_cast<int>(state.range(0));
  const double rate = static_cast<double>(state.range(1));
  const auto events = static_cast<uint64_t>(rate * settings->seconds);
  const Ed25519PrivateKey alpha = BenchKey("alpha");

  for (auto _ : state) {
    auto channel_to = [](const std::string& target, int index) {
      grpc::ChannelArguments args;
      args.SetInt("fedrelay.bench.channel", index);  // distinct args: a connection each
      return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
    };
    auto submit_stub = v1::FederationRelay::NewStub(channel_to(settings->sequencer, -1));
    // Event ids start after whatever the log holds: subscribers resume from
    // their cursor, so they only count events submitted from now on.
    std::vector<std::unique_ptr<v1::FederationRelay::Stub>> stubs;
    for (size_t node = 0; node < settings->serving.size(); ++node) {
      for (int c = 0; c < kChannels; ++c) {
        stubs.push_back(v1::FederationRelay::NewStub(
            channel_to(settings->serving[node], static_cast<int>(node) * kChannels + c)));
      }
    }
    // The log grows by at most `events` during the run; the ids before it are
    // sized generously (receipts beyond are ignored).
    Shared shared(events + (1u << 22));
    std::vector<std::unique_ptr<Subscriber>> streams;
    for (int i = 0; i < subscribers; ++i) {
      // Round-robin over nodes, then over each node's connections.
      const size_t node = static_cast<size_t>(i) % settings->serving.size();
      const size_t connection = (static_cast<size_t>(i) / settings->serving.size()) % kChannels;
      streams.push_back(std::make_unique<Subscriber>(
          stubs[node * kChannels + connection].get(), absl::StrCat("sub-", i, ".example"),
          BenchKey(absl::StrCat("sub-", i)), "", &shared));
    }
    if (!AllAccepted(shared, streams, std::chrono::seconds(60))) {
      state.SkipWithError("not every subscriber was accepted (are the sub-i peers configured?)");
      return;
    }
    // Streams may first replay what they missed earlier; count from a settled start.
    std::this_thread::sleep_for(std::chrono::seconds(1));
    std::vector<uint64_t> before;
    for (auto& stream : streams) before.push_back(stream->received());
    const uint64_t deliveries_before = shared.deliveries.load();
    const uint64_t disorder_before = shared.out_of_order.load();

    std::vector<v1::Submission> submissions(events);
    const uint64_t run = static_cast<uint64_t>(NowNs());
    for (uint64_t i = 0; i < events; ++i) {
      v1::FederationRequest* request = submissions[i].mutable_federation_request();
      request->set_origin_server_id("alpha.example");
      request->set_origin_server_pubkey(alpha.PublicKeyHex());
      request->set_user_pubkey(HexEncode(Sha256(absl::StrCat("cluster user ", run, " ", i))));
      request->set_user_display_name("bench user");
      request->set_guild_id("g1");
      request->set_timestamp(SystemClock().NowMs());
      federation::SignFederationRequest(request, alpha);
      submissions[i].set_correlation_id(absl::StrCat(i));
    }
    grpc::ClientContext submit_context;
    auto submit = submit_stub->Submit(&submit_context);
    std::atomic<uint64_t> refused{0};
    // When the last receipt arrived: accepted/s is the sequencer's own rate.
    std::atomic<uint64_t> accepted{0};
    std::atomic<std::chrono::steady_clock::rep> last_receipt{0};
    std::thread reader([&] {
      v1::SubmissionResult result;
      while (submit->Read(&result)) {
        if (!result.has_receipt()) {
          refused.fetch_add(1);
          continue;
        }
        accepted.fetch_add(1);
        last_receipt.store(std::chrono::steady_clock::now().time_since_epoch().count());
        const uint64_t id = result.receipt().event_id();
        if (id < shared.receipt_ns.size()) shared.receipt_ns[id].store(NowNs(), std::memory_order_release);
      }
    });
    const auto start = std::chrono::steady_clock::now();
    const auto period = std::chrono::duration<double>(1.0 / rate);
    for (uint64_t i = 0; i < events; ++i) {
      std::this_thread::sleep_until(
          start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(period * i));
      if (!submit->Write(submissions[i])) break;
    }
    const auto submitted = std::chrono::steady_clock::now();
    submit->WritesDone();
    const uint64_t expected = events * static_cast<uint64_t>(subscribers);
    const bool drained = WaitFor(shared, std::chrono::seconds(60), [&] {
      return shared.deliveries.load() - deliveries_before >= expected;
    });
    reader.join();
    const grpc::Status submit_status = submit->Finish();
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    state.SetIterationTime(elapsed);

    // The gap checker: every subscriber got exactly the run's events, in order.
    uint64_t short_streams = 0;
    for (size_t i = 0; i < streams.size(); ++i) {
      if (streams[i]->received() - before[i] != events) ++short_streams;
    }
    for (auto& stream : streams) stream->Cancel();
    WaitFor(shared, std::chrono::seconds(30), [&] { return shared.done.load() == subscribers; });

    const double submit_seconds = std::chrono::duration<double>(submitted - start).count();
    state.counters["nodes"] = static_cast<double>(settings->serving.size());
    state.counters["events_per_s"] = static_cast<double>(events) / submit_seconds;
    const double accept_seconds = std::chrono::duration<double>(
        std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(last_receipt.load())) -
        start).count();
    state.counters["accepted_per_s"] =
        accept_seconds > 0 ? static_cast<double>(accepted.load()) / accept_seconds : 0;
    state.counters["deliveries_per_s"] =
        static_cast<double>(shared.deliveries.load() - deliveries_before) / elapsed;
    state.counters["p50_ms"] = shared.latency.QuantileMs(0.50);
    state.counters["p99_ms"] = shared.latency.QuantileMs(0.99);
    state.counters["gaps"] = static_cast<double>(short_streams);
    state.counters["out_of_order"] = static_cast<double>(shared.out_of_order.load() - disorder_before);
    if (!submit_status.ok() || refused.load() != 0) {
      state.SkipWithError(absl::StrCat("submissions refused: ", refused.load(), " ",
                                       submit_status.error_message()).c_str());
    } else if (!drained || short_streams != 0) {
      state.SkipWithError(absl::StrCat(short_streams, " of ", subscribers,
                                       " subscribers did not get every event within 60 s")
                              .c_str());
    }
  }
}

}  // namespace fedrelay::bench
