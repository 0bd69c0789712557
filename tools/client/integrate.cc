// fedrelay-client integrate: the whole /v1/ws flow as an integration runs it
// (docs/integrations.md): hello, request_access (the pending request id is
// printed for the operator), the granted key saved 0600, then subscribe and
// one JSON line per event.
#include "tools/client/integrate.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

// GCC 12 reports a false maybe-uninitialized inside Beast's parser.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#pragma GCC diagnostic pop

#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"

#include "tools/client/json_output.h"

namespace fedrelay::client {
namespace {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Json = nlohmann::json;

int Usage(const std::string& message) {
  std::cerr << "fedrelay-client: " << message << "\n(see fedrelay-client integrate --help)\n";
  return 2;
}
int Fail(const std::string& message) {
  std::cerr << "fedrelay-client: " << message << "\n";
  return 1;
}

std::optional<std::string> ReadKeyFile(const std::string& path) {
  FILE* file = fopen(path.c_str(), "r");
  if (file == nullptr) return std::nullopt;
  char buffer[256];
  const size_t n = fread(buffer, 1, sizeof(buffer) - 1, file);
  fclose(file);
  std::string key(buffer, n);
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' ')) key.pop_back();
  if (key.empty()) return std::nullopt;
  return key;
}

// Written 0600 from the start: the key is a secret.
bool WriteKeyFile(const std::string& path, const std::string& key) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return false;
  fchmod(fd, 0600);
  const std::string line = key + "\n";
  const bool ok = write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  return close(fd) == 0 && ok;
}

}  // namespace

const char kIntegrateHelp[] = R"(fedrelay-client integrate --client-id ID [options]

Runs the integration protocol on the relay's HTTP listener (GET /v1/ws), as a
bot or dashboard would (docs/integrations.md):
  1. hello (clientType integration, --client-id, --display-name, version);
  2. without a saved key: request_access for rest.full; prints the pending
     request id for the operator (fedrelay-ctl access approve REQUEST_ID) and
     waits; the granted key is saved to --key-file (mode 0600), never printed;
  3. subscribe and print each event payload as one JSON line on stdout.

