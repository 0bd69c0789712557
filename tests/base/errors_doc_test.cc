// docs/protocol.md section 5 publishes the table of machine codes for outside
// implementers; base/errors.cc is the one table the relay uses. They must say
// the same: every code in both, with the same gRPC code and HTTP status.
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/errors.h"
#include "gtest/gtest.h"

namespace fedrelay {
namespace {

struct Row {
  std::string grpc;
  int http = 0;
};

// The rows "| `code` | GRPC_CODE | 409 | meaning |" of section 5.
std::map<std::string, Row> DocumentedErrors(std::vector<std::string>& duplicates) {
  std::ifstream in(FEDRELAY_SOURCE_DIR "/docs/protocol.md");
  EXPECT_TRUE(in) << "missing docs/protocol.md";
  std::map<std::string, Row> rows;
  bool in_section = false;
  for (std::string line; std::getline(in, line);) {
    if (absl::StartsWith(line, "## ")) in_section = absl::StartsWith(line, "## 5. Errors");
    if (!in_section || !absl::StartsWith(line, "| `")) continue;
    const std::vector<std::string> cells = absl::StrSplit(line, '|');
    if (cells.size() < 5) continue;
    absl::string_view cell = absl::StripAsciiWhitespace(cells[1]);
    if (!absl::ConsumePrefix(&cell, "`") || !absl::ConsumeSuffix(&cell, "`")) continue;
    const std::string code(cell);
    Row row{std::string(absl::StripAsciiWhitespace(cells[2])), 0};
    EXPECT_TRUE(absl::SimpleAtoi(absl::StripAsciiWhitespace(cells[3]), &row.http)) << line;
    if (!rows.emplace(code, row).second) duplicates.push_back(code);
  }
  return rows;
}

// Every machine code of base/errors.cc with its gRPC code name and HTTP status.
// ErrorCode values past the last one fall back to `internal`, so walking a
// generous range finds them all without naming each.
std::map<std::string, Row> ImplementedErrors() {
  std::map<std::string, Row> rows;
  for (int i = 0; i < 256; ++i) {
    const absl::Status status = MakeError(static_cast<ErrorCode>(i), "x");
    rows[MachineCode(status)] = Row{absl::StatusCodeToString(status.code()), HttpStatusFor(status)};
  }
  return rows;
}

TEST(ErrorsDocTest, ProtocolDocListsEveryMachineCodeWithItsStatuses) {
  std::vector<std::string> duplicates;
  const std::map<std::string, Row> documented = DocumentedErrors(duplicates);
  const std::map<std::string, Row> implemented = ImplementedErrors();
  ASSERT_GE(implemented.size(), 20u);
  EXPECT_TRUE(duplicates.empty()) << "listed twice in docs/protocol.md: " << duplicates.front();
  for (const auto& [code, row] : implemented) {
    const auto it = documented.find(code);
    if (it == documented.end()) {
      ADD_FAILURE() << "docs/protocol.md section 5 lacks `" << code << "` (" << row.grpc << ", "
                    << row.http << ")";
      continue;
    }
    EXPECT_EQ(it->second.grpc, row.grpc) << code;
    EXPECT_EQ(it->second.http, row.http) << code;
  }
  for (const auto& [code, row] : documented) {
    EXPECT_TRUE(implemented.count(code)) << "docs/protocol.md lists `" << code
                                         << "`, which base/errors.cc does not have";
  }
}

}  // namespace
}  // namespace fedrelay
