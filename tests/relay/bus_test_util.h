// Helpers shared by the scale-out tests (bus_test.cc, fanout_test.cc).
#ifndef FEDRELAY_TESTS_RELAY_BUS_TEST_UTIL_H_
#define FEDRELAY_TESTS_RELAY_BUS_TEST_UTIL_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <condition_variable>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "fedrelay/v1/fedrelay.grpc.pb.h"

namespace fedrelay::testing {

// Polls `condition` every 20 ms until it holds or `limit` passes.
bool WaitFor(const std::function<bool()>& condition,
             std::chrono::milliseconds limit = std::chrono::seconds(20));

// A metric's value from /metrics on `http_port` (-1 when absent).
double Metric(int http_port, const std::string& name);
// fedrelay_log_size on `http_port` (fedrelayd and fedrelay-fanout both have it).
uint64_t LogSizeAt(int http_port);

// Adds a peer's Call signature (made with its test key) for `method` to `context`.
void AddPeerCallSignature(grpc::ClientContext& context, const std::string& peer,
                          const std::string& method);

// A peer's Subscribe stream read on its own thread.
class PeerSubscriber {
 public:
  // `peer` is "alpha" or "beta"; `resume` as SubscribeRequest.resume_from_event_id.
  PeerSubscriber(const std::shared_ptr<grpc::Channel>& channel, const std::string& peer,
                 const std::string& resume);
  ~PeerSubscriber();

  // The stream's x-fedrelay-start-after; nullopt when it was refused.
  std::optional<uint64_t> WaitAccepted();
  // Until an event with id >= `event_id` arrived (false on timeout or end).
  bool WaitForEventId(uint64_t event_id, std::chrono::milliseconds limit = std::chrono::seconds(20));
  std::vector<v1::StreamResponse> events() const;

 private:
  void Run();

  std::unique_ptr<v1::FederationRelay::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<v1::StreamResponse>> reader_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool accepted_known_ = false;
  std::optional<uint64_t> start_after_;
  std::vector<v1::StreamResponse> events_;
  bool done_ = false;
};

}  // namespace fedrelay::testing

#endif  // FEDRELAY_TESTS_RELAY_BUS_TEST_UTIL_H_
