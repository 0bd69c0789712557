// Drives a real headless Chromium (Debian's `chromium` package) for tests of
// the pages the relay serves, over the Chrome DevTools Protocol: the browser is
// started on a fresh, empty profile with `--remote-debugging-port=0`, the test
// reads the port from the profile's DevToolsActivePort file and talks to one
// page target over a WebSocket (Boost.Beast). Nothing is downloaded.
//
// Every call gives up after a timeout instead of hanging the test. The browser
// runs in its own process group, which the destructor ends (only that group).
//
// Thread-safety: one thread per HeadlessBrowser.
#ifndef FEDRELAY_TESTS_RELAY_HEADLESS_BROWSER_UTIL_H_
#define FEDRELAY_TESTS_RELAY_HEADLESS_BROWSER_UTIL_H_

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace fedrelay::testing {

class HeadlessBrowser {
 public:
  // The chromium binary: $FEDRELAY_CHROMIUM if set, else `chromium` or
  // `chromium-browser` on PATH; nullopt when there is none.
  static std::optional<std::string> Find();

  // Starts `binary` headless with a viewport of `width` x `height` and opens one
  // blank page.
  static absl::StatusOr<std::unique_ptr<HeadlessBrowser>> Launch(const std::string& binary, int width = 1200,
                                                                  int height = 900);
  ~HeadlessBrowser();
  HeadlessBrowser(const HeadlessBrowser&) = delete;
  HeadlessBrowser& operator=(const HeadlessBrowser&) = delete;

  // Loads `url` in the page (returns once the navigation is committed).
  absl::Status Navigate(const std::string& url);
  // Evaluates a JavaScript expression in the page, awaiting it if it is a
  // promise; its value as JSON. An exception in the page is an error.
  absl::StatusOr<nlohmann::json> Evaluate(const std::string& expression);
  // Evaluates `expression` every 100 ms until `done(value)` holds; the last
  // value either way, DEADLINE_EXCEEDED (with that value) after `timeout`.
  absl::StatusOr<nlohmann::json> WaitFor(const std::string& expression,
                                         const std::function<bool(const nlohmann::json&)>& done,
                                         std::chrono::milliseconds timeout);
  // A PNG of the whole page (the viewport is stretched to the document's height).
  absl::StatusOr<std::string> ScreenshotPng();

  // What the browser printed so far (for failure messages).
  std::string log_text() const;

 private:
  HeadlessBrowser() = default;
  struct Connection;
  absl::StatusOr<nlohmann::json> Call(const std::string& method, const nlohmann::json& params,
                                      bool in_page = true);

  std::string profile_dir_;
  pid_t pid_ = -1;
  int width_ = 0;
  std::unique_ptr<Connection> connection_;
  std::string session_id_;
  int next_id_ = 1;
};

}  // namespace fedrelay::testing

#endif  // FEDRELAY_TESTS_RELAY_HEADLESS_BROWSER_UTIL_H_
