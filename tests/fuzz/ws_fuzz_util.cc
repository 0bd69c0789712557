#include "ws_fuzz_util.h"

#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <utility>

#include "spdlog/spdlog.h"

namespace fedrelay::fuzz {

namespace {
constexpr size_t kKeptFrames = 64;
std::vector<std::string>* scratch_dirs = nullptr;
}  // namespace

bool FakeConnection::Send(std::string text) { return SendThen(std::move(text), nullptr); }

bool FakeConnection::SendThen(std::string text, std::function<void(bool written)> written) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!open_) return false;
  sent_.push_back(std::move(text));
  if (sent_.size() > kKeptFrames) sent_.pop_front();
  if (written) written_.push_back(std::move(written));
  return true;
}

void FakeConnection::Close() {
  std::lock_guard<std::mutex> lock(mu_);
  open_ = false;
}

bool FakeConnection::is_open() const {
  std::lock_guard<std::mutex> lock(mu_);
  return open_;
}

void FakeConnection::RunCallbacks() {
  for (;;) {
    std::function<void(bool)> written;
    bool open = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (written_.empty()) return;
      written = std::move(written_.front());
      written_.pop_front();
      open = open_;
    }
    written(open);
  }
}

void FakeConnection::End() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = false;
  }
  RunCallbacks();
}

std::vector<std::string> FakeConnection::Sent() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {sent_.begin(), sent_.end()};
}

std::vector<std::string> SplitFrames(const uint8_t* data, size_t size, size_t max_frames) {
  std::vector<std::string> frames;
  const std::string text(reinterpret_cast<const char*>(data), size);
  size_t begin = 0;
  while (begin <= text.size() && frames.size() < max_frames) {
    size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    frames.push_back(text.substr(begin, end - begin));
    begin = end + 1;
  }
  return frames;
}

std::string Substitute(std::string text, const std::string& placeholder, const std::string& value) {
  for (size_t at = text.find(placeholder); at != std::string::npos;
       at = text.find(placeholder, at + value.size())) {
    text.replace(at, placeholder.size(), value);
  }
  return text;
}

store::LogStore& ScratchStore(const std::string& name) {
  const bool shm = std::filesystem::is_directory("/dev/shm");
  std::string pattern = std::string(shm ? "/dev/shm" : "/tmp") + "/fedrelay-fuzz-" + name + "-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) {
    std::perror("mkdtemp");
    std::abort();
  }
  if (scratch_dirs == nullptr) {
    scratch_dirs = new std::vector<std::string>();
    std::atexit([] {
      for (const std::string& dir : *scratch_dirs) {
        std::error_code ignored;
        std::filesystem::remove_all(dir, ignored);
      }
    });
  }
  scratch_dirs->push_back(pattern);
  auto store = store::LogStore::Open(pattern + "/data");
  if (!store.ok()) {
    std::fprintf(stderr, "cannot open a scratch store: %s\n", store.status().ToString().c_str());
    std::abort();
  }
  // Lives as long as the process: the handlers' threads use it until exit.
  return *store->release();
}

void QuietLogs() { spdlog::set_level(spdlog::level::err); }

}  // namespace fedrelay::fuzz
