#include "tools/client/member.h"

#include <google/protobuf/util/json_util.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>

// GCC 12 reports a false maybe-uninitialized inside Beast's parser.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#pragma GCC diagnostic pop

#include "absl/strings/str_cat.h"
#include "base/clock.h"
#include "federation/signing.h"
#include "nlohmann/json.hpp"

#include "tools/client/json_output.h"

namespace fedrelay::client {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using nlohmann::json;

constexpr int kExitOk = 0;
constexpr int kExitRefused = 1;
constexpr int kExitUsage = 2;

int Usage(const std::string& message) {
  std::cerr << "fedrelay-client member: " << message << "\n(see fedrelay-client member --help)\n";
  return kExitUsage;
}

struct HttpAnswer {
  int status = 0;  // 0: no answer
  std::string body;
  std::string error;  // why there is no answer
};

HttpAnswer Call(const std::string& host_port, const std::string& method, const std::string& target,
                const std::string& body, const std::string& session, uint64_t timeout_ms) {
  HttpAnswer answer;
  const size_t colon = host_port.rfind(':');
  if (colon == std::string::npos) {
    answer.error = "--http must be HOST:PORT";
    return answer;
  }
  const std::string host = host_port.substr(0, colon);
  const std::string port = host_port.substr(colon + 1);
  try {
    net::io_context io;
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::milliseconds(timeout_ms));
    tcp::resolver resolver(io);
    stream.connect(resolver.resolve(host, port));
    http::request<http::string_body> request(http::string_to_verb(method), target, 11);
    request.set(http::field::host, host);
    request.set(http::field::user_agent, "fedrelay-client");
    if (!session.empty()) request.set(http::field::authorization, "Bearer " + session);
    if (!body.empty()) request.set(http::field::content_type, "application/json");
    request.body() = body;
    request.prepare_payload();
    http::write(stream, request);
    beast::flat_buffer buffer;
    http::response<http::string_body> response;
    http::read(stream, buffer, response);
    answer.status = response.result_int();
    answer.body = response.body();
  } catch (const std::exception& e) {
    answer.error = e.what();
  }
  return answer;
}

// Prints the answer: a 2xx body as indented JSON, a refusal on stderr.
int Report(const HttpAnswer& answer, const std::string& host_port) {
  if (answer.status == 0) {
    std::cerr << "fedrelay-client member: cannot reach the relay at " << host_port << ": "
              << answer.error << "\n";
    return kExitRefused;
  }
  const json body = json::parse(answer.body, nullptr, false);
  if (answer.status / 100 == 2) {
    // --json: the same body on one line (one document).
    std::cout << (body.is_discarded() ? answer.body : body.dump(g_json ? -1 : 2)) << "\n";
    return kExitOk;
  }
  if (body.is_object()) {
    std::cerr << "refused: " << body.value("code", "?") << ": " << body.value("error", "")
              << " (HTTP " << answer.status << ", correlation id "
              << body.value("correlation_id", "?") << ")\n";
  } else {
    std::cerr << "refused: HTTP " << answer.status << ": " << answer.body << "\n";
  }
  return kExitRefused;
}

std::string Session(const std::string& flag_value) {
  if (!flag_value.empty()) return flag_value;
  const char* env = std::getenv("FEDRELAY_MEMBER_SESSION");
  return env == nullptr ? "" : env;
}

int CheckLeftover(const Args& args) {
  if (!args.error().empty()) return Usage(args.error());
  if (!args.Leftover().empty()) return Usage("unexpected argument '" + args.Leftover() + "'");
  return kExitOk;
}

// Percent-encodes a query value (RFC 3986 unreserved characters stay).
std::string QueryEscape(const std::string& value) {
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      static const char kHex[] = "0123456789ABCDEF";
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

int Login(Args& args, const std::string& host_port, uint64_t timeout_ms,
          const MemberCertSigner& sign_cert) {
  uint64_t timestamp = 0;
  if (!args.Number("--timestamp", &timestamp)) return Usage(args.error());
  v1::DeviceCert cert;
  std::optional<Ed25519PrivateKey> identity_key, device_key;
  if (int rc = sign_cert(args, &cert, &identity_key, &device_key); rc != 0) return rc;
  if (int rc = CheckLeftover(args); rc != 0) return rc;
  if (timestamp == 0) timestamp = SystemClock().NowMs();
  const std::string user_id = identity_key->PublicKeyHex();
  std::string cert_json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  if (!google::protobuf::util::MessageToJsonString(cert, &cert_json, options).ok()) {
    return Usage("cannot encode the device cert");
  }
  const json body = {{"user_id", user_id},
                     {"device_cert", json::parse(cert_json)},
                     {"timestamp", timestamp},
                     {"signature", federation::MakeMemberSessionSignatureHex(
                                       user_id, cert.device_id(), timestamp, *device_key)}};
  return Report(Call(host_port, "POST", "/member/session", body.dump(), "", timeout_ms), host_port);
}

}  // namespace

