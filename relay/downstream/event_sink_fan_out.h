// Hands every durable entry to several EventSinks, in the order given (the
// federation core takes one sink; delivery, the member index and others each
// want every entry). Each sink's own contract applies: none may block.
//
// Thread-safety: immutable after construction; OnDurable runs on the writer thread.
#ifndef FEDRELAY_RELAY_DOWNSTREAM_EVENT_SINK_FAN_OUT_H_
#define FEDRELAY_RELAY_DOWNSTREAM_EVENT_SINK_FAN_OUT_H_

#include <memory>
#include <utility>
#include <vector>

#include "federation/federation.h"

namespace fedrelay::relay {

class EventSinkFanOut final : public federation::EventSink {
 public:
  // The sinks must outlive this.
  explicit EventSinkFanOut(std::vector<federation::EventSink*> sinks) : sinks_(std::move(sinks)) {}

  void OnDurable(const std::vector<std::shared_ptr<const v1::LogEntry>>& entries) override {
    for (federation::EventSink* sink : sinks_) sink->OnDurable(entries);
  }

 private:
  const std::vector<federation::EventSink*> sinks_;
};

}  // namespace fedrelay::relay

#endif  // FEDRELAY_RELAY_DOWNSTREAM_EVENT_SINK_FAN_OUT_H_
