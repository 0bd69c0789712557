// Shared by the WebSocket handler fuzz targets (integration_ws, bridge_ws): a
// fake WebSocketConnection, the input format (one frame per line) and a
// scratch store.
#ifndef FEDRELAY_TESTS_FUZZ_WS_FUZZ_UTIL_H_
#define FEDRELAY_TESTS_FUZZ_WS_FUZZ_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "relay/http/http_server.h"
#include "store/log_store.h"

namespace fedrelay::fuzz {

// Records what a handler sends. Like the real connection, SendThen's callback
// never runs inside SendThen: RunCallbacks runs the queued ones (as the
// connection's strand would). Thread-safe: delivery threads send too.
class FakeConnection final : public relay::WebSocketConnection {
 public:
  bool Send(std::string text) override;
  bool SendThen(std::string text, std::function<void(bool written)> written) override;
  void Close() override;
  bool is_open() const override;

  // Runs queued `written` callbacks (true while open) until none are left.
  void RunCallbacks();
  // The connection ends: queued callbacks get false, later sends fail.
  void End();
  // The most recent frames sent (the last 64).
  std::vector<std::string> Sent() const;

 private:
  mutable std::mutex mu_;
  bool open_ = true;
  std::deque<std::string> sent_;
  std::deque<std::function<void(bool)>> written_;
};

// The input's frames: its lines ('\n' separated), at most `max_frames`.
std::vector<std::string> SplitFrames(const uint8_t* data, size_t size, size_t max_frames);

// `text` with every `placeholder` replaced by `value`.
std::string Substitute(std::string text, const std::string& placeholder, const std::string& value);

// A fresh store in a scratch directory (under /dev/shm when there is one, so
// synced writes are cheap), removed at exit. Aborts when it cannot be made.
store::LogStore& ScratchStore(const std::string& name);

// Keeps the handlers' logging quiet (errors only).
void QuietLogs();

}  // namespace fedrelay::fuzz

#endif  // FEDRELAY_TESTS_FUZZ_WS_FUZZ_UTIL_H_
