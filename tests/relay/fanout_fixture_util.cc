#include "relay/fanout_fixture_util.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "relay/relay_fixture_util.h"

namespace fedrelay::testing {

absl::StatusOr<std::unique_ptr<FanoutProcess>> FanoutProcess::Start(const std::string& dir,
                                                                    const std::string& nats_url) {
  std::unique_ptr<FanoutProcess> node(new FanoutProcess());
  std::filesystem::create_directories(dir);
  node->ready_path_ = dir + "/ready.json";
  node->log_path_ = dir + "/fedrelay-fanout.log";
  node->argv_ = {BinaryPath("fanout/fedrelay-fanout"),
                 "--nats-url", nats_url,
                 "--relay-pubkey", TestKey("relay").PublicKeyHex(),
                 "--server-id", "relay.example",
                 "--origin", "relay.example/log",
                 "--data-dir", dir + "/data",
                 "--ready-file", node->ready_path_};
  if (auto status = node->Launch(); !status.ok()) return status;
  return node;
}

absl::Status FanoutProcess::Launch() {
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
      return absl::InternalError(absl::StrCat("fedrelay-fanout exited during start-up:\n", log_text()));
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
  return absl::DeadlineExceededError(absl::StrCat("fedrelay-fanout did not start:\n", log_text()));
}

int FanoutProcess::Stop() {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void FanoutProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

absl::Status FanoutProcess::Restart() {
  Stop();
  return Launch();
}

FanoutProcess::~FanoutProcess() { Stop(); }

std::shared_ptr<grpc::Channel> FanoutProcess::Channel() const {
  return grpc::CreateChannel(absl::StrCat("127.0.0.1:", grpc_port_),
                             grpc::InsecureChannelCredentials());
}

std::string FanoutProcess::log_text() const { return ReadFile(log_path_); }

void FanoutClusterTest::SetUp() {
  FEDRELAY_REQUIRE_NATS_SERVER();
  auto nats = NatsServer::Start(dir_.path());
  ASSERT_TRUE(nats.ok()) << nats.status();
  nats_ = std::move(*nats);
  RelayProcess::Options options;
  options.extra_yaml = absl::StrCat("bus:\n  nats_url: ", nats_->url(), "\n", ExtraSequencerYaml());
  auto relay = RelayProcess::Start(options);
  ASSERT_TRUE(relay.ok()) << relay.status();
  sequencer_ = std::move(*relay);
}

std::unique_ptr<FanoutProcess> FanoutClusterTest::StartNode(const std::string& name) {
  auto node = FanoutProcess::Start(dir_.path() + "/" + name, nats_->url());
  EXPECT_TRUE(node.ok()) << node.status();
  return node.ok() ? std::move(*node) : nullptr;
}

}  // namespace fedrelay::testing
