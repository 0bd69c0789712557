#include "tools/client/bridge.h"

#include <sys/stat.h>

#include <chrono>
#include <deque>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"

// GCC 12 reports a false maybe-uninitialized inside Beast's parser (see relay/http/http_server.cc).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#pragma GCC diagnostic pop

#include "tools/client/json_output.h"

namespace fedrelay::client {

const char kBridgeHelp[] = R"(Usage: fedrelay-client bridge --key FILE [--http HOST:PORT] [--fail CODE]...
                              [--send-permission ON|OFF] [--count N]

A reference messaging bridge: connects to the relay's /v1/bridge WebSocket with
the API key in FILE (mode 0600, the "fr_..." key on its first line), reports its
endpoint state (CONNECTED, sendPermission as given, default ON, readPermission
ON), then prints one line per frame the relay sends and answers it:

  SendMessage           SendMessageSucceeded, or SendMessageFailed with the
                        next --fail CODE (GENERIC_FAILURE, NO_CONNECTIVITY,
                        NO_PERMISSION) while any are left, in order
  UpdateMessagesStatus  UpdateMessagesStatusSucceeded
  UploadConversations   ConversationsReport with conversations "[]"

  --http HOST:PORT   the relay's HTTP address (default 127.0.0.1:7480)
  --count N          exit 0 once N SendMessage frames were answered; if they do
                     not arrive within --timeout-ms, exit 1

Exit status: 0 --count reached, 1 the relay refused the key or closed the
connection (or --count timed out), 2 usage error (including an unreadable key file).
)";

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using nlohmann::json;

int Usage(const std::string& message) {
  std::cerr << "fedrelay-client bridge: " << message << "\n(see fedrelay-client bridge --help)\n";
  return 2;
}

int Fail(const std::string& message) {
  std::cerr << "fedrelay-client bridge: " << message << "\n";
  return 1;
}

// The API key is a secret: it comes from a 0600 file, never the command line.
bool ReadApiKey(const std::string& path, std::string* key, std::string* error) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    *error = "cannot read key file " + path;
    return false;
  }
  if ((st.st_mode & 077) != 0) {
    *error = "key file " + path + " is readable by group or others; run: chmod 600 " + path;
    return false;
  }
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  for (absl::string_view line : absl::StrSplit(buffer.str(), '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    *key = std::string(line);
    return true;
  }
  *error = "key file " + path + " holds no key";
  return false;
}

std::string Frame(const std::string& action, json payload) {
  static uint64_t next_id = 0;
  return json{{"header",
               {{"version", "4.0"},
                {"messageType", "Publish"},
                {"id", "bridge-" + std::to_string(++next_id)},
                {"messageDescription", {{"topic", "Messaging"}, {"action", action}}}}},
              {"payload", std::move(payload)}}
      .dump();
}

