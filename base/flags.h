// Minimal command-line parsing shared by fedrelay's binaries: a leading
// command word, "--name value" / "--name=value" options and boolean flags.
// Options are consumed as they are read, so Leftover() names anything unknown.
#ifndef FEDRELAY_BASE_FLAGS_H_
#define FEDRELAY_BASE_FLAGS_H_

#include <cstdint>
#include <string>
#include <vector>

namespace fedrelay {

class Args {
 public:
  Args(int argc, char** argv) : args_(argv + 1, argv + argc) {}

  // True (and consumed) when `name` is present.
  bool Flag(const std::string& name);
  // Consumes "--name value" or "--name=value" into *out; leaves *out alone when
  // absent. False when the option has no value (see error()).
  bool Value(const std::string& name, std::string* out);
  // As Value, for a whole number; false on a missing or non-numeric value.
  bool Number(const std::string& name, uint64_t* out);
  // Every occurrence of a repeatable option.
  bool Values(const std::string& name, std::vector<std::string>* out);
  // Consumes the first argument when it equals `name`.
  bool Command(const std::string& name);
  // Consumes and returns the first argument when it is not an option, else "".
  std::string Positional();

  const std::string& error() const { return error_; }
  // The first argument nothing consumed, or "" when all were understood.
  std::string Leftover() const { return args_.empty() ? "" : args_.front(); }

 private:
  std::vector<std::string> args_;
  std::string error_;
};

}  // namespace fedrelay

#endif  // FEDRELAY_BASE_FLAGS_H_
