// A scratch directory for one test, shared by every test binary (tests/ is on
// each one's include path).
#ifndef FEDRELAY_TESTS_COMMON_TEMP_DIR_H_
#define FEDRELAY_TESTS_COMMON_TEMP_DIR_H_

#include <stdlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

namespace fedrelay::testing {

// A fresh directory $TMPDIR/<prefix>XXXXXX (/tmp when TMPDIR is unset),
// removed with everything in it on destruction. Aborts if it cannot be made,
// so no test ever runs against an empty or shared path.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix) {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp != nullptr ? tmp : "/tmp") + "/" + prefix + "XXXXXX";
    const char* made = mkdtemp(pattern.data());
    if (made == nullptr) {
      std::perror(("mkdtemp " + pattern).c_str());
      std::abort();
    }
    path_ = made;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace fedrelay::testing

#endif  // FEDRELAY_TESTS_COMMON_TEMP_DIR_H_
