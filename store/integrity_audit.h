// The full audit of a stored log: every leaf hash and every stored Merkle node
// recomputed from the leaves, and the latest checkpoint's root checked
// (fedrelay-audit).
//
// Thread-safety: implementations are thread-safe; the audit reads a snapshot.
#ifndef FEDRELAY_STORE_INTEGRITY_AUDIT_H_
#define FEDRELAY_STORE_INTEGRITY_AUDIT_H_

#include <cstdint>
#include <functional>

#include "absl/status/status.h"

namespace fedrelay::store {

class IntegrityAudit {
 public:
  virtual ~IntegrityAudit() = default;
  // DATA_LOSS naming the first bad index. `progress(done, total)` is called now and then.
  virtual absl::Status VerifyIntegrity(
      const std::function<void(uint64_t, uint64_t)>& progress = nullptr) const = 0;
};

}  // namespace fedrelay::store

#endif  // FEDRELAY_STORE_INTEGRITY_AUDIT_H_
