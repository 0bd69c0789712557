// fedrelay-bench: speed of the relay's hot paths, each reported as a ratio to
// a baseline measured in the same run (so the numbers mean the same on any
// machine). See `fedrelay-bench --help`; Google Benchmark flags pass through.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "base/crypto.h"
#include "base/encoding.h"
#include "federation/federation.h"
#include "federation/signing.h"
#include "store/log_store.h"
#include "bus/log_publisher.h"
#include "tools/bench/cluster.h"
#include "tools/bench/e2e.h"
#include "tools/bench/fanout.h"
#include "tools/bench/startup.h"

namespace {

using namespace fedrelay;  // NOLINT: a benchmark binary

constexpr char kUsage[] = R"(fedrelay-bench - measure fedrelay's hot paths against baselines

Usage: fedrelay-bench [--log-entries N] [--ingest-batch N] [--fanout-seconds S] [--dir DIR]
                      [benchmark flags]
       fedrelay-bench --e2e [--json] [sizes]   (a real fedrelayd over gRPC; --e2e --help)
       fedrelay-bench --startup [--entries N]  (fedrelayd's start on a large log; --startup --help)

  --log-entries N     size of the large log for the open benchmark (default 1000000)
  --ingest-batch N    submissions in flight per ingest iteration (default 512)
  --fanout-seconds S  how long each fan-out scenario submits events (default 5)
  --fanout-full-rate N  events/s of the scenario where 1,000 subscribers all take every
                    event (default 50; 2000 is the issue-5 target, 2M deliveries/s)
  --dir DIR         scratch directory (default: a new one under /tmp, removed at exit)

Scale-out (docs/scale-out.md; tools/scripts/cluster.sh runs these):
  --nats-url URL    also run BM_IngestBus: BM_Ingest with the JetStream log publisher on
                    (a fresh stream per run on that NATS server); compare with BM_Ingest
  --cluster-sequencer HOST:PORT  run BM_Cluster/subscribers/rate: submit joins to this
                    fedrelayd at a fixed rate while --cluster-subscribers peers (default
                    1000) subscribe, spread over the --cluster-serve nodes
  --cluster-serve HOST:PORT[,HOST:PORT...]  where subscribers connect (fan-out nodes, or
                    the sequencer itself); reports deliveries/s, p50/p99 and gaps
  --cluster-rate N  events/s of BM_Cluster (default 100)
  --cluster-peers N print the sequencer's peers: block for N cluster subscribers and exit
  --benchmark_filter=REGEX and the other Google Benchmark flags work as usual.

Reported ratios (lower is better):
  ingest/verify     wall time per accepted, durable (fsynced) FederationRequest divided
                    by one Ed25519 verification: how close ingest is to "signature
                    checking is the only bottleneck" (1.0 = exactly one verify's cost).
  open-1M/open-1    opening a large log and serving a root, an inclusion proof and a
                    leaf, divided by the same on a one-entry log: start-up must not grow
                    with the log (target: under 2, and well under a second absolute).
  fanout p99        receipt-to-delivery latency at the 99th percentile with 1,000
                    subscribers divided by the same with one subscriber, both at 2,000
                    events/s over real gRPC streams (BM_FanOut/subscribers/rate/guilds;
                    guilds = 0: everyone takes every event, else subscriber i follows
                    guild i % guilds). The absolute p99 is printed too (target: < 50 ms).
)";

std::string g_dir;
uint64_t g_log_entries = 1000000;
int g_ingest_batch = 512;
bench::FanOutSettings g_fanout;
int64_t g_fanout_full_rate = 50;
std::string g_nats_url;
bench::ClusterSettings g_cluster;
int64_t g_cluster_subscribers = 1000;
int64_t g_cluster_rate = 100;

Ed25519PrivateKey TestKey(const std::string& name) {
  return *Ed25519PrivateKey::FromSeed(Sha256("fedrelay test key " + name));
}

// --- Baseline: one strict Ed25519 verification.
void BM_Verify(benchmark::State& state) {
  const auto key = TestKey("server-alpha");
  const std::string message(200, 'm');
  const std::string signature = key.Sign(message);
  const std::string public_key = key.PublicKey();
  for (auto _ : state) benchmark::DoNotOptimize(Ed25519Verify(public_key, message, signature));
  state.SetItemsProcessed(state.iterations());
}

class NullSink final : public federation::EventSink {
 public:
  void OnDurable(const std::vector<std::shared_ptr<const v1::LogEntry>>&) override {}
};

// --- Ingest: signed FederationRequests through the real federation core into
// a synced RocksDB log, a batch in flight at a time.
// With `with_bus`, the JetStream log publisher is a sink of the core, as in
// fedrelayd with bus.nats_url: its cost shows as lower items/s.
void RunIngest(benchmark::State& state, bool with_bus) {
  const std::string dir = g_dir + (with_bus ? "/ingest-bus" : "/ingest");
  std::filesystem::remove_all(dir);
  auto store = store::LogStore::Open(dir);
  if (!store.ok()) {
    state.SkipWithError(std::string(store.status().message()).c_str());
    return;
  }
  const auto relay_key = TestKey("relay");
  const auto alpha = TestKey("server-alpha");
  federation::FederationOptions options;
  options.server_id = "relay.example";
  options.config_peers = {{"alpha.example", alpha.PublicKeyHex(), {"*"}}};
  NullSink null_sink;
  federation::EventSink* sink = &null_sink;
  std::unique_ptr<bus::LogPublisher> publisher;
  if (with_bus) {
    bus::LogPublisherOptions bus_options;
    bus_options.nats_url = g_nats_url;
    // A fresh stream per run: the previous run's log is another log.
    static int runs = 0;
    const std::string name = absl::StrCat("BENCH_", getpid(), "_", runs++);
    bus_options.names = bus::BusNames::From(name, name);  // streams may not share subjects
    bus_options.store = store->get();
    publisher = bus::LogPublisher::Start(bus_options);
    sink = publisher.get();
  }
  auto federation = federation::Federation::Open(store->get(), &relay_key, options, sink);
  if (!federation.ok()) {
    state.SkipWithError(std::string(federation.status().message()).c_str());
    return;
  }
  uint64_t serial = 0;
  const int batch = g_ingest_batch;
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<v1::FederationRequest> requests(batch);
    for (auto& request : requests) {
      request.set_origin_server_id("alpha.example");
      request.set_origin_server_pubkey(alpha.PublicKeyHex());
      request.set_user_pubkey(HexEncode(Sha256(absl::StrCat("user ", serial++))));
      request.set_user_display_name("bench user");
      request.set_guild_id("g1");
      request.set_timestamp(SystemClock().NowMs());
      federation::SignFederationRequest(&request, alpha);
    }
    state.ResumeTiming();
    std::mutex mu;
    std::condition_variable cv;
    int remaining = batch;
    std::atomic<int> failures{0};
    for (auto& request : requests) {
      (*federation)->Submit(std::move(request), [&](absl::StatusOr<federation::Accepted> result) {
        if (!result.ok()) failures.fetch_add(1);
        std::lock_guard<std::mutex> lock(mu);
        if (--remaining == 0) cv.notify_one();
      });
    }
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return remaining == 0; });
    if (failures.load() != 0) {
      state.SkipWithError("some submissions were refused");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * batch);
  (*federation)->Stop();
  if (publisher != nullptr) {
    // How far the copy trailed when the clock stopped (entries), then drain it.
    state.counters["stream_lag"] =
        static_cast<double>((*store)->Size() - std::min((*store)->Size(), publisher->published()));
    publisher->Stop(30000);
  }
}

