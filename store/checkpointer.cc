#include "store/checkpointer.h"

#include <utility>

#include "absl/time/time.h"
#include "base/status_macros.h"
#include "spdlog/spdlog.h"
#include "store/note.h"

namespace fedrelay::store {

Checkpointer::Checkpointer(const LogReader* log, CheckpointStore* checkpoints,
                           Ed25519PrivateKey key, Options options)
    : log_(log), checkpoints_(checkpoints), key_(std::move(key)), options_(std::move(options)) {
  {
    absl::MutexLock lock(&mu_);
    latest_ = checkpoints_->LatestCheckpoint();
  }
  if (options_.interval_ms > 0) thread_ = std::thread([this] { Run(); });
}

Checkpointer::~Checkpointer() { Stop(); }

void Checkpointer::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

std::optional<StoredCheckpoint> Checkpointer::Latest() const {
  absl::MutexLock lock(&mu_);
  return latest_;
}

absl::StatusOr<StoredCheckpoint> Checkpointer::PublishNow() {
  absl::MutexLock publish_lock(&publish_mu_);
  std::optional<StoredCheckpoint> latest = Latest();
  const uint64_t size = log_->Size();
  if (latest.has_value() && latest->tree_size >= size) return *std::move(latest);

  StoredCheckpoint checkpoint;
  checkpoint.tree_size = size;
  ASSIGN_OR_RETURN(checkpoint.root_hash, log_->RootHash(size));
  const std::string body = FormatCheckpointBody(
      CheckpointBody{options_.origin, checkpoint.tree_size, checkpoint.root_hash});
  checkpoint.note = SignNote(body, options_.origin, key_);
  RETURN_IF_ERROR(checkpoints_->SaveCheckpoint(checkpoint));
  {
    absl::MutexLock lock(&mu_);
    latest_ = checkpoint;
  }
  if (options_.on_publish) options_.on_publish(checkpoint);
  return checkpoint;
}

void Checkpointer::Run() {
  const absl::Duration interval = absl::Milliseconds(static_cast<int64_t>(options_.interval_ms));
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), interval)) return;
      if (latest_.has_value() && latest_->tree_size >= log_->Size()) continue;
    }
    absl::StatusOr<StoredCheckpoint> published = PublishNow();
    if (!published.ok()) {
      spdlog::error("checkpoint publication failed: {}", published.status().ToString());
    }
  }
}

}  // namespace fedrelay::store
