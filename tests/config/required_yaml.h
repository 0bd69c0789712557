// The smallest valid config: only the required keys, for tests of the
// optional sections (bridge.*, bus.*). Line 9 is the first line after it.
#ifndef FEDRELAY_TESTS_CONFIG_REQUIRED_YAML_H_
#define FEDRELAY_TESTS_CONFIG_REQUIRED_YAML_H_

namespace fedrelay::config {

inline constexpr char kRequiredYaml[] = R"(relay:
  server_id: relay.example
  origin: relay.example/log
  key_file: relay.key
  data_dir: data
listen:
  grpc: 127.0.0.1:0
  http: 127.0.0.1:0
)";

}  // namespace fedrelay::config

#endif  // FEDRELAY_TESTS_CONFIG_REQUIRED_YAML_H_
