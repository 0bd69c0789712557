#include "tools/client/json_output.h"

#include <iostream>

#include "base/encoding.h"
#include "google/protobuf/util/json_util.h"

namespace fedrelay::client {

bool g_json = false;

nlohmann::json ProtoToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string text;
  // Our messages always convert (no Any, no unknown types).
  (void)google::protobuf::util::MessageToJsonString(message, &text, options);
  return nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
}

nlohmann::json ReceiptToJson(const v1::RelayReceipt& receipt) {
  return {{"event_id", receipt.event_id()},
          {"leaf_hash", HexEncode(receipt.leaf_hash())},
          {"timestamp", receipt.timestamp()},
          {"signature", HexEncode(receipt.signature())}};
}

void PrintJsonLine(const nlohmann::json& value) {
  std::cout << value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
}

}  // namespace fedrelay::client
