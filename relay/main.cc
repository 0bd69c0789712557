// fedrelayd: the fedrelay daemon. See `fedrelayd --help`.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/crypto.h"
#include "base/flags.h"
#include "base/daemon_run.h"
#include "config/config.h"
#include "relay/relay.h"
#include "spdlog/spdlog.h"
#include "store/note.h"

namespace {

using fedrelay::Args;

constexpr char kUsage[] = R"(fedrelayd - the fedrelay federation relay

Usage:
  fedrelayd [--config FILE] [--ready-file FILE] [--log-level LEVEL]
  fedrelayd check-config [--config FILE]
  fedrelayd keygen --out FILE [--name NAME]
  fedrelayd --help | --help-config | --version

Run (default):
  --config FILE      YAML configuration (see config/fedrelay.example.yaml and
                     `fedrelayd --help-config`). Without it the embedded default
                     runs: RocksDB under ./var/data, key ./var/relay.key (created
                     on first start), gRPC on 127.0.0.1:7443, HTTP on
                     127.0.0.1:7480, and two example peers with well-known demo keys.
  --ready-file FILE  once both listeners are bound, write
                     {"grpc_port":N,"http_port":M,"pid":P} to FILE (useful with port 0).
  --log-level LEVEL  trace, debug, info (default), warn, error.
  SIGINT or SIGTERM shut the relay down cleanly: listeners close, in-flight
  submissions are answered, a final checkpoint is published, the ready file
  is removed. SIGHUP is logged and ignored (nothing is reloaded).

check-config:
  Loads and validates the configuration and the key file (when it exists: mode
  0600, one key line), prints a summary, exits 0 when valid.

keygen:
  --out FILE   create an Ed25519 key file (mode 0600; never overwrites).
  --name NAME  note signer name for the verifier key (default relay.example/log;
               use your relay.origin).
  Prints the public key (hex) and the C2SP note verifier key.

Exit status: 0 on clean shutdown, 1 on a configuration or start-up error, 2 on usage errors.
)";

int Usage(const std::string& message) {
  std::cerr << "fedrelayd: " << message << "\n(see fedrelayd --help)\n";
  return 2;
}

absl::StatusOr<fedrelay::config::Config> LoadConfig(const std::string& path) {
  if (path.empty()) {
    return fedrelay::config::ParseConfig(fedrelay::config::EmbeddedDefaultYaml(),
                                         "<embedded default>");
  }
  return fedrelay::config::LoadConfigFile(path);
}

int Keygen(Args& args) {
  std::string out, name = "relay.example/log";
  if (!args.Value("--out", &out) || !args.Value("--name", &name)) return Usage(args.error());
  if (!args.Leftover().empty()) return Usage("unexpected argument " + args.Leftover());
  if (out.empty()) return Usage("keygen needs --out FILE");
  if (auto status = fedrelay::InitCrypto(); !status.ok()) {
    std::cerr << "fedrelayd: " << status.message() << "\n";
    return 1;
  }
  const auto key = fedrelay::Ed25519PrivateKey::Generate();
  if (auto status = fedrelay::WriteKeyFile(out, key); !status.ok()) {
    std::cerr << "fedrelayd: " << status.message() << "\n";
    return 1;
  }
  std::cout << "key file:     " << out << " (mode 0600)\n"
            << "public key:   " << key.PublicKeyHex() << "\n"
            << "verifier key: " << fedrelay::store::FormatVerifierKey(name, key.PublicKey()) << "\n";
  return 0;
}

int CheckConfig(Args& args) {
  std::string path;
  if (!args.Value("--config", &path)) return Usage(args.error());
  if (!args.Leftover().empty()) return Usage("unexpected argument " + args.Leftover());
  auto config = LoadConfig(path);
  if (!config.ok()) {
    std::cerr << "fedrelayd: " << config.status().message() << "\n";
    return 1;
  }
  // The key file as start-up will read it, so "valid" means start-up accepts it.
  std::string key_state = "(missing: created at the first start of a new, empty store)";
  if (std::filesystem::exists(config->key_file)) {
    if (auto status = fedrelay::InitCrypto(); !status.ok()) {
      std::cerr << "fedrelayd: " << status.message() << "\n";
      return 1;
    }
    if (auto key = fedrelay::ReadKeyFile(config->key_file); !key.ok()) {
      std::cerr << "fedrelayd: " << key.status().message() << "\n";
      return 1;
    } else {
      key_state = "(public key " + key->PublicKeyHex() + ")";
    }
  }
  std::cout << "config " << config->source << " is valid\n"
            << "  server_id " << config->server_id << ", origin " << config->origin << "\n"
            << "  data_dir  " << config->data_dir << "\n"
            << "  key_file  " << config->key_file << " " << key_state << "\n"
            << "  gRPC " << config->grpc_listen << ", HTTP " << config->http_listen << "\n"
            << "  peers     " << config->peers.size() << "\n";
  return 0;
}

int Run(Args& args) {
  std::string config_path, ready_file, log_level = "info";
  if (!args.Value("--config", &config_path) || !args.Value("--ready-file", &ready_file) ||
      !args.Value("--log-level", &log_level)) {
    return Usage(args.error());
  }
  if (!args.Leftover().empty()) return Usage("unexpected argument " + args.Leftover());
  const auto level = spdlog::level::from_str(log_level);
  if (level == spdlog::level::off && log_level != "off") return Usage("unknown --log-level " + log_level);
  spdlog::set_level(level);

  // Before any thread starts (base/daemon_run.h).
  const fedrelay::DaemonSignals signals;
  // The store holds API-key hashes and cursors: files 0600, directories 0700.
  umask(077);

  auto config = LoadConfig(config_path);
  if (!config.ok()) {
    spdlog::error("{}", std::string(config.status().message()));
    return 1;
  }
  spdlog::info("fedrelayd {} starting with config {}", FEDRELAY_VERSION, config->source);
  auto relay = fedrelay::relay::Relay::Start(*config);
  if (!relay.ok()) {
    spdlog::error("start-up failed: {}", std::string(relay.status().message()));
    return 1;
  }
  // Nothing is reloaded at run time (peers change with fedrelay-ctl, the rest
  // at a restart).
  return signals.ServeUntilShutdown(ready_file, (*relay)->grpc_port(), (*relay)->http_port(),
                                    [&] { (*relay)->Shutdown(); },
                                    "nothing is reloaded; restart fedrelayd to apply config changes");
}

}  // namespace

int main(int argc, char** argv) {
  Args args(argc, argv);
  if (auto done = fedrelay::AnswerHelpOrVersion(args, "fedrelayd", FEDRELAY_VERSION, kUsage)) return *done;
  if (args.Flag("--help-config")) {
    std::cout << fedrelay::config::DescribeKeys();
    return 0;
  }
  if (args.Command("keygen")) return Keygen(args);
  if (args.Command("check-config")) return CheckConfig(args);
  return Run(args);
}
