#include "base/ready_file.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>

namespace fedrelay {

bool WriteReadyFile(const std::string& path, int grpc_port, int http_port) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << "{\"grpc_port\":" << grpc_port << ",\"http_port\":" << http_port
        << ",\"pid\":" << getpid() << "}\n";
    if (!out.flush()) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

}  // namespace fedrelay
