#include "config/yaml_guard.h"

#include <sstream>

#include "yaml-cpp/eventhandler.h"
#include "yaml-cpp/parser.h"

namespace fedrelay::config {
namespace {

// Remembers where the current document and its root node start.
class DocumentMarks final : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override {
    start = mark;
    root.reset();
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override { Node(YAML::Mark::null_mark()); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { Node(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    Node(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    Node(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    Node(mark);
  }
  void OnMapEnd() override {}

  YAML::Mark start;
  std::optional<YAML::Mark> root;

 private:
  void Node(const YAML::Mark& mark) {
    if (!root.has_value()) root = mark;
  }
};

}  // namespace

YamlDocuments CountYamlDocuments(const std::string& yaml_text) {
  std::istringstream stream(yaml_text);
  YAML::Parser parser(stream);
  DocumentMarks marks;
  YamlDocuments documents;
  std::optional<int> previous_start;
  // A third document is read only to tell "two documents" from a stuck parser.
  for (int read = 0; read < 3 && parser.HandleNextDocument(marks); ++read) {
    if (previous_start.has_value() && marks.start.pos == *previous_start) {
      documents.stuck = marks.start;
      return documents;
    }
    previous_start = marks.start.pos;
    if (read == 1) documents.second_root = marks.root.value_or(YAML::Mark::null_mark());
    if (documents.count < 2) ++documents.count;
  }
  return documents;
}

}  // namespace fedrelay::config
