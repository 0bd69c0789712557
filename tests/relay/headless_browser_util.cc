#include "relay/headless_browser_util.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <thread>
#include <vector>

// GCC 12 reports a false maybe-uninitialized inside Beast in sanitizer builds
// (see relay/http/http_server.cc).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#pragma GCC diagnostic pop

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/encoding.h"
#include "relay/relay_fixture_util.h"

namespace fedrelay::testing {
namespace {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

constexpr auto kStartTimeout = std::chrono::seconds(30);
constexpr int kSocketTimeoutSeconds = 20;

bool Executable(const std::string& path) { return access(path.c_str(), X_OK) == 0; }

}  // namespace

struct HeadlessBrowser::Connection {
  net::io_context ioc;
  websocket::stream<tcp::socket> ws{ioc};
};

std::optional<std::string> HeadlessBrowser::Find() {
  if (const char* configured = getenv("FEDRELAY_CHROMIUM"); configured != nullptr && *configured != '\0') {
    if (Executable(configured)) return std::string(configured);
    return std::nullopt;
  }
  const char* path = getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path == nullptr ? "/usr/bin:/bin" : path, ':', absl::SkipEmpty())) {
    for (const char* name : {"chromium", "chromium-browser"}) {
      const std::string candidate = absl::StrCat(dir, "/", name);
      if (Executable(candidate)) return candidate;
    }
  }
  return std::nullopt;
}

