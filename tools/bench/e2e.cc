#include "tools/bench/e2e.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/crypto.h"
#include "base/flags.h"
#include "store/note.h"
#include "tools/bench/e2e_load.h"

namespace fedrelay::bench {
namespace {

using namespace e2e;  // NOLINT: the mode's own helpers

constexpr char kUsage[] = R"(fedrelay-bench --e2e - the relay measured end to end over gRPC

Usage: fedrelay-bench --e2e [--json] [sizes] [--dir DIR] [--fedrelayd PATH] [--audit PATH]

Starts fedrelayd (durable log, fresh data directory, loopback ephemeral ports),
signs every request before its clock starts, and measures from outside:
  A  strict Ed25519 verifications/s, one thread per core (baseline)
  B  empty unary Ping calls/s (baseline)
  Submit stream ingest with 1, 4 and 8 streams (ratio to A); unary Federate
  with 16 and 32 callers (ratio to B); receipt latency p50/p99 under a burst on
  one stream (from handing a submission to gRPC to reading its receipt); a mixed
  workload of every message kind (device certs reused); fan-out p99 (receipt to
  delivery) with one reading subscriber, then again with stalled subscribers
  that never read (ingest and p99 compared); fedrelayd's RSS with idle
  subscribers and with idle HTTP/2 connections; fedrelay-audit --data-dir on
  the resulting log (ratio to A); fedrelayd's start time and RSS on that log.

Sizes:
  --seconds S               each baseline's duration (default 3)
  --requests N              submissions per stream-ingest row (default 100000)
  --unary-requests N        calls per unary Federate row (default 30000)
  --burst N                 submissions in the latency burst (default 20000)
  --mixed-users N           users of the mixed workload, 43 submissions per 20 (default 10000)
  --fanout-requests N       submissions per fan-out row (default 20000)
  --stalled-subscribers N   subscribers that never read (default 10; each on its
                            own connection whose 64 KiB windows close, BDP off)
  --idle-subscribers N      idle Subscribe streams for the RSS row (default 1000)
  --idle-connections N      idle HTTP/2 connections for the RSS row (default 10000;
                            RLIMIT_NOFILE is raised for both processes)
Output:
  --json                    one JSON object {"cores", "rows": [{"id", "what", "value",
                            "unit", "ratio", "ratio_to", "ok", "note"}]} instead of a table
Other:
  --dir DIR                 scratch directory, new or empty; kept (default: a new one
                            under /tmp, removed at exit)
  --fedrelayd PATH          default: relay/fedrelayd beside this build's tools/
  --audit PATH              default: fedrelay-audit beside this binary
  --only GROUPS             run only these rows (comma-separated: submit, federate, burst,
                            mixed, fanout, rss, audit, restart); the baselines always run

Exit status: 0 every row measured; 1 a row failed (refused requests, missing
deliveries, a relay that would not start); 2 usage error.
)";

struct Settings {
  bool json = false;
  double seconds = 3;
  uint64_t requests = 100000;
  uint64_t unary_requests = 30000;
  uint64_t burst = 20000;
  uint64_t mixed_users = 10000;
  uint64_t fanout_requests = 20000;
  uint64_t stalled_subscribers = 10;
  uint64_t idle_subscribers = 1000;
  uint64_t idle_connections = 10000;
  std::string dir;
  std::string fedrelayd;
  std::string audit;
  // --only: the row groups to run (empty: all of them).
  std::set<std::string> only;
  bool Wants(const std::string& group) const { return only.empty() || only.count(group) != 0; }
};

struct Row {
  std::string id;
  std::string what;
  double value = 0;
  std::string unit;
  std::optional<double> ratio;
  std::string ratio_to;
  bool ok = true;
  std::string note;
};

class Report {
 public:
  Row& Add(std::string id, std::string what, double value, std::string unit) {
    Row& row = rows_.emplace_back();
    row.id = std::move(id);
    row.what = std::move(what);
    row.value = value;
    row.unit = std::move(unit);
    if (!json_) std::cerr << "measured " << row.id << "\n";
    return row;
  }
  void Fail(Row& row, const std::string& why) {
    row.ok = false;
    row.note = row.note.empty() ? why : absl::StrCat(row.note, "; ", why);
  }
  bool all_ok() const {
    return std::all_of(rows_.begin(), rows_.end(), [](const Row& row) { return row.ok; });
  }
  void set_json(bool json) { json_ = json; }