int RunMember(Args& args, uint64_t timeout_ms, const MemberCertSigner& sign_cert) {
  std::string host_port = "127.0.0.1:7480";
  if (!args.Value("--http", &host_port)) return Usage(args.error());
  const std::string verb = args.Positional();
  if (verb == "login") return Login(args, host_port, timeout_ms, sign_cert);

  std::string session_flag, device_id;
  if (!args.Value("--session", &session_flag)) return Usage(args.error());
  const std::string session = Session(session_flag);
  std::string method = "POST", target;
  json body = json::object();
  if (verb == "register") {
    std::string platform, app_version, push_provider = "none";
    if (!args.Value("--device-id", &device_id) || !args.Value("--platform", &platform) ||
        !args.Value("--app-version", &app_version) || !args.Value("--push-provider", &push_provider)) {
      return Usage(args.error());
    }
    target = "/member/channel/device/register";
    body = {{"device_id", device_id},
            {"platform", platform.empty() ? "cli" : platform},
            {"app_version", app_version.empty() ? "fedrelay-client" : app_version},
            {"push_provider", push_provider}};
  } else if (verb == "events") {
    std::string cursor, guild;
    uint64_t limit = 0;
    if (!args.Value("--device-id", &device_id) || !args.Value("--cursor", &cursor) ||
        !args.Number("--limit", &limit) || !args.Value("--guild", &guild)) {
      return Usage(args.error());
    }
    method = "GET";
    target = absl::StrCat("/member/channel/events?device_id=", QueryEscape(device_id));
    if (!cursor.empty()) absl::StrAppend(&target, "&cursor=", QueryEscape(cursor));
    if (limit != 0) absl::StrAppend(&target, "&limit=", limit);
    if (!guild.empty()) absl::StrAppend(&target, "&guild_id=", QueryEscape(guild));
  } else if (verb == "ack") {
    std::string event_id;
    uint64_t acknowledged_at = 0;
    if (!args.Value("--device-id", &device_id) || !args.Value("--event-id", &event_id) ||
        !args.Number("--acknowledged-at", &acknowledged_at)) {
      return Usage(args.error());
    }
    if (event_id.empty()) return Usage("ack needs --event-id evt_N");
    target = absl::StrCat("/member/channel/events/", QueryEscape(event_id), "/ack");
    body = {{"device_id", device_id},
            {"acknowledged_at", acknowledged_at == 0 ? SystemClock().NowMs() : acknowledged_at}};
  } else if (verb == "ticket") {
    std::string category, summary, event_id, guild;
    if (!args.Value("--category", &category) || !args.Value("--summary", &summary) ||
        !args.Value("--event-id", &event_id) || !args.Value("--guild", &guild)) {
      return Usage(args.error());
    }
    if (category.empty() || summary.empty()) return Usage("ticket needs --category and --summary");
    target = "/member/channel/support/ticket";
    body = {{"category", category}, {"summary", summary}};
    if (!event_id.empty()) body["event_id"] = event_id;
    if (!guild.empty()) body["guild_id"] = guild;
  } else {
    return Usage(verb.empty() ? "member needs login, register, events, ack or ticket"
                              : "unknown member command '" + verb + "'");
  }
  if (int rc = CheckLeftover(args); rc != 0) return rc;
  if (verb != "ticket" && device_id.empty()) return Usage(verb + " needs --device-id ID");
  if (session.empty()) return Usage("no session: --session TOKEN or FEDRELAY_MEMBER_SESSION");
  return Report(Call(host_port, method, target, method == "GET" ? "" : body.dump(), session,
                     timeout_ms),
                host_port);
}

}  // namespace fedrelay::client
