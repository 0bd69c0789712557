// Starts the real fedrelayd binary on loopback ephemeral ports for integration
// tests, with a temp data dir, the test-vector relay key and two test peers
// (alpha.example may ban everywhere, beta.example may ban in g1 only).
#ifndef FEDRELAY_TESTS_RELAY_RELAY_FIXTURE_UTIL_H_
#define FEDRELAY_TESTS_RELAY_RELAY_FIXTURE_UTIL_H_

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "base/crypto.h"

namespace fedrelay::testing {

// Ed25519 key from seed SHA-256("fedrelay test key " + name), as in
// tests/vectors/signing.json ("server-alpha", "user-alice-id", "relay", ...).
Ed25519PrivateKey TestKey(const std::string& name);

struct HttpResult {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
};
// One HTTP/1.1 request to 127.0.0.1:port. Status 0 means the connection failed.
HttpResult HttpRequest(int port, const std::string& method, const std::string& target,
                       const std::string& body = "",
                       const std::map<std::string, std::string>& headers = {});

// A daemon of ours (fedrelayd, fedrelay-fanout) run from `argv_` with its
// output in `log_path_`: Launch waits until it writes its ports to
// `ready_path_` ({"grpc_port": .., "http_port": ..}). Subclasses set the three
// (and `name_`, for messages) before the first Launch.
class DaemonProcess {
 public:
  virtual ~DaemonProcess();  // Stop()s

  // SIGTERM and wait; returns the exit status (or -1).
  int Stop();
  // SIGKILL and wait: a crash.
  void Kill();
  // Starts it again with the same arguments (same data dir, new ports).
  absl::Status Restart();

  int grpc_port() const { return grpc_port_; }
  int http_port() const { return http_port_; }
  std::string log_text() const;  // its stdout+stderr so far
  std::shared_ptr<grpc::Channel> Channel() const;
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }  // -1 when not running

 protected:
  DaemonProcess() = default;
  // Starts it and waits up to 30 s for the ready file.
  absl::Status Launch();

  std::string name_;
  std::vector<std::string> argv_;
  std::string ready_path_, log_path_;

 private:
  pid_t pid_ = -1;
  int grpc_port_ = 0;
  int http_port_ = 0;
};

class RelayProcess : public DaemonProcess {
 public:
  struct Options {
    // YAML appended to the generated config (top-level keys not generated below).
    std::string extra_yaml;
    uint64_t checkpoint_interval_ms = 100;
    uint64_t max_clock_skew_ms = 300000;
    std::string rate_limits_yaml;  // e.g. "  ping_rate_limit: 2\n"
  };

  // Creates a fresh temp dir and starts fedrelayd in it.
  static absl::StatusOr<std::unique_ptr<RelayProcess>> Start(const Options& options);
  static absl::StatusOr<std::unique_ptr<RelayProcess>> Start() { return Start(Options()); }
  ~RelayProcess() override;  // Stop()s and removes the temp dir

  const std::string& dir() const { return dir_; }
  const std::string& data_dir() const { return data_dir_; }
  const std::string& config_path() const { return config_path_; }

 private:
  RelayProcess() = default;

  std::string dir_, data_dir_, config_path_;
};

struct CommandResult {
  int exit_code = -1;   // -1 when it did not exit normally
  std::string output;   // stdout and stderr together
};
// Runs a shell command line as a user would and collects what it prints.
CommandResult RunCommand(const std::string& command_line);

// Path of a built binary, e.g. BinaryPath("relay/fedrelayd").
std::string BinaryPath(const std::string& relative);

// The whole contents of a file ("" if it cannot be read).
std::string ReadFile(const std::string& path);

struct ToolResult {
  int exit_code = -1;  // -1 when it did not exit normally
  std::string out;     // stdout
  std::string err;     // stderr
};
// Runs argv[0] with `argv` directly (no shell) and waits for it; stdout and
// stderr are collected apart through scratch files (tool.out, tool.err) in
// `scratch_dir`, overwritten by each run.
ToolResult RunTool(const std::vector<std::string>& argv, const std::string& scratch_dir);

// fedrelay-client against `relay`'s gRPC port with --timeout-ms 10000, then
// `args`; scratch files go to relay.dir().
ToolResult RunClient(const RelayProcess& relay, const std::vector<std::string>& args);

// The value of the first "name: value" line of a tool's output (spaces after
// the colon dropped), or "".
std::string OutputField(const std::string& output, const std::string& name);

struct CreatedApiKey {
  CommandResult command;  // what `fedrelay-ctl apikey create` printed and returned
  std::string key_id;     // its "key id:" line, or "" if none
  std::string key;        // its "api key:" line, or "" if none
};
// Runs `fedrelay-ctl --data-dir <relay data dir> apikey create --name <name>`
// from a shell, as an operator would. Callers check command.exit_code.
CreatedApiKey CreateApiKey(const RelayProcess& relay, const std::string& name);

}  // namespace fedrelay::testing

#endif  // FEDRELAY_TESTS_RELAY_RELAY_FIXTURE_UTIL_H_
