// The --ready-file of fedrelay's daemons: once listening, they write
// {"grpc_port":N,"http_port":M,"pid":P} there (atomically, via a rename), so
// a supervisor or test that started them on port 0 learns the ports.
#ifndef FEDRELAY_BASE_READY_FILE_H_
#define FEDRELAY_BASE_READY_FILE_H_

#include <string>

namespace fedrelay {

// False when the file cannot be written.
bool WriteReadyFile(const std::string& path, int grpc_port, int http_port);

}  // namespace fedrelay

#endif  // FEDRELAY_BASE_READY_FILE_H_