void BM_Ingest(benchmark::State& state) { RunIngest(state, false); }
void BM_IngestBus(benchmark::State& state) { RunIngest(state, true); }

// --- Open + serve on a log of `entries` leaves (built once, outside timing).
absl::Status BuildLog(const std::string& dir, uint64_t entries) {
  if (std::filesystem::exists(dir + "/.complete")) return absl::OkStatus();
  std::filesystem::remove_all(dir);
  store::LogStoreOptions options;
  options.sync = false;
  auto store = store::LogStore::Open(dir, options);
  if (!store.ok()) return store.status();
  const std::string filler(180, 'x');
  std::vector<std::string> leaves;
  for (uint64_t i = 0; i < entries;) {
    leaves.clear();
    for (int j = 0; j < 8192 && i < entries; ++j, ++i) leaves.push_back(absl::StrCat("leaf ", i, filler));
    auto appended = (*store)->Append(leaves, {});
    if (!appended.ok()) return appended.status();
    if (entries >= 100000 && i % 100000 < 8192) std::cerr << "building log: " << i << "/" << entries << "\n";
  }
  std::ofstream(dir + "/.complete") << entries;
  return absl::OkStatus();
}

void BM_OpenAndServe(benchmark::State& state) {
  const uint64_t entries = static_cast<uint64_t>(state.range(0));
  const std::string dir = absl::StrCat(g_dir, "/log-", entries);
  if (auto built = BuildLog(dir, entries); !built.ok()) {
    state.SkipWithError(std::string(built.message()).c_str());
    return;
  }
  uint64_t probe = 0;
  for (auto _ : state) {
    auto store = store::LogStore::Open(dir);
    if (!store.ok()) {
      state.SkipWithError(std::string(store.status().message()).c_str());
      return;
    }
    const uint64_t size = (*store)->Size();
    benchmark::DoNotOptimize((*store)->RootHash(size));
    probe = (probe * 6364136223846793005ULL + 1442695040888963407ULL);
    benchmark::DoNotOptimize((*store)->InclusionProof(probe % size, size));
    benchmark::DoNotOptimize((*store)->GetLeaf(probe % size));
  }
}

