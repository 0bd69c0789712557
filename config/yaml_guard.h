// Counting a config file's YAML documents without YAML::LoadAll, which in
// yaml-cpp 0.7 (Debian 12's) loops forever, allocating, when a document makes
// no progress: a ',' where a node belongs (",", "- a\n,", "  a: 1\n,"; found
// by tests/fuzz/config_fuzz; yaml-cpp issue 1040, fixed upstream after 0.8).
// This drives yaml-cpp's parser itself and stops at the first document that
// starts where the one before it did. Internal to config/.
#ifndef FEDRELAY_CONFIG_YAML_GUARD_H_
#define FEDRELAY_CONFIG_YAML_GUARD_H_

#include <optional>
#include <string>

#include "yaml-cpp/mark.h"

namespace fedrelay::config {

struct YamlDocuments {
  int count = 0;                   // 0, 1, or 2 for "two or more"
  YAML::Mark second_root;          // where the second document's root starts (count == 2)
  std::optional<YAML::Mark> stuck;  // where yaml-cpp stopped moving: a syntax error
};

// Throws what yaml-cpp throws (YAML::Exception) on other syntax errors.
YamlDocuments CountYamlDocuments(const std::string& yaml_text);

}  // namespace fedrelay::config

#endif  // FEDRELAY_CONFIG_YAML_GUARD_H_
