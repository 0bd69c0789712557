// Hands every durable entry to several EventSinks in turn (the downstream
// delivery and the messaging bridge's outbox), so the federation core keeps
// its one sink.
//
// Thread-safety: OnDurable is called by the federation core's writer thread;
// the sinks are fixed at construction. Each sink must itself not block.
#ifndef FEDRELAY_RELAY_DOWNSTREAM_TEE_SINK_H_
#define FEDRELAY_RELAY_DOWNSTREAM_TEE_SINK_H_

#include <memory>
#include <utility>
#include <vector>

#include "federation/federation.h"

namespace fedrelay::relay {

class TeeSink final : public federation::EventSink {
 public:
  // Null sinks are skipped; every sink must outlive the tee's use.
  explicit TeeSink(std::vector<federation::EventSink*> sinks) : sinks_(std::move(sinks)) {}

  void OnDurable(const std::vector<std::shared_ptr<const v1::LogEntry>>& entries) override {
    for (federation::EventSink* sink : sinks_) {
      if (sink != nullptr) sink->OnDurable(entries);
    }
  }

 private:
  const std::vector<federation::EventSink*> sinks_;
};

}  // namespace fedrelay::relay

#endif  // FEDRELAY_RELAY_DOWNSTREAM_TEE_SINK_H_
