// fedrelay-bench --e2e: the relay measured from outside. A real fedrelayd
// process (Release, durable log, fresh data directory, loopback ephemeral
// ports), a C++ load generator over real gRPC with every request signed
// before the clock starts, and two baselines measured in the same run:
// A (strict Ed25519 verifications per second, one thread per core) and
// B (empty unary Ping calls per second). docs/benchmarks.md lists the rows.
#ifndef FEDRELAY_TOOLS_BENCH_E2E_H_
#define FEDRELAY_TOOLS_BENCH_E2E_H_

namespace fedrelay::bench {

// True when argv asks for the end-to-end mode (--e2e).
bool WantsEndToEnd(int argc, char** argv);
// Parses the end-to-end flags, runs every row and prints them (text, or JSON
// with --json). Exit status: 0 every row measured, 1 a row failed (a refused
// request, a relay that did not start, a missing delivery), 2 usage.
int RunEndToEnd(int argc, char** argv);

}  // namespace fedrelay::bench

#endif  // FEDRELAY_TOOLS_BENCH_E2E_H_
