#include "base/flags.h"

#include "absl/strings/numbers.h"

namespace fedrelay {

bool Args::Flag(const std::string& name) {
  for (auto it = args_.begin(); it != args_.end(); ++it) {
    if (*it == name) {
      args_.erase(it);
      return true;
    }
  }
  return false;
}

bool Args::Value(const std::string& name, std::string* out) {
  for (auto it = args_.begin(); it != args_.end(); ++it) {
    if (*it == name) {
      if (it + 1 == args_.end()) {
        error_ = name + " needs a value";
        return false;
      }
      *out = *(it + 1);
      args_.erase(it, it + 2);
      return true;
    }
    if (it->rfind(name + "=", 0) == 0) {
      *out = it->substr(name.size() + 1);
      args_.erase(it);
      return true;
    }
  }
  return true;
}

bool Args::Number(const std::string& name, uint64_t* out) {
  std::string text;
  if (!Value(name, &text)) return false;
  if (text.empty()) return true;
  if (!absl::SimpleAtoi(text, out)) {
    error_ = name + " needs a whole number, got '" + text + "'";
    return false;
  }
  return true;
}

bool Args::Values(const std::string& name, std::vector<std::string>* out) {
  while (true) {
    std::string value;
    if (!Value(name, &value)) return false;
    if (value.empty()) return true;
    out->push_back(value);
  }
}

bool Args::Command(const std::string& name) {
  if (!args_.empty() && args_.front() == name) {
    args_.erase(args_.begin());
    return true;
  }
  return false;
}

std::string Args::Positional() {
  if (args_.empty() || args_.front().rfind("--", 0) == 0) return "";
  std::string value = args_.front();
  args_.erase(args_.begin());
  return value;
}

}  // namespace fedrelay
