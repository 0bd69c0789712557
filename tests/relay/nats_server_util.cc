#include "relay/nats_server_util.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace fedrelay::testing {
namespace {

std::string ReadWhole(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace

std::string NatsServerBinary() {
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("PATH"); path != nullptr) {
    dirs = absl::StrSplit(path, ':', absl::SkipEmpty());
  }
  dirs.push_back("/usr/sbin");
  dirs.push_back("/usr/local/sbin");
  for (const std::string& dir : dirs) {
    const std::string candidate = dir + "/nats-server";
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

absl::StatusOr<std::unique_ptr<NatsServer>> NatsServer::Start(const std::string& dir) {
  std::unique_ptr<NatsServer> server(new NatsServer());
  server->dir_ = dir;
  server->log_path_ = dir + "/nats-server.log";
  if (auto status = server->Launch(); !status.ok()) return status;
  return server;
}

absl::Status NatsServer::Launch() {
  const std::string binary = NatsServerBinary();
  if (binary.empty()) return absl::NotFoundError("nats-server is not installed");
  std::filesystem::remove(log_path_);
  const std::string port = absl::StrCat(port_);
  const std::string store = dir_ + "/jetstream";
  pid_ = fork();
  if (pid_ < 0) return absl::InternalError("fork failed");
  if (pid_ == 0) {
    const int fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 1);
    dup2(fd, 2);
    execl(binary.c_str(), binary.c_str(), "-a", "127.0.0.1", "-p", port.c_str(), "-js", "-sd",
          store.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  const std::string kListening = "Listening for client connections on 127.0.0.1:";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::InternalError(absl::StrCat("nats-server exited during start-up:\n", log_text()));
    }
    const std::string log = log_text();
    const size_t at = log.find(kListening);
    if (at != std::string::npos && log.find("Server is ready") != std::string::npos) {
      const std::string rest = log.substr(at + kListening.size());
      int chosen = 0;
      if (!absl::SimpleAtoi(rest.substr(0, rest.find_first_not_of("0123456789")), &chosen)) {
        return absl::InternalError(absl::StrCat("cannot read nats-server's port:\n", log));
      }
      port_ = chosen;
      return absl::OkStatus();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Kill();
  return absl::DeadlineExceededError(absl::StrCat("nats-server did not become ready:\n", log_text()));
}

void NatsServer::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

absl::Status NatsServer::Restart() {
  Kill();
  return Launch();
}

NatsServer::~NatsServer() { Kill(); }

std::string NatsServer::url() const { return absl::StrCat("nats://127.0.0.1:", port_); }

std::string NatsServer::log_text() const { return ReadWhole(log_path_); }

}  // namespace fedrelay::testing
