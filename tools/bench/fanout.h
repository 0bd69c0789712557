// Downstream fan-out latency (issue 5): the whole relay in-process, real gRPC
// Subscribe streams on loopback, events submitted at a fixed rate over a Submit
// stream. Latency is measured from the moment the submitter holds an event's
// receipt to the moment a subscriber reads the event (0 when the subscriber
// was first), so it is what a peer sees after the relay promised durability.
#ifndef FEDRELAY_TOOLS_BENCH_FANOUT_H_
#define FEDRELAY_TOOLS_BENCH_FANOUT_H_

#include <benchmark/benchmark.h>

#include <string>

namespace fedrelay::bench {

struct FanOutSettings {
  std::string dir;             // scratch directory; each run uses a fresh subdirectory
  double seconds = 5;          // how long events are submitted
};

// Arguments: {subscribers, events per second, guilds}. With guilds = 0 every
// subscriber takes every event; otherwise events rotate over `guilds` guilds
// and subscriber i follows guild i % guilds only (a peer subscribes to the
// guilds its members are in). Reports p50_ms, p99_ms and max_ms of the
// receipt-to-delivery latency, receipt_p99_ms (submission to receipt, so a
// fan-out that delayed receipts cannot hide there), deliveries/s and the
// achieved event rate.
void BM_FanOut(benchmark::State& state, const FanOutSettings* settings);

}  // namespace fedrelay::bench

#endif  // FEDRELAY_TOOLS_BENCH_FANOUT_H_