  void Print(std::ostream& out, unsigned cores) const {
    if (json_) {
      nlohmann::json doc;
      doc["cores"] = cores;
      doc["rows"] = nlohmann::json::array();
      for (const Row& row : rows_) {
        nlohmann::json item = {{"id", row.id},     {"what", row.what}, {"value", row.value},
                               {"unit", row.unit}, {"ok", row.ok},     {"note", row.note}};
        item["ratio"] = row.ratio.has_value() ? nlohmann::json(*row.ratio) : nlohmann::json(nullptr);
        item["ratio_to"] = row.ratio_to;
        doc["rows"].push_back(std::move(item));
      }
      out << doc.dump(2) << "\n";
      return;
    }
    out << "fedrelay-bench --e2e on " << cores << " cores (load generator and relay share them)\n\n";
    out << std::left << std::setw(26) << "id" << std::setw(62) << "what" << std::right << std::setw(12)
        << "value" << "  " << std::left << std::setw(10) << "unit" << "ratio\n";
    for (const Row& row : rows_) {
      std::ostringstream value;
      value << std::fixed << std::setprecision(row.value >= 100 ? 0 : 2) << row.value;
      out << std::left << std::setw(26) << row.id << std::setw(62) << row.what << std::right << std::setw(12)
          << value.str() << "  " << std::left << std::setw(10) << row.unit;
      if (row.ratio.has_value()) {
        out << std::fixed << std::setprecision(2) << *row.ratio << " of " << row.ratio_to;
      }
      if (!row.ok) out << "  FAILED";
      if (!row.note.empty()) out << "  (" << row.note << ")";
      out << "\n";
    }
  }

