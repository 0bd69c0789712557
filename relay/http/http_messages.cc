// The request/response helpers of the HTTP server (http_server_internal.h).
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/errors.h"
#include "nlohmann/json.hpp"
#include "relay/http/http_server_internal.h"

namespace fedrelay::relay {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding for query components ('+' is a space, as in HTML forms).
absl::StatusOr<std::string> QueryDecode(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] != '%') {
      out += text[i];
    } else {
      const int high = i + 1 < text.size() ? HexValue(text[i + 1]) : -1;
      const int low = i + 2 < text.size() ? HexValue(text[i + 2]) : -1;
      if (high < 0 || low < 0) return MakeError(ErrorCode::kMalformed, "bad percent-encoding in the query");
      out += static_cast<char>(high * 16 + low);
      i += 2;
    }
  }
  return out;
}

bool IsSecretName(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  return absl::StrContains(lower, "token") || absl::StrContains(lower, "key") ||
         absl::StrContains(lower, "secret") || absl::StrContains(lower, "password");
}

}  // namespace

std::string ToString(beast::string_view view) { return std::string(view.data(), view.size()); }

absl::StatusOr<std::map<std::string, std::string>> ParseQuery(absl::string_view query) {
  std::map<std::string, std::string> result;
  for (absl::string_view part : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    const size_t equals = part.find('=');
    auto name = QueryDecode(part.substr(0, equals));
    if (!name.ok()) return name.status();
    auto value = QueryDecode(equals == absl::string_view::npos ? absl::string_view() : part.substr(equals + 1));
    if (!value.ok()) return value.status();
    result.emplace(std::move(*name), std::move(*value));
  }
  return result;
}

// Credentials travel in query parameters only by mistake, but must not reach the log even then.
std::string LoggedTarget(const HttpRequest& request) {
  std::string out = request.path.empty() ? "-" : request.path;
  char separator = '?';
  for (const auto& [name, value] : request.query) {
    absl::StrAppend(&out, std::string(1, separator), name, "=", IsSecretName(name) ? "<redacted>" : value);
    separator = '&';
  }
  return out;
}

void CloseStream(beast::tcp_stream& stream) {
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream.close();
}

void DrainThenClose(beast::tcp_stream& stream, std::shared_ptr<void> owner, net::mutable_buffer buffer) {
  stream.async_read_some(buffer, [&stream, owner = std::move(owner), buffer](beast::error_code ec, size_t) mutable {
    if (ec) {
      CloseStream(stream);
    } else {
      DrainThenClose(stream, std::move(owner), buffer);
    }
  });
}

std::string FormatEndpoint(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  return address.is_v6() ? absl::StrCat("[", address.to_string(), "]:", endpoint.port())
                         : absl::StrCat(address.to_string(), ":", endpoint.port());
}

HttpResponse ErrorResponse(const absl::Status& status, const std::string& correlation_id) {
  const int http_status = HttpStatusFor(status);
  // Internal failures are logged in full (with the correlation id) but not shown to clients.
  const std::string human = http_status >= 500 && MachineCode(status) == "internal"
                                ? std::string("internal error")
                                : HumanMessage(status);
  const nlohmann::json body = {
      {"error", human}, {"code", MachineCode(status)}, {"correlation_id", correlation_id}};
  HttpResponse response =
      HttpResponse::Json(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), http_status);
  if (const auto retry_ms = RetryAfterMs(status)) {
    response.headers.emplace_back("Retry-After", absl::StrCat((*retry_ms + 999) / 1000));
  }
  return response;
}


std::optional<std::string> HttpRequest::Header(absl::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, name)) return value;
  }
  return std::nullopt;
}

std::optional<std::string> HttpRequest::BearerToken() const {
  const auto authorization = Header("Authorization");
  if (!authorization.has_value()) return std::nullopt;
  absl::string_view value = *authorization;
  constexpr absl::string_view kScheme = "Bearer ";
  if (value.size() <= kScheme.size() || !absl::StartsWithIgnoreCase(value, kScheme)) return std::nullopt;
  value.remove_prefix(kScheme.size());
  value = absl::StripAsciiWhitespace(value);
  if (value.empty()) return std::nullopt;
  return std::string(value);
}

HttpResponse HttpResponse::Json(std::string body, int status) {
  HttpResponse response;
  response.status = status;
  response.content_type = "application/json";
  response.body = std::move(body);
  return response;
}

HttpResponse HttpResponse::Text(std::string body, int status) {
  HttpResponse response;
  response.status = status;
  response.content_type = "text/plain; charset=utf-8";
  response.body = std::move(body);
  return response;
}

}  // namespace fedrelay::relay
