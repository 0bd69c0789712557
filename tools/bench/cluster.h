// The scale-out benchmarks (docs/scale-out.md, docs/benchmarks.md), run by
// tools/scripts/cluster.sh against processes it started:
// * BM_Cluster: a load generator submits joins to the sequencer at a fixed
//   rate while simulated peers subscribe on the serving nodes (fan-out nodes,
//   or the sequencer itself), spread evenly; reports deliveries/s,
//   receipt-to-delivery p50/p99, the sequencer's accepted/s (receipts over
//   the time to the last one: its capacity when the rate is above it) and a
//   gap check (every subscriber must get every event exactly once, in order).
// * ClusterPeersYaml: the sequencer's `peers:` block for those subscribers.
#ifndef FEDRELAY_TOOLS_BENCH_CLUSTER_H_
#define FEDRELAY_TOOLS_BENCH_CLUSTER_H_

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

namespace fedrelay::bench {

struct ClusterSettings {
  std::string sequencer;             // host:port of fedrelayd's gRPC
  std::vector<std::string> serving;  // host:port of each node subscribers use
  double seconds = 5;
};

// Arguments: {subscribers, events per second}.
void BM_Cluster(benchmark::State& state, const ClusterSettings* settings);

// peers: alpha.example (the submitter) and sub-0.example .. sub-<n-1>.example.
std::string ClusterPeersYaml(int subscribers);

}  // namespace fedrelay::bench

#endif  // FEDRELAY_TOOLS_BENCH_CLUSTER_H_