 private:
  bool json_ = false;
  std::vector<Row> rows_;
};

std::string BesideThisBinary(const std::string& relative) {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return (self.parent_path() / relative).lexically_normal().string();
}

std::string PeerName(const std::string& role, uint64_t i) { return absl::StrCat(role, "-", i, ".example"); }

struct Parties {
  Ed25519PrivateKey relay = PartyKey("relay");
  Ed25519PrivateKey alpha = PartyKey("alpha");
  Ed25519PrivateKey reader = PartyKey("reader");
  std::vector<Ed25519PrivateKey> stalled;
  std::vector<Ed25519PrivateKey> idle;
};

absl::Status WriteConfig(const Settings& settings, const Parties& parties, const std::string& dir) {
  if (auto status = WriteKeyFile(dir + "/relay.key", parties.relay); !status.ok()) return status;
  std::ofstream config(dir + "/fedrelay.yaml");
  config << "relay:\n  server_id: relay.example\n  origin: relay.example/log\n"
         << "  key_file: relay.key\n  data_dir: data\n"
         << "listen:\n  grpc: 127.0.0.1:0\n  http: 127.0.0.1:0\n"
         << "rate_limits:\n  message_rate_limit: 0\n  invite_rate_limit: 0\n  ping_rate_limit: 0\n"
         << "  discovery_rate_limit: 0\n"
         << "peers:\n"
         << "  - server_id: alpha.example\n    pubkey: " << parties.alpha.PublicKeyHex()
         << "\n    may_ban: [\"*\"]\n"
         << "  - server_id: reader.example\n    pubkey: " << parties.reader.PublicKeyHex() << "\n";
  for (uint64_t i = 0; i < settings.stalled_subscribers; ++i) {
    config << "  - server_id: " << PeerName("stalled", i) << "\n    pubkey: " << parties.stalled[i].PublicKeyHex()
           << "\n";
  }
  for (uint64_t i = 0; i < settings.idle_subscribers; ++i) {
    config << "  - server_id: " << PeerName("idle", i) << "\n    pubkey: " << parties.idle[i].PublicKeyHex() << "\n";
  }
  config.close();
  return config ? absl::OkStatus() : absl::InternalError("cannot write the config");
}

// Ingest over one stream while one subscriber reads every event; the p99 of
// receipt -> delivery (0 when the delivery came first).
struct FanOutRun {
  LoadResult load;
  double p99_ms = 0;
  uint64_t missing = 0;
};
FanOutRun RunFanOut(const std::string& target, const std::string& tag, uint64_t requests,
                    const Parties& parties, uint64_t resume_after) {
  std::mutex mu;
  absl::flat_hash_map<uint64_t, int64_t> receipts, deliveries;
  SubscriberSet::Peer reader{"reader.example", &parties.reader};
  SubscriberSet subscriber(target, {reader}, SubscriberSet::Mode::kReading, resume_after,
                           [&](uint64_t id, int64_t at) {
                             std::lock_guard<std::mutex> lock(mu);
                             deliveries.emplace(id, at);
                           });
  FanOutRun run;
  if (!subscriber.WaitAccepted(std::chrono::seconds(30))) {
    run.load.first_refusal = "the reading subscriber was not accepted";
    run.missing = requests;
    return run;
  }
  const auto joins = SignedJoins(tag, requests, "alpha.example", parties.alpha);
  run.load = SubmitStreams(target, AsStreams(joins, 1), [&](uint64_t id, int64_t at) {
    std::lock_guard<std::mutex> lock(mu);
    receipts.emplace(id, at);
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  auto all_delivered = [&] {
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& [id, at] : receipts) {
      if (!deliveries.contains(id)) return false;
    }
    return true;
  };
  while (!all_delivered() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::vector<int64_t> latencies;
  {
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& [id, at] : receipts) {
      auto delivered = deliveries.find(id);
      if (delivered == deliveries.end()) {
        ++run.missing;
        continue;
      }
      latencies.push_back(std::max<int64_t>(0, delivered->second - at));
    }
  }
  run.p99_ms = QuantileMs(latencies, 0.99);
  return run;
}

void CheckLoad(Report& report, Row& row, const LoadResult& load) {
  if (load.refused != 0) report.Fail(row, absl::StrCat(load.refused, " refused: ", load.first_refusal));
}

absl::StatusOr<Settings> Parse(int argc, char** argv) {
  Args args(argc, argv);
  Settings settings;
  args.Flag("--e2e");
  settings.json = args.Flag("--json");
  std::string seconds, only;
  if (!args.Value("--seconds", &seconds) || !args.Number("--requests", &settings.requests) ||
      !args.Number("--unary-requests", &settings.unary_requests) || !args.Number("--burst", &settings.burst) ||
      !args.Number("--mixed-users", &settings.mixed_users) ||
      !args.Number("--fanout-requests", &settings.fanout_requests) ||
      !args.Number("--stalled-subscribers", &settings.stalled_subscribers) ||
      !args.Number("--idle-subscribers", &settings.idle_subscribers) ||
      !args.Number("--idle-connections", &settings.idle_connections) || !args.Value("--dir", &settings.dir) ||
      !args.Value("--fedrelayd", &settings.fedrelayd) || !args.Value("--audit", &settings.audit) ||
      !args.Value("--only", &only)) {
    return absl::InvalidArgumentError(args.error());
  }
  if (!args.Leftover().empty()) return absl::InvalidArgumentError("unexpected argument " + args.Leftover());
  if (!seconds.empty() && (!absl::SimpleAtod(seconds, &settings.seconds) || settings.seconds <= 0)) {
    return absl::InvalidArgumentError("--seconds needs a positive number");
  }
  if (settings.requests == 0 || settings.unary_requests == 0 || settings.burst == 0 ||
      settings.mixed_users < 2 || settings.fanout_requests == 0) {
    return absl::InvalidArgumentError("request counts must be positive (--mixed-users at least 2)");
  }
  static const std::set<std::string> kGroups = {"submit", "federate", "burst", "mixed",
                                                "fanout", "rss", "audit", "restart"};
  for (absl::string_view group : absl::StrSplit(only, ',', absl::SkipEmpty())) {
    if (kGroups.count(std::string(group)) == 0) {
      return absl::InvalidArgumentError(absl::StrCat("--only: unknown group '", group, "'"));
    }
    settings.only.insert(std::string(group));
  }
  if (std::error_code ec; !settings.dir.empty() && std::filesystem::exists(settings.dir) &&
                          !std::filesystem::is_empty(settings.dir, ec)) {
    return absl::InvalidArgumentError("--dir must be a new or empty directory");
  }
  if (settings.fedrelayd.empty()) settings.fedrelayd = BesideThisBinary("../relay/fedrelayd");
  if (settings.audit.empty()) settings.audit = BesideThisBinary("fedrelay-audit");
  return settings;
}

// Runs fedrelay-audit --data-dir on the stopped relay's log; entries/s.
Row& AuditRow(Report& report, const Settings& settings, const std::string& dir, const Parties& parties,
              double verify_rate) {
  const std::string vkey = store::FormatVerifierKey("relay.example/log", parties.relay.PublicKey());
  const std::string out_path = dir + "/audit.out";
  const std::string command = absl::StrCat("'", settings.audit, "' --data-dir '", dir, "/data' --vkey '", vkey,
                                           "' --server-id relay.example --quiet > '", out_path, "' 2>&1");
  const int64_t start = NowNs();
  const int status = std::system(command.c_str());
  const double seconds = static_cast<double>(NowNs() - start) / 1e9;
  std::ifstream out(out_path);
  std::string text((std::istreambuf_iterator<char>(out)), std::istreambuf_iterator<char>());
  // "OK: <n> entries verified, ..."
  uint64_t entries = 0;
  if (const size_t at = text.find("OK: "); at != std::string::npos) {
    const size_t end = text.find(' ', at + 4);
    absl::SimpleAtoi(text.substr(at + 4, end - at - 4), &entries);
  }
  Row& row = report.Add("audit_data_dir", "fedrelay-audit --data-dir on the resulting log",
                        seconds > 0 ? static_cast<double>(entries) / seconds : 0, "entries/s");
  row.ratio = verify_rate > 0 ? row.value / verify_rate : 0;
  row.ratio_to = "A";
  row.note = absl::StrCat(entries, " entries in ", seconds, " s");
  if (status != 0 || entries == 0) report.Fail(row, "fedrelay-audit failed: " + text.substr(0, 300));
  return row;
}

int Run(const Settings& settings) {
  Report report;
  report.set_json(settings.json);
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const bool own_dir = settings.dir.empty();
  const std::string dir = own_dir ? absl::StrCat("/tmp/fedrelay-bench-e2e-", getpid()) : settings.dir;
  std::filesystem::create_directories(dir);
  // Both this process and fedrelayd (which inherits it) need a descriptor per connection.
  RaiseOpenFileLimit(settings.idle_connections + settings.idle_subscribers + 4096);

  Parties parties;
  for (uint64_t i = 0; i < settings.stalled_subscribers; ++i) parties.stalled.push_back(PartyKey(PeerName("stalled", i)));
  for (uint64_t i = 0; i < settings.idle_subscribers; ++i) parties.idle.push_back(PartyKey(PeerName("idle", i)));
  if (auto written = WriteConfig(settings, parties, dir); !written.ok()) {
    std::cerr << "fedrelay-bench: " << written.message() << "\n";
    return 1;
  }
  const DaemonFiles files{settings.fedrelayd, dir + "/fedrelay.yaml", dir + "/ready.json", dir + "/fedrelayd.log"};
  auto daemon = Daemon::Start(files, std::chrono::seconds(120));
  if (!daemon.ok()) {
    std::cerr << "fedrelay-bench: " << daemon.status().message() << "\n";
    return 1;
  }
  const std::string target = (*daemon)->grpc_target();
  uint64_t last_event_id = 0;
  auto track = [&](const LoadResult& load) { last_event_id = std::max(last_event_id, load.max_event_id); };

  // Baselines.
  const double verify_rate = VerifyRate(static_cast<int>(cores), settings.seconds);
  report.Add("A_verify", absl::StrCat("A: Ed25519 verify, ", cores, " threads (one per core)"), verify_rate, "/s");
  const double ping_rate = PingRate(target, 32, settings.seconds);
  Row& ping = report.Add("B_ping", "B: empty unary Ping, 32 callers", ping_rate, "/s");
  if (ping_rate <= 0) report.Fail(ping, "a Ping failed");

  // Stream ingest.
  for (const int streams : {1, 4, 8}) {
    if (!settings.Wants("submit")) break;
    const auto joins = SignedJoins(absl::StrCat("ingest", streams), settings.requests, "alpha.example", parties.alpha);
    const LoadResult load = SubmitStreams(target, AsStreams(joins, streams));
    track(load);
    Row& row = report.Add(absl::StrCat("submit_", streams, "_stream", streams > 1 ? "s" : ""),
                          absl::StrCat("Submit stream ingest, ", streams, " stream", streams > 1 ? "s" : ""),
                          load.rate(), "/s");
    row.ratio = verify_rate > 0 ? load.rate() / verify_rate : 0;
    row.ratio_to = "A";
    CheckLoad(report, row, load);
  }
  // Unary.
  for (const int callers : {16, 32}) {
    if (!settings.Wants("federate")) break;
    const auto joins = SignedJoins(absl::StrCat("unary", callers), settings.unary_requests, "alpha.example",
                                   parties.alpha);
    LoadResult load = UnaryFederate(target, joins, callers, callers / 4);
    track(load);
    Row& row = report.Add(absl::StrCat("federate_", callers, "_callers"),
                          absl::StrCat("unary Federate, ", callers, " callers over ", callers / 4, " connections"),
                          load.rate(), "/s");
    row.ratio = ping_rate > 0 ? load.rate() / ping_rate : 0;
    row.ratio_to = "B";
    row.note = absl::StrCat("call p99 ", QuantileMs(load.latencies_ns, 0.99), " ms");
    CheckLoad(report, row, load);
  }
  // Burst latency.
  if (settings.Wants("burst")) {
    const auto joins = SignedJoins("burst", settings.burst, "alpha.example", parties.alpha);
    LoadResult load = SubmitStreams(target, AsStreams(joins, 1));
    track(load);
    const double p50 = QuantileMs(load.latencies_ns, 0.50);
    const double p99 = QuantileMs(load.latencies_ns, 0.99);
    Row& p50_row = report.Add("burst_receipt_p50", absl::StrCat("receipt latency p50, ", settings.burst,
                                                                "-request burst on one stream"),
                              p50, "ms");
    CheckLoad(report, p50_row, load);
    Row& p99_row = report.Add("burst_receipt_p99", absl::StrCat("receipt latency p99, ", settings.burst,
                                                                "-request burst on one stream"),
                              p99, "ms");
    p99_row.note = absl::StrCat("burst ingested at ", static_cast<uint64_t>(load.rate()), "/s");
    CheckLoad(report, p99_row, load);
  }
  // Mixed workload.
  if (settings.Wants("mixed")) {
    const auto streams = MixedWorkload("mixed", settings.mixed_users, 4, "alpha.example", parties.alpha);
    const LoadResult load = SubmitStreams(target, streams);
    track(load);
    Row& row = report.Add("mixed_workload", "mixed workload (every kind, certs reused), 4 streams", load.rate(), "/s");
    row.ratio = verify_rate > 0 ? load.rate() / verify_rate : 0;
    row.ratio_to = "A";
    CheckLoad(report, row, load);
  }
  // Fan-out, without and with subscribers that never read.
  if (settings.Wants("fanout")) {
    FanOutRun quiet = RunFanOut(target, "fanout-quiet", settings.fanout_requests, parties, last_event_id);
    track(quiet.load);
    Row& base = report.Add("fanout_p99", "fan-out p99 receipt->delivery, 1 reader, 1 stream ingesting",
                           quiet.p99_ms, "ms");
    base.note = absl::StrCat("ingest ", static_cast<uint64_t>(quiet.load.rate()), "/s");
    CheckLoad(report, base, quiet.load);
    if (quiet.missing != 0) report.Fail(base, absl::StrCat(quiet.missing, " deliveries missing"));

    std::vector<SubscriberSet::Peer> stalled_peers;
    for (uint64_t i = 0; i < settings.stalled_subscribers; ++i) {
      stalled_peers.push_back({PeerName("stalled", i), &parties.stalled[i]});
    }
    SubscriberSet stalled(target, stalled_peers, SubscriberSet::Mode::kStalled, last_event_id, nullptr);
    const bool accepted = stalled.WaitAccepted(std::chrono::seconds(30));
    FanOutRun loaded = RunFanOut(target, "fanout-stalled", settings.fanout_requests, parties, last_event_id);
    track(loaded.load);
    Row& p99 = report.Add("fanout_p99_stalled",
                          absl::StrCat("the same with ", settings.stalled_subscribers, " subscribers that never read"),
                          loaded.p99_ms, "ms");
    if (quiet.p99_ms > 0) {  // a p99 of 0 (deliveries beat receipts) has no ratio
      p99.ratio = loaded.p99_ms / quiet.p99_ms;
      p99.ratio_to = "fanout_p99";
    }
    CheckLoad(report, p99, loaded.load);
    if (!accepted) report.Fail(p99, "not every stalled subscriber was accepted");
    if (loaded.missing != 0) report.Fail(p99, absl::StrCat(loaded.missing, " deliveries missing"));
    Row& ingest = report.Add("fanout_ingest_stalled", "ingest rate during it", loaded.load.rate(), "/s");
    ingest.ratio = quiet.load.rate() > 0 ? loaded.load.rate() / quiet.load.rate() : 0;
    ingest.ratio_to = "the run without them";
    stalled.Close();
  }
  // Memory with idle subscribers and idle connections.
  if (settings.Wants("rss")) {
    const uint64_t before = (*daemon)->SettledRssBytes(std::chrono::milliseconds(300), std::chrono::seconds(5));
    std::vector<SubscriberSet::Peer> idle_peers;
    for (uint64_t i = 0; i < settings.idle_subscribers; ++i) idle_peers.push_back({PeerName("idle", i), &parties.idle[i]});
    SubscriberSet idle(target, idle_peers, SubscriberSet::Mode::kIdle, last_event_id, nullptr);
    const bool accepted = idle.WaitAccepted(std::chrono::seconds(60));
    const uint64_t after = (*daemon)->SettledRssBytes(std::chrono::milliseconds(300), std::chrono::seconds(10));
    Row& row = report.Add("rss_idle_subscribers",
                          absl::StrCat("fedrelayd RSS with ", settings.idle_subscribers, " idle subscribers"),
                          static_cast<double>(after) / 1048576.0, "MiB");
    row.note = absl::StrCat(static_cast<double>(before) / 1048576.0, " MiB before");
    if (!accepted) report.Fail(row, absl::StrCat("only ", idle.accepted(), " subscribers accepted"));
    idle.Close();
  }
  if (settings.Wants("rss")) {
    const uint64_t before = (*daemon)->SettledRssBytes(std::chrono::milliseconds(300), std::chrono::seconds(5));
    const size_t files_before = (*daemon)->OpenFiles();
    auto idle = IdleConnections::Open((*daemon)->grpc_port(), settings.idle_connections);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (idle.ok() && (*daemon)->OpenFiles() < files_before + settings.idle_connections &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const uint64_t after = (*daemon)->SettledRssBytes(std::chrono::milliseconds(300), std::chrono::seconds(10));
    Row& row = report.Add("rss_idle_connections",
                          absl::StrCat("fedrelayd RSS with ", settings.idle_connections, " idle HTTP/2 connections"),
                          static_cast<double>(after) / 1048576.0, "MiB");
    row.note = absl::StrCat(static_cast<double>(before) / 1048576.0, " MiB before");
    if (!idle.ok()) {
      report.Fail(row, std::string(idle.status().message()));
    } else if ((*daemon)->OpenFiles() < files_before + settings.idle_connections) {
      report.Fail(row, "fedrelayd did not accept every connection");
    }
  }

  // The resulting log: audit it offline, then start on it.
  (*daemon)->Stop();
  if (settings.Wants("audit")) AuditRow(report, settings, dir, parties, verify_rate);
  auto restarted = settings.Wants("restart") ? Daemon::Start(files, std::chrono::seconds(120))
                                              : absl::StatusOr<std::unique_ptr<Daemon>>(nullptr);
  if (!settings.Wants("restart")) {
    // not asked for
  } else if (restarted.ok()) {
    const uint64_t rss = (*restarted)->SettledRssBytes(std::chrono::milliseconds(300), std::chrono::seconds(5));
    report.Add("restart_ready", absl::StrCat("fedrelayd start on that log (", last_event_id, " entries) to ready"),
               (*restarted)->ready_seconds(), "s");
    report.Add("restart_rss", "fedrelayd RSS once ready on that log", static_cast<double>(rss) / 1048576.0, "MiB");
    (*restarted)->Stop();
  } else {
    Row& row = report.Add("restart_ready", "fedrelayd start on that log to ready", 0, "s");
    report.Fail(row, std::string(restarted.status().message()));
    Row& rss = report.Add("restart_rss", "fedrelayd RSS once ready on that log", 0, "MiB");
    report.Fail(rss, "did not start");
  }

  report.Print(std::cout, cores);
  if (own_dir) std::filesystem::remove_all(dir);
  return report.all_ok() ? 0 : 1;
}

}  // namespace

bool WantsEndToEnd(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--e2e") return true;
  }
  return false;
}

int RunEndToEnd(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    }
  }
  auto settings = Parse(argc, argv);
  if (!settings.ok()) {
    std::cerr << "fedrelay-bench: " << settings.status().message() << "\n(see fedrelay-bench --e2e --help)\n";
    return 2;
  }
  if (!InitCrypto().ok()) return 1;
  return Run(*settings);
}

}  // namespace fedrelay::bench
