#include "relay/bus_test_util.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "federation/signing.h"
#include "relay/relay_fixture_util.h"
#include "relay/signed_messages_util.h"

namespace fedrelay::testing {

bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

double Metric(int http_port, const std::string& name) {
  const auto response = HttpRequest(http_port, "GET", "/metrics");
  for (absl::string_view line : absl::StrSplit(response.body, '\n')) {
    if (!absl::ConsumePrefix(&line, name + " ")) continue;
    double value = 0;
    if (absl::SimpleAtod(line, &value)) return value;
  }
  return -1;
}

uint64_t LogSizeAt(int http_port) {
  const double size = Metric(http_port, "fedrelay_log_size");
  return size < 0 ? 0 : static_cast<uint64_t>(size);
}

void AddPeerCallSignature(grpc::ClientContext& context, const std::string& peer,
                          const std::string& method) {
  const uint64_t timestamp = NowMs();
  context.AddMetadata("x-fedrelay-origin", peer + ".example");
  context.AddMetadata("x-fedrelay-timestamp", absl::StrCat(timestamp));
  context.AddMetadata("x-fedrelay-signature",
                      federation::MakeCallSignatureHex(peer + ".example", "relay.example", method,
                                                       timestamp, TestKey("server-" + peer)));
}

PeerSubscriber::PeerSubscriber(const std::shared_ptr<grpc::Channel>& channel,
                               const std::string& peer, const std::string& resume)
    : stub_(v1::FederationRelay::NewStub(channel)) {
  AddPeerCallSignature(context_, peer, "/fedrelay.v1.FederationRelay/Subscribe");
  v1::SubscribeRequest request;
  request.set_resume_from_event_id(resume);
  reader_ = stub_->Subscribe(&context_, request);
  thread_ = std::thread([this] { Run(); });
}

PeerSubscriber::~PeerSubscriber() {
  context_.TryCancel();
  thread_.join();
}

void PeerSubscriber::Run() {
  reader_->WaitForInitialMetadata();
  std::optional<uint64_t> start_after;
  const auto& metadata = context_.GetServerInitialMetadata();
  if (auto it = metadata.find("x-fedrelay-start-after"); it != metadata.end()) {
    uint64_t value = 0;
    if (absl::SimpleAtoi(absl::string_view(it->second.data(), it->second.size()), &value)) {
      start_after = value;
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    start_after_ = start_after;
    accepted_known_ = true;
    cv_.notify_all();
  }
  v1::StreamResponse event;
  while (reader_->Read(&event)) {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(event);
    cv_.notify_all();
  }
  reader_->Finish();
  std::lock_guard<std::mutex> lock(mu_);
  done_ = true;
  cv_.notify_all();
}

std::optional<uint64_t> PeerSubscriber::WaitAccepted() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::seconds(20), [&] { return accepted_known_; });
  return start_after_;
}

bool PeerSubscriber::WaitForEventId(uint64_t event_id, std::chrono::milliseconds limit) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, limit, [&] {
    return done_ || (!events_.empty() && events_.back().event_id() >= event_id);
  }) && !events_.empty() && events_.back().event_id() >= event_id;
}

std::vector<v1::StreamResponse> PeerSubscriber::events() const {
  std::lock_guard<std::mutex> lock(mu_);
  return events_;
}

}  // namespace fedrelay::testing