absl::StatusOr<std::unique_ptr<HeadlessBrowser>> HeadlessBrowser::Launch(const std::string& binary, int width,
                                                                         int height) {
  std::unique_ptr<HeadlessBrowser> browser(new HeadlessBrowser());
  browser->width_ = width;
  char pattern[] = "/tmp/fedrelay-chromium-XXXXXX";
  if (mkdtemp(pattern) == nullptr) return absl::InternalError("mkdtemp failed");
  browser->profile_dir_ = pattern;
  const std::string log_path = browser->profile_dir_ + "/chromium.log";
  const std::string user_data = browser->profile_dir_ + "/profile";
  std::filesystem::create_directories(user_data);

  std::vector<std::string> args = {
      binary,
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-extensions",
      "--disable-dev-shm-usage",
      "--remote-debugging-address=127.0.0.1",
      "--remote-debugging-port=0",
      absl::StrCat("--user-data-dir=", user_data),
      absl::StrCat("--window-size=", width, ",", height),
      "about:blank",
  };
  browser->pid_ = fork();
  if (browser->pid_ < 0) return absl::InternalError("fork failed");
  if (browser->pid_ == 0) {
    setpgid(0, 0);  // its own group: the renderer and helpers end with it
    const int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  setpgid(browser->pid_, browser->pid_);

  // The browser writes "<port>\n<browser websocket path>\n" once it listens.
  const std::string port_file = user_data + "/DevToolsActivePort";
  int port = 0;
  std::string ws_path;
  const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  while (port == 0) {
    int status = 0;
    if (waitpid(browser->pid_, &status, WNOHANG) == browser->pid_) {
      browser->pid_ = -1;
      return absl::InternalError(absl::StrCat("chromium exited during start-up:\n", browser->log_text()));
    }
    const std::vector<std::string> lines = absl::StrSplit(ReadFile(port_file), '\n', absl::SkipEmpty());
    if (lines.size() >= 2 && absl::SimpleAtoi(lines[0], &port) && port > 0) {
      ws_path = lines[1];
      break;
    }
    port = 0;
    if (std::chrono::steady_clock::now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat("chromium did not open its DevTools port:\n", browser->log_text()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }

  browser->connection_ = std::make_unique<Connection>();
  try {
    tcp::socket& socket = browser->connection_->ws.next_layer();
    socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
    // Blocking reads and writes give up instead of hanging the test.
    timeval timeout{kSocketTimeoutSeconds, 0};
    setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    browser->connection_->ws.read_message_max(64 << 20);
    browser->connection_->ws.handshake(absl::StrCat("127.0.0.1:", port), ws_path);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("cannot connect to chromium's DevTools: ", e.what()));
  }

  auto target = browser->Call("Target.createTarget", {{"url", "about:blank"}}, /*in_page=*/false);
  if (!target.ok()) return target.status();
  auto attached = browser->Call("Target.attachToTarget",
                                {{"targetId", (*target)["targetId"]}, {"flatten", true}}, /*in_page=*/false);
  if (!attached.ok()) return attached.status();
  browser->session_id_ = (*attached).value("sessionId", "");
  auto metrics = browser->Call("Emulation.setDeviceMetricsOverride",
                               {{"width", width}, {"height", height}, {"deviceScaleFactor", 1}, {"mobile", false}});
  if (!metrics.ok()) return metrics.status();
  return browser;
}

HeadlessBrowser::~HeadlessBrowser() {
  if (connection_ != nullptr) {
    beast::error_code ignored;
    connection_->ws.next_layer().close(ignored);
  }
  if (pid_ > 0) {
    // The browser is its process group's leader; until it is reaped the group
    // id cannot be reused, so signalling the group reaches only its processes.
    kill(-pid_, SIGTERM);
    for (int i = 0; i < 50; ++i) {
      siginfo_t info{};
      if (waitid(P_PID, pid_, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid_) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    kill(-pid_, SIGKILL);  // helpers that outlived the browser (or the browser, if it hung)
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  if (!profile_dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(profile_dir_, ec);
  }
}

std::string HeadlessBrowser::log_text() const { return ReadFile(profile_dir_ + "/chromium.log"); }

absl::StatusOr<nlohmann::json> HeadlessBrowser::Call(const std::string& method, const nlohmann::json& params,
                                                     bool in_page) {
  const int id = next_id_++;
  nlohmann::json message = {{"id", id}, {"method", method}, {"params", params}};
  if (in_page) message["sessionId"] = session_id_;
  try {
    connection_->ws.text(true);
    connection_->ws.write(net::buffer(message.dump()));
    for (;;) {
      beast::flat_buffer buffer;
      connection_->ws.read(buffer);
      const auto reply = nlohmann::json::parse(beast::buffers_to_string(buffer.data()), nullptr, false);
      if (!reply.is_object() || !reply.contains("id") || reply["id"] != id) continue;  // an event
      if (reply.contains("error")) {
        return absl::InternalError(absl::StrCat(method, " failed: ", reply["error"].dump()));
      }
      return reply.value("result", nlohmann::json::object());
    }
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat(method, ": DevTools connection failed: ", e.what()));
  }
}

absl::Status HeadlessBrowser::Navigate(const std::string& url) {
  auto result = Call("Page.navigate", {{"url", url}});
  if (!result.ok()) return result.status();
  if (result->contains("errorText")) {
    return absl::UnavailableError(absl::StrCat("navigation to ", url, " failed: ", (*result)["errorText"].dump()));
  }
  return absl::OkStatus();
}

absl::StatusOr<nlohmann::json> HeadlessBrowser::Evaluate(const std::string& expression) {
  auto result = Call("Runtime.evaluate", {{"expression", expression}, {"returnByValue", true}, {"awaitPromise", true}});
  if (!result.ok()) return result.status();
  if (result->contains("exceptionDetails")) {
    return absl::InternalError(absl::StrCat("the page threw: ", (*result)["exceptionDetails"].dump()));
  }
  return (*result)["result"].value("value", nlohmann::json());
}

absl::StatusOr<nlohmann::json> HeadlessBrowser::WaitFor(const std::string& expression,
                                                        const std::function<bool(const nlohmann::json&)>& done,
                                                        std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  nlohmann::json last;
  for (;;) {
    auto value = Evaluate(expression);
    // Right after a navigation the page may not have its elements yet.
    if (value.ok()) {
      last = *value;
      if (done(last)) return last;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat("gave up waiting; last value: ", last.dump()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

absl::StatusOr<std::string> HeadlessBrowser::ScreenshotPng() {
  auto height = Evaluate("Math.ceil(document.documentElement.scrollHeight)");
  if (!height.ok()) return height.status();
  const int page_height = height->is_number() ? height->get<int>() : 900;
  auto metrics = Call("Emulation.setDeviceMetricsOverride", {{"width", width_},
                                                             {"height", std::min(page_height, 6000)},
                                                             {"deviceScaleFactor", 1},
                                                             {"mobile", false}});
  if (!metrics.ok()) return metrics.status();
  auto shot = Call("Page.captureScreenshot", {{"format", "png"}});
  if (!shot.ok()) return shot.status();
  return Base64Decode(shot->value("data", ""));
}

}  // namespace fedrelay::testing
