// fedrelay-bench --startup: how fedrelayd's start-up grows with its log and
// derived state. Builds a large log in-process (joins of distinct users,
// signed on every core and decided by the real federation core, sync off),
// then starts the real fedrelayd on it and reports seconds from exec to its
// ready file and its RSS once settled. docs/benchmarks.md has the results.
#ifndef FEDRELAY_TOOLS_BENCH_STARTUP_H_
#define FEDRELAY_TOOLS_BENCH_STARTUP_H_

namespace fedrelay::bench {

// True when argv asks for the start-up mode (--startup).
bool WantsStartup(int argc, char** argv);
// Exit status: 0 measured, 1 the log could not be built or fedrelayd did not
// start, 2 usage.
int RunStartup(int argc, char** argv);

}  // namespace fedrelay::bench

#endif  // FEDRELAY_TOOLS_BENCH_STARTUP_H_
