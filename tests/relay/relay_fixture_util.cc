#include "relay/relay_fixture_util.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/encoding.h"
#include "nlohmann/json.hpp"

namespace fedrelay::testing {
namespace beast = boost::beast;
namespace http = boost::beast::http;

Ed25519PrivateKey TestKey(const std::string& name) {
  return *Ed25519PrivateKey::FromSeed(Sha256("fedrelay test key " + name));
}

CommandResult RunCommand(const std::string& command_line) {
  CommandResult result;
  FILE* pipe = popen((command_line + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) result.output.append(buffer, n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string BinaryPath(const std::string& relative) {
  return std::string(FEDRELAY_BINARY_DIR) + "/" + relative;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

ToolResult RunTool(const std::vector<std::string>& argv, const std::string& scratch_dir) {
  const std::string out_path = scratch_dir + "/tool.out";
  const std::string err_path = scratch_dir + "/tool.err";
  ToolResult result;
  const pid_t pid = fork();
  if (pid < 0) return result;
  if (pid == 0) {
    const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(out, 1);
    dup2(err, 2);
    std::vector<char*> raw;
    for (const std::string& arg : argv) raw.push_back(const_cast<char*>(arg.c_str()));
    raw.push_back(nullptr);
    execv(raw[0], raw.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = ReadFile(out_path);
  result.err = ReadFile(err_path);
  return result;
}

ToolResult RunClient(const RelayProcess& relay, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {BinaryPath("tools/fedrelay-client"), "--relay",
                                   absl::StrCat("127.0.0.1:", relay.grpc_port()), "--timeout-ms",
                                   "10000"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunTool(argv, relay.dir());
}

std::string OutputField(const std::string& output, const std::string& name) {
  for (absl::string_view line : absl::StrSplit(output, '\n')) {
    if (!absl::StartsWith(line, name + ":")) continue;
    line.remove_prefix(name.size() + 1);
    const size_t start = line.find_first_not_of(' ');
    return start == absl::string_view::npos ? "" : std::string(line.substr(start));
  }
  return "";
}

CreatedApiKey CreateApiKey(const RelayProcess& relay, const std::string& name) {
  CreatedApiKey created;
  created.command = RunCommand(absl::StrCat(BinaryPath("tools/fedrelay-ctl"), " --data-dir ",
                                            relay.data_dir(), " apikey create --name ", name));
  for (absl::string_view line : absl::StrSplit(created.command.output, '\n')) {
    if (absl::ConsumePrefix(&line, "key id:  ")) created.key_id = std::string(line);
    if (absl::ConsumePrefix(&line, "api key: ")) created.key = std::string(line);
  }
  return created;
}

HttpResult HttpRequest(int port, const std::string& method, const std::string& target,
                       const std::string& body, const std::map<std::string, std::string>& headers) {
  HttpResult result;
  try {
    boost::asio::io_context io;
    boost::asio::ip::tcp::socket socket(io);
    socket.connect({boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
    http::request<http::string_body> request(http::string_to_verb(method), target, 11);
    request.set(http::field::host, "127.0.0.1");
    for (const auto& [name, value] : headers) request.set(name, value);
    request.body() = body;
    request.prepare_payload();
    http::write(socket, request);
    beast::flat_buffer buffer;
    http::response<http::string_body> response;
    http::read(socket, buffer, response);
    result.status = response.result_int();
    result.body = response.body();
    for (const auto& field : response) {
      result.headers[absl::AsciiStrToLower(std::string(field.name_string()))] =
          std::string(field.value());
    }
  } catch (const std::exception&) {
    result.status = 0;
  }
  return result;
}

absl::StatusOr<std::unique_ptr<RelayProcess>> RelayProcess::Start(const Options& options) {
  std::unique_ptr<RelayProcess> relay(new RelayProcess());
  char pattern[] = "/tmp/fedrelay-test-XXXXXX";
  if (mkdtemp(pattern) == nullptr) return absl::InternalError("mkdtemp failed");
  relay->dir_ = pattern;
  relay->data_dir_ = relay->dir_ + "/data";
  relay->config_path_ = relay->dir_ + "/fedrelay.yaml";
  relay->name_ = "fedrelayd";
  relay->ready_path_ = relay->dir_ + "/ready.json";
  relay->log_path_ = relay->dir_ + "/fedrelayd.log";
  relay->argv_ = {BinaryPath("relay/fedrelayd"), "--config", relay->config_path_,
                  "--ready-file", relay->ready_path_, "--log-level", "info"};
  if (auto status = WriteKeyFile(relay->dir_ + "/relay.key", TestKey("relay")); !status.ok()) {
    return status;
  }
  std::ofstream config(relay->config_path_);
  config << "relay:\n"
         << "  server_id: relay.example\n"
         << "  origin: relay.example/log\n"
         << "  key_file: relay.key\n"
         << "  data_dir: data\n"
         << "listen:\n"
         << "  grpc: 127.0.0.1:0\n"
         << "  http: 127.0.0.1:0\n"
         << "federation:\n"
         << "  max_clock_skew_ms: " << options.max_clock_skew_ms << "\n"
         << "peers:\n"
         << "  - server_id: alpha.example\n"
         << "    pubkey: " << TestKey("server-alpha").PublicKeyHex() << "\n"
         << "    may_ban: [\"*\"]\n"
         << "  - server_id: beta.example\n"
         << "    pubkey: " << TestKey("server-beta").PublicKeyHex() << "\n"
         << "    may_ban: [\"g1\"]\n"
         << "log:\n"
         << "  checkpoint_interval_ms: " << options.checkpoint_interval_ms << "\n";
  if (!options.rate_limits_yaml.empty()) config << "rate_limits:\n" << options.rate_limits_yaml;
  config << options.extra_yaml;
  config.close();
  if (auto status = relay->Launch(); !status.ok()) return status;
  return relay;
}

absl::Status DaemonProcess::Launch() {
  std::filesystem::remove(ready_path_);
  pid_ = fork();
  if (pid_ < 0) return absl::InternalError("fork failed");
  if (pid_ == 0) {
    const int fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> raw;
    for (const std::string& arg : argv_) raw.push_back(const_cast<char*>(arg.c_str()));
    raw.push_back(nullptr);
    execv(raw[0], raw.data());
    _exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::InternalError(absl::StrCat(name_, " exited during start-up:\n", log_text()));
    }
    std::ifstream ready(ready_path_);
    if (ready) {
      auto json = nlohmann::json::parse(ready, nullptr, /*allow_exceptions=*/false);
      if (!json.is_discarded()) {
        grpc_port_ = json.value("grpc_port", 0);
        http_port_ = json.value("http_port", 0);
        return absl::OkStatus();
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Kill();
  return absl::DeadlineExceededError(absl::StrCat(name_, " did not become ready:\n", log_text()));
}

int DaemonProcess::Stop() {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void DaemonProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

absl::Status DaemonProcess::Restart() {
  Stop();
  return Launch();
}

DaemonProcess::~DaemonProcess() { Stop(); }

RelayProcess::~RelayProcess() {
  Stop();
  std::error_code ec;
  if (!dir_.empty() && getenv("FEDRELAY_KEEP_TEST_DIRS") == nullptr) {
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string DaemonProcess::log_text() const { return ReadFile(log_path_); }

std::shared_ptr<grpc::Channel> DaemonProcess::Channel() const {
  return grpc::CreateChannel(absl::StrCat("127.0.0.1:", grpc_port_),
                             grpc::InsecureChannelCredentials());
}

}  // namespace fedrelay::testing
