// JSON request bodies (member channel, access requests) and the JSON frames of
// the WebSockets (/v1/ws, /v1/bridge), which all go through ParseJsonObject
// and the typed field readers.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "absl/strings/string_view.h"
#include "relay/http/json_body.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  using namespace fedrelay::relay;
  auto object = ParseJsonObject(input);
  if (!object.ok()) return 0;
  if (!object->is_object()) std::abort();
  // The names the frame and body handlers read.
  for (const char* name : {"type", "payload", "user_id", "device_id", "signature", "cursor",
                           "event_id", "timestamp", "client_id", "api_key"}) {
    (void)RequiredString(*object, name);
    (void)OptionalString(*object, name);
    (void)RequiredU64(*object, name);
  }
  if (auto payload = object->find("payload"); payload != object->end() && payload->is_object()) {
    (void)RequiredString(*payload, "type");
    (void)RequiredU64(*payload, "after");
  }
  // A parsed body dumps and parses back (bodies are echoed in errors and logs).
  if (!ParseJsonObject(DumpJson(*object)).ok()) std::abort();
  return 0;
}