// Collects results so the ratios can be printed after the normal report.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& run : runs) {
      if (run.error_occurred || run.run_type != Run::RT_Iteration) continue;
      const double per_item = run.counters.count("items_per_second")
                                  ? 1.0 / run.counters.at("items_per_second").value
                                  : run.GetAdjustedRealTime();
      seconds_[run.benchmark_name()] = per_item;
      if (auto p99 = run.counters.find("p99_ms"); p99 != run.counters.end()) {
        p99_ms_[run.benchmark_name()] = p99->second.value;
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }

  void PrintRatios() const {
    std::cout << "\nratios (same run, lower is better):\n";
    Ratio("ingest/verify", "BM_Ingest/real_time", "BM_Verify");
    if (!g_nats_url.empty()) {
      Ratio("ingest with bus/ingest", "BM_IngestBus/real_time", "BM_Ingest/real_time");
    }
    Ratio("open-" + std::to_string(g_log_entries) + "/open-1",
          absl::StrCat("BM_OpenAndServe/", g_log_entries, "/real_time"), "BM_OpenAndServe/1/real_time");
    const std::string baseline = FanOutName(1, 2000, 0);
    for (const auto& [name, p99] : p99_ms_) {
      if (name == baseline || name.rfind("BM_FanOut/", 0) != 0) continue;
      auto base = p99_ms_.find(baseline);
      std::cout << "  " << name << " p99 / one subscriber's p99: "
                << (base == p99_ms_.end() || base->second <= 0 ? std::string("not measured")
                                                                 : std::to_string(p99 / base->second))
                << " (p99 " << p99 << " ms; target < 50 ms)\n";
    }
  }

  static std::string FanOutName(int subscribers, int64_t rate, int guilds) {
    return absl::StrCat("BM_FanOut/", subscribers, "/", rate, "/", guilds, "/iterations:1/manual_time");
  }

 private:
  void Ratio(const std::string& label, const std::string& numerator, const std::string& denominator) const {
    auto n = seconds_.find(numerator);
    auto d = seconds_.find(denominator);
    if (n == seconds_.end() || d == seconds_.end() || d->second <= 0) {
      std::cout << "  " << label << ": not measured in this run\n";
      return;
    }
    std::cout << "  " << label << ": " << n->second / d->second << "\n";
  }
  std::map<std::string, double> seconds_;
  std::map<std::string, double> p99_ms_;
};

}  // namespace