std::string Text(const json& payload, const char* name) {
  auto it = payload.find(name);
  return it != payload.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

int RunBridge(Args& args, uint64_t timeout_ms) {
  std::string key_file, address = "127.0.0.1:7480", send_permission = "ON";
  std::vector<std::string> fail_codes;
  uint64_t count = 0;
  if (!args.Value("--key", &key_file) || !args.Value("--http", &address) ||
      !args.Values("--fail", &fail_codes) || !args.Value("--send-permission", &send_permission) ||
      !args.Number("--count", &count)) {
    return Usage(args.error());
  }
  if (!args.Leftover().empty()) return Usage("unexpected argument " + args.Leftover());
  if (key_file.empty()) return Usage("bridge needs --key FILE");
  for (const auto& code : fail_codes) {
    if (code != "GENERIC_FAILURE" && code != "NO_CONNECTIVITY" && code != "NO_PERMISSION") {
      return Usage("--fail takes GENERIC_FAILURE, NO_CONNECTIVITY or NO_PERMISSION, not '" + code + "'");
    }
  }
  if (send_permission != "ON" && send_permission != "OFF") return Usage("--send-permission is ON or OFF");
  const auto colon = address.rfind(':');
  uint32_t port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port) || port == 0 ||
      port > 65535) {
    return Usage("--http needs HOST:PORT");
  }
  std::string host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  std::string key, error;
  if (!ReadApiKey(key_file, &key, &error)) return Usage(error);

  net::io_context ioc;
  websocket::stream<beast::tcp_stream> ws(ioc);
  beast::error_code ec;
  tcp::resolver resolver(ioc);
  const auto endpoints = resolver.resolve(host, std::to_string(port), ec);
  if (ec) return Fail("cannot resolve " + address + ": " + ec.message());
  beast::get_lowest_layer(ws).expires_after(std::chrono::milliseconds(timeout_ms));
  beast::get_lowest_layer(ws).connect(endpoints, ec);
  if (ec) return Fail("cannot connect to " + address + ": " + ec.message());
  ws.set_option(websocket::stream_base::decorator([&key](websocket::request_type& request) {
    request.set(http::field::authorization, "Bearer " + key);
  }));
  websocket::response_type handshake;
  ws.handshake(handshake, address, "/v1/bridge", ec);
  if (ec) {
    return Fail("the relay refused the bridge (HTTP " + std::to_string(handshake.result_int()) + "): " +
                (handshake.body().empty() ? ec.message() : handshake.body()));
  }
  beast::get_lowest_layer(ws).expires_never();
  ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
  // What the bridge did, as a human line or (--json) one JSON object per line.
  auto say = [](const std::string& text, const json& as_json) {
    if (g_json) {
      PrintJsonLine(as_json);
    } else {
      std::cout << text << std::endl;
    }
  };
  say("connected to " + address + "/v1/bridge", {{"connected", address + "/v1/bridge"}});

  auto send = [&ws](const std::string& action, json payload) {
    beast::error_code write_ec;
    ws.text(true);
    ws.write(net::buffer(Frame(action, std::move(payload))), write_ec);
    return !write_ec;
  };
  send("UpdateMessagingEndpointState",
       {{"connectionState", "CONNECTED"}, {"sendPermission", send_permission}, {"readPermission", "ON"}});

  std::deque<std::string> failures(fail_codes.begin(), fail_codes.end());
  uint64_t answered = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    beast::flat_buffer buffer;
    bool done = false;
    beast::error_code read_ec;
    ws.async_read(buffer, [&](beast::error_code e, size_t) {
      read_ec = e;
      done = true;
    });
    if (count > 0) {
      ioc.run_until(deadline);
      if (!done) {
        return Fail("answered " + std::to_string(answered) + " of " + std::to_string(count) +
                    " SendMessage frames within " + std::to_string(timeout_ms) + " ms (--timeout-ms)");
      }
    } else {
      ioc.run();
    }
    ioc.restart();
    if (read_ec) return Fail("the relay closed the connection: " + read_ec.message());
    const json frame = json::parse(beast::buffers_to_string(buffer.data()), nullptr, false);
    if (!frame.is_object() || !frame.contains("payload") || !frame["payload"].is_object() ||
        !frame.contains("header") || !frame["header"].is_object()) {
      say("ignored a frame that is not a Messaging envelope", {{"ignored", "not a Messaging envelope"}});
      continue;
    }
    const json& payload = frame["payload"];
    const std::string action = frame["header"].value("messageDescription", json::object()).value("action", "");
    const std::string token = Text(payload, "token");
    if (g_json) PrintJsonLine({{"received", frame}});
    if (action == "SendMessage") {
      if (!g_json) std::cout << "SendMessage token=" << token << " recipients=" << Text(payload, "recipients")
                << " message=" << Text(payload, "message") << std::endl;
      if (!failures.empty()) {
        const std::string code = failures.front();
        failures.pop_front();
        send("SendMessageFailed", {{"token", token}, {"code", code}, {"message", "scripted failure"}});
        say("answered SendMessageFailed " + code + " token=" + token,
            {{"answered", "SendMessageFailed"}, {"code", code}, {"token", token}});
      } else {
        send("SendMessageSucceeded", {{"token", token}});
        say("answered SendMessageSucceeded token=" + token,
            {{"answered", "SendMessageSucceeded"}, {"token", token}});
      }
      if (count > 0 && ++answered >= count) {
        ws.close(websocket::close_code::normal, ec);
        return 0;
      }
    } else if (action == "UpdateMessagesStatus") {
      if (!g_json) std::cout << "UpdateMessagesStatus token=" << token << " conversationId=" << Text(payload, "conversationId")
                << " status=" << Text(payload, "status") << std::endl;
      send("UpdateMessagesStatusSucceeded", {{"token", token}});
    } else if (action == "UploadConversations") {
      if (!g_json) std::cout << "UploadConversations token=" << token << std::endl;
      send("ConversationsReport", {{"token", token}, {"conversations", "[]"}});
    } else {
      if (!g_json) std::cout << "ignored action '" << action << "'" << std::endl;
    }
  }
}

}  // namespace fedrelay::client