Options:
  --client-id ID        the integration's id (slug or reverse-DNS name), required
  --http HOST:PORT      the relay's HTTP listener (default 127.0.0.1:7480)
  --display-name NAME   shown to the operator (default: the client id)
  --key-file FILE       where the key is kept (default ./<client-id>.apikey); an
                        existing key there is used instead of asking again
  --cursor N            start after event N ("0" = whole log; default: after the
                        key's acknowledged cursor)
  --kind KIND           only these event kinds (repeatable)
  --count N             exit 0 after N events (default: follow until closed)
  --ack                 acknowledge each event once printed (moves the key's cursor)

Exit status: 0 the --count events arrived, 1 denied, refused (the error code
is printed), closed or unreachable, 2 usage error.
)";

int Integrate(Args& args) {
  std::string client_id, http = "127.0.0.1:7480", display_name, key_file, cursor;
  std::vector<std::string> kinds;
  uint64_t count = 0;
  const bool ack = args.Flag("--ack");
  if (!args.Value("--client-id", &client_id) || !args.Value("--http", &http) ||
      !args.Value("--display-name", &display_name) || !args.Value("--key-file", &key_file) ||
      !args.Value("--cursor", &cursor) || !args.Values("--kind", &kinds) ||
      !args.Number("--count", &count)) {
    return Usage(args.error());
  }
  if (!args.Leftover().empty()) return Usage("unexpected argument " + args.Leftover());
  if (client_id.empty()) return Usage("integrate needs --client-id ID");
  if (display_name.empty()) display_name = client_id;
  if (key_file.empty()) key_file = client_id + ".apikey";
  const size_t colon = http.rfind(':');
  if (colon == std::string::npos) return Usage("--http must be HOST:PORT");
  const std::string host = http.substr(0, colon);
  const std::string port = http.substr(colon + 1);

  net::io_context ioc;
  websocket::stream<tcp::socket> ws(ioc);
  beast::error_code ec;
  tcp::resolver resolver(ioc);
  const auto endpoints = resolver.resolve(host, port, ec);
  if (!ec) net::connect(ws.next_layer(), endpoints, ec);
  if (!ec) ws.handshake(host, "/v1/ws", ec);
  if (ec) return Fail("cannot open ws://" + http + "/v1/ws: " + ec.message());
  ws.text(true);

  auto send = [&](const std::string& type, const Json& payload) {
    ws.write(net::buffer(Json{{"type", type}, {"payload", payload}}.dump()), ec);
    return !ec;
  };
  // The next frame; nullopt when the socket closed.
  auto read = [&]() -> std::optional<Json> {
    beast::flat_buffer buffer;
    ws.read(buffer, ec);
    if (ec) return std::nullopt;
    Json frame = Json::parse(beast::buffers_to_string(buffer.data()), nullptr, false);
    if (frame.is_discarded() || !frame.is_object()) return Json::object();
    return frame;
  };
  auto refused = [&](const Json& frame) {
    const Json payload = frame.value("payload", Json::object());
    return Fail("refused: " + payload.value("code", std::string("?")) + ": " +
                payload.value("message", std::string()));
  };

  const std::optional<std::string> saved = ReadKeyFile(key_file);
  Json hello = {{"clientType", "integration"}, {"clientId", client_id},
                {"displayName", display_name}, {"version", "1.0.0"}};
  if (saved.has_value()) hello["apiKey"] = *saved;
  if (!send("hello", hello)) return Fail("cannot send hello: " + ec.message());
  std::optional<Json> frame = read();
  if (!frame.has_value()) return Fail("the relay closed the socket: " + ec.message());
  if (frame->value("type", "") != "welcome") return refused(*frame);

  if (!saved.has_value()) {
    send("request_access", {{"clientId", client_id},
                            {"displayName", display_name},
                            {"requestedScopes", {"rest.full"}}});
    frame = read();
    if (!frame.has_value()) return Fail("the relay closed the socket: " + ec.message());
    if (frame->value("type", "") != "access_pending") return refused(*frame);
    const std::string request_id = (*frame)["payload"].value("requestId", "");
    if (g_json) {
      PrintJsonLine({{"pending_request_id", request_id}});
    } else {
      std::cout << "pending request id: " << request_id << "\n"
                << "ask the relay's operator to run: fedrelay-ctl access approve " << request_id
                << std::endl;
    }
    frame = read();
    if (!frame.has_value()) return Fail("the relay closed the socket: " + ec.message());
    const std::string type = frame->value("type", "");
    if (type == "access_denied") {
      return Fail("access denied: " + (*frame)["payload"].value("reason", std::string("?")));
    }
    if (type != "access_granted") return refused(*frame);
    const std::string key = (*frame)["payload"].value("apiKey", "");
    if (!WriteKeyFile(key_file, key)) {
      return Fail("access granted, but the key could not be saved to " + key_file +
                  " (ask the operator to revoke it)");
    }
    std::cerr << "access granted; key saved to " << key_file << " (mode 0600)" << std::endl;
  }

  Json subscribe = Json::object();
  if (!cursor.empty()) subscribe["cursor"] = cursor;
  if (!kinds.empty()) subscribe["kinds"] = kinds;
  if (!send("subscribe", subscribe)) return Fail("cannot subscribe: " + ec.message());
  uint64_t received = 0;
  while (count == 0 || received < count) {
    frame = read();
    if (!frame.has_value()) return Fail("the relay closed the socket: " + ec.message());
    const std::string type = frame->value("type", "");
    if (type == "ack") continue;
    if (type != "event") return refused(*frame);
    const Json& event = (*frame)["payload"];
    std::cout << event.dump() << std::endl;  // a line per event, as it arrives
    ++received;
    if (ack) send("ack", {{"eventId", event.value("eventId", std::string("0"))}});
  }
  ws.close(websocket::close_code::normal, ec);
  return 0;
}

}  // namespace fedrelay::client
