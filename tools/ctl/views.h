// fedrelay-ctl's read-only views of a running relay (the AdminViews service
// and the checkpoint): tail, subscribers, bans, user, rejections, checkpoint.
#ifndef FEDRELAY_TOOLS_CTL_VIEWS_H_
#define FEDRELAY_TOOLS_CTL_VIEWS_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "base/flags.h"

namespace fedrelay::ctl {

// The command help lines of the views, for fedrelay-ctl --help.
extern const char kViewsUsage[];

// Runs the view named by the first argument when it is one; returns false
// (and leaves `args` alone) otherwise. *exit_code is the command's status.
bool RunView(Args& args, const std::shared_ptr<grpc::Channel>& channel, const std::string& socket,
             int* exit_code);

}  // namespace fedrelay::ctl

#endif  // FEDRELAY_TOOLS_CTL_VIEWS_H_
