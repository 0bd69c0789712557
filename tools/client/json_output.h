// fedrelay-client --json: one JSON document per command on stdout (JSON lines
// for the streaming commands) instead of the human output. Refusals and
// errors stay text on stderr, with the same exit statuses.
//
// An accepted submission prints (one line):
//   {"accepted":true,"verified":true,"relay_pubkey":"<hex>",
//    "receipt":{"event_id":N,"leaf_hash":"<hex>","timestamp":MS,"signature":"<hex>"},
//    "request":{...},"response":{...}}
// "request" is the message as sent (a DM invite without its token), "response"
// the relay's answer when it is more than the receipt (federate, accept), both
// in the protobuf JSON mapping with proto field names. These lines are what
// `fedrelay-audit --receipts FILE` reads back.
#ifndef FEDRELAY_TOOLS_CLIENT_JSON_OUTPUT_H_
#define FEDRELAY_TOOLS_CLIENT_JSON_OUTPUT_H_

#include <string>

#include "fedrelay/v1/fedrelay.pb.h"
#include "google/protobuf/message.h"
#include "nlohmann/json.hpp"

namespace fedrelay::client {

// Set once from --json before any command runs.
extern bool g_json;

// `message` in the protobuf JSON mapping (proto field names, every field).
nlohmann::json ProtoToJson(const google::protobuf::Message& message);
// The receipt with hex bytes and numeric integers (the --receipts line format).
nlohmann::json ReceiptToJson(const v1::RelayReceipt& receipt);
// Prints `value` as one line on stdout.
void PrintJsonLine(const nlohmann::json& value);

}  // namespace fedrelay::client

#endif  // FEDRELAY_TOOLS_CLIENT_JSON_OUTPUT_H_
