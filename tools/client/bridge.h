// `fedrelay-client bridge`: a reference messaging bridge for /v1/bridge
// (docs/bridge.md). It prints what the relay asks it to send and answers,
// with scripted failures, so operators can try the flow and tests can drive it.
#ifndef FEDRELAY_TOOLS_CLIENT_BRIDGE_H_
#define FEDRELAY_TOOLS_CLIENT_BRIDGE_H_

#include <cstdint>

#include "base/flags.h"

namespace fedrelay::client {

extern const char kBridgeHelp[];

// Runs the bridge until the relay closes it (exit 1), or until --count
// SendMessages were answered (exit 0). Exit 2 on usage errors.
int RunBridge(Args& args, uint64_t timeout_ms);

}  // namespace fedrelay::client

#endif  // FEDRELAY_TOOLS_CLIENT_BRIDGE_H_