int main(int argc, char** argv) {
  if (bench::WantsEndToEnd(argc, argv)) return bench::RunEndToEnd(argc, argv);
  if (bench::WantsStartup(argc, argv)) return bench::RunStartup(argc, argv);
  std::vector<char*> passthrough = {argv[0]};
  std::string dir;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](const std::string& name, std::string* out) {
      if (arg == name && i + 1 < argc) {
        *out = argv[++i];
        return true;
      }
      if (arg.rfind(name + "=", 0) == 0) {
        *out = arg.substr(name.size() + 1);
        return true;
      }
      return false;
    };
    std::string text;
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (value("--log-entries", &text)) {
      g_log_entries = std::stoull(text);
    } else if (value("--ingest-batch", &text)) {
      g_ingest_batch = std::stoi(text);
    } else if (value("--fanout-full-rate", &text)) {
      g_fanout_full_rate = std::stoll(text);
    } else if (value("--fanout-seconds", &text)) {
      g_fanout.seconds = std::stod(text);
    } else if (value("--dir", &dir)) {
    } else if (value("--nats-url", &g_nats_url)) {
    } else if (value("--cluster-sequencer", &g_cluster.sequencer)) {
    } else if (value("--cluster-serve", &text)) {
      g_cluster.serving = absl::StrSplit(text, ',', absl::SkipEmpty());
    } else if (value("--cluster-subscribers", &text)) {
      g_cluster_subscribers = std::stoll(text);
    } else if (value("--cluster-rate", &text)) {
      g_cluster_rate = std::stoll(text);
    } else if (value("--cluster-peers", &text)) {
      std::cout << bench::ClusterPeersYaml(std::stoi(text));
      return 0;
    } else {
      passthrough.push_back(argv[i]);
    }
  }
  if (!InitCrypto().ok()) return 1;
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);  // as fedrelayd (Release)
  const bool own_dir = dir.empty();
  g_dir = own_dir ? absl::StrCat("/tmp/fedrelay-bench-", getpid()) : dir;
  std::filesystem::create_directories(g_dir);

  benchmark::RegisterBenchmark("BM_Verify", BM_Verify);
  benchmark::RegisterBenchmark("BM_Ingest", BM_Ingest)->UseRealTime()->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_OpenAndServe", BM_OpenAndServe)
      ->Arg(1)
      ->Arg(static_cast<int64_t>(g_log_entries))
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  g_fanout.dir = g_dir;
  benchmark::RegisterBenchmark("BM_FanOut", bench::BM_FanOut, &g_fanout)
      ->Args({1, 2000, 0})
      ->Args({1000, 2000, 100})
      ->Args({1000, g_fanout_full_rate, 0})
      ->Iterations(1)
      ->UseManualTime()
      ->Unit(benchmark::kSecond);

  if (!g_nats_url.empty()) {
    benchmark::RegisterBenchmark("BM_IngestBus", BM_IngestBus)->UseRealTime()->Unit(benchmark::kMillisecond);
  }
  if (!g_cluster.sequencer.empty()) {
    if (g_cluster.serving.empty()) g_cluster.serving = {g_cluster.sequencer};
    g_cluster.seconds = g_fanout.seconds;
    benchmark::RegisterBenchmark("BM_Cluster", bench::BM_Cluster, &g_cluster)
        ->Args({g_cluster_subscribers, g_cluster_rate})
        ->Iterations(1)
        ->UseManualTime()
        ->Unit(benchmark::kSecond);
  }

  int bench_argc = static_cast<int>(passthrough.size());
  benchmark::Initialize(&bench_argc, passthrough.data());
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintRatios();
  benchmark::Shutdown();
  if (own_dir) std::filesystem::remove_all(g_dir);
  return 0;
}
