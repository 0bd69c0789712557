// fedrelay-client integrate (the /v1/ws integration flow); see kIntegrateHelp.
#ifndef FEDRELAY_TOOLS_CLIENT_INTEGRATE_H_
#define FEDRELAY_TOOLS_CLIENT_INTEGRATE_H_

#include "base/flags.h"

namespace fedrelay::client {

extern const char kIntegrateHelp[];
// Exit status 0 / 1 / 2 as the help says.
int Integrate(Args& args);

}  // namespace fedrelay::client

#endif  // FEDRELAY_TOOLS_CLIENT_INTEGRATE_H_
