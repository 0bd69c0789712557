// fedrelay-fanout: a fan-out node on the bus. See `fedrelay-fanout --help`.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>

#include "base/flags.h"
#include "base/daemon_run.h"
#include "fanout/fanout_node.h"
#include "spdlog/spdlog.h"

namespace {

using fedrelay::Args;

constexpr char kUsage[] = R"(fedrelay-fanout - a fan-out node: follows the sequencer's log on NATS
JetStream and serves it to subscribers (docs/scale-out.md)

Usage:
  fedrelay-fanout --nats-url URL --relay-pubkey HEX --server-id ID --origin NAME
                  --data-dir DIR [--grpc HOST:PORT] [--http HOST:PORT]
                  [--stream NAME] [--subject-prefix PREFIX] [--max-clock-skew-ms N]
                  [--ready-file FILE] [--log-level LEVEL]
  fedrelay-fanout --help | --version

  --nats-url URL         the sequencer's bus.nats_url (nats://host:port)
  --relay-pubkey HEX     the sequencer's relay public key (64 hex; fedrelayd logs it)
  --server-id ID         the sequencer's relay.server_id (peers sign Call signatures for it)
  --origin NAME          the sequencer's relay.origin (checkpoints are verified against it)
  --data-dir DIR         this node's own copy of the log (made 0700)
  --grpc HOST:PORT       Subscribe/Acknowledge (default 127.0.0.1:0, ephemeral)
  --http HOST:PORT       /checkpoint, tiles, /v1/ws, /healthz, /readyz, /metrics
                         (default 127.0.0.1:0)
  --stream NAME          the sequencer's bus.stream (default FEDRELAY_LOG)
  --subject-prefix P     the sequencer's bus.subject_prefix (default fedrelay)
  --max-clock-skew-ms N  the sequencer's federation.max_clock_skew_ms (default 300000)
  --ready-file FILE      once listening, write {"grpc_port":N,"http_port":M,"pid":P}
  --log-level LEVEL      trace, debug, info (default), warn, error

Submissions and operator commands go to the sequencer (fedrelayd); here they
are refused with UNAVAILABLE. API keys are the sequencer's, read from the bus
(hashes only); /v1/ws access requests are refused: ask the sequencer. SIGINT or
SIGTERM stop the node cleanly; SIGHUP is logged and ignored.

Exit status: 0 on clean shutdown, 1 when it cannot start (NATS unreachable, bad
key, port in use), 2 on usage errors.
)";

int Usage(const std::string& message) {
  std::cerr << "fedrelay-fanout: " << message << "\n(see fedrelay-fanout --help)\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Args args(argc, argv);
  if (auto done = fedrelay::AnswerHelpOrVersion(args, "fedrelay-fanout", FEDRELAY_VERSION, kUsage)) {
    return *done;
  }
  fedrelay::fanout::FanoutOptions options;
  std::string ready_file, log_level = "info";
  uint64_t skew = options.max_clock_skew_ms;
  if (!args.Value("--nats-url", &options.nats_url) ||
      !args.Value("--relay-pubkey", &options.relay_pubkey_hex) ||
      !args.Value("--server-id", &options.server_id) || !args.Value("--origin", &options.origin) ||
      !args.Value("--data-dir", &options.data_dir) || !args.Value("--grpc", &options.grpc_listen) ||
      !args.Value("--http", &options.http_listen) || !args.Value("--stream", &options.stream) ||
      !args.Value("--subject-prefix", &options.subject_prefix) ||
      !args.Number("--max-clock-skew-ms", &skew) || !args.Value("--ready-file", &ready_file) ||
      !args.Value("--log-level", &log_level)) {
    return Usage(args.error());
  }
  if (!args.Leftover().empty()) return Usage("unexpected argument " + args.Leftover());
  for (const auto& [flag, value] :
       {std::pair<const char*, const std::string*>{"--nats-url", &options.nats_url},
        {"--relay-pubkey", &options.relay_pubkey_hex},
        {"--server-id", &options.server_id},
        {"--origin", &options.origin},
        {"--data-dir", &options.data_dir}}) {
    if (value->empty()) return Usage(std::string("missing ") + flag);
  }
  options.max_clock_skew_ms = skew;
  const auto level = spdlog::level::from_str(log_level);
  if (level == spdlog::level::off && log_level != "off") return Usage("unknown --log-level " + log_level);
  spdlog::set_level(level);

  // Before any thread starts (base/daemon_run.h).
  const fedrelay::DaemonSignals signals;
  // The store holds cursors: files 0600, directories 0700.
  umask(077);

  auto node = fedrelay::fanout::FanoutNode::Start(options);
  if (!node.ok()) {
    spdlog::error("start-up failed: {}", std::string(node.status().message()));
    return 1;
  }
  return signals.ServeUntilShutdown(ready_file, (*node)->grpc_port(), (*node)->http_port(),
                                    [&] { (*node)->Shutdown(); },
                                    "nothing is reloaded; restart the node to change its options");
}
