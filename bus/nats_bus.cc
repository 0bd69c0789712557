// NatsBus over the C client. Every nats.h type stays in this file.
#include "bus/nats_bus.h"

#include <nats/nats.h>

#include <map>
#include <mutex>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace fedrelay::bus {
namespace {

// JetStream's duplicate window (Nats-Msg-Id), in nanoseconds: two minutes.
constexpr int64_t kDuplicateWindowNs = 120LL * 1000 * 1000 * 1000;

std::string LastErrorText(natsStatus status) {
  natsStatus last = NATS_OK;
  const char* text = nats_GetLastError(&last);
  if (text != nullptr && *text != '\0') return text;
  return natsStatus_GetText(status);
}

// One conversion of a client failure into a Status.
absl::Status NatsError(natsStatus status, jsErrCode js_code, absl::string_view what) {
  const std::string message =
      absl::StrCat("nats: ", what, ": ", LastErrorText(status),
                   js_code != 0 ? absl::StrCat(" (JetStream error ", static_cast<int>(js_code), ")")
                                : std::string());
  if (js_code == JSStreamNotFoundErr || status == NATS_NOT_FOUND) {
    return absl::NotFoundError(message);
  }
  if (js_code == JSStreamWrongLastSequenceErr || js_code == JSStreamWrongLastMsgIDErr ||
      absl::StrContains(message, "wrong last sequence")) {
    return absl::FailedPreconditionError(message);
  }
  return absl::UnavailableError(message);
}

class OrderedFollower final : public NatsBus::Follower {
 public:
  explicit OrderedFollower(natsSubscription* sub) : sub_(sub) {}
  ~OrderedFollower() override {
    natsSubscription_Unsubscribe(sub_);
    natsSubscription_Destroy(sub_);
  }

  absl::StatusOr<std::optional<std::pair<uint64_t, std::string>>> Next(int64_t timeout_ms) override {
    natsMsg* msg = nullptr;
    const natsStatus status = natsSubscription_NextMsg(&msg, sub_, timeout_ms);
    if (status == NATS_TIMEOUT) return std::nullopt;
    if (status != NATS_OK) return NatsError(status, static_cast<jsErrCode>(0), "next message");
    jsMsgMetaData* meta = nullptr;
    const natsStatus meta_status = natsMsg_GetMetaData(&meta, msg);
    if (meta_status != NATS_OK) {
      natsMsg_Destroy(msg);
      return NatsError(meta_status, static_cast<jsErrCode>(0), "message metadata");
    }
    std::pair<uint64_t, std::string> out(
        meta->Sequence.Stream,
        std::string(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg))));
    jsMsgMetaData_Destroy(meta);
    natsMsg_Destroy(msg);
    return out;
  }

 private:
  natsSubscription* const sub_;
};

class BucketWatcher final : public NatsBus::KvWatcher {
 public:
  explicit BucketWatcher(kvWatcher* watcher) : watcher_(watcher) {}
  ~BucketWatcher() override {
    kvWatcher_Stop(watcher_);
    kvWatcher_Destroy(watcher_);
  }

  absl::StatusOr<std::optional<NatsBus::KvUpdate>> Next(int64_t timeout_ms) override {
    kvEntry* entry = nullptr;
    const natsStatus status = kvWatcher_Next(&entry, watcher_, timeout_ms);
    if (status == NATS_TIMEOUT) return std::nullopt;
    if (status != NATS_OK) return NatsError(status, static_cast<jsErrCode>(0), "key-value watch");
    NatsBus::KvUpdate update;
    if (entry == nullptr) {
      update.kind = NatsBus::KvUpdate::Kind::kCaughtUp;
      return update;
    }
    update.key = kvEntry_Key(entry);
    if (kvEntry_Operation(entry) == kvOp_Put) {
      update.value.assign(static_cast<const char*>(kvEntry_Value(entry)),
                          static_cast<size_t>(kvEntry_ValueLen(entry)));
    } else {
      update.kind = NatsBus::KvUpdate::Kind::kDelete;
    }
    kvEntry_Destroy(entry);
    return update;
  }

 private:
  kvWatcher* const watcher_;
};

}  // namespace

BusNames BusNames::From(const std::string& stream, const std::string& subject_prefix) {
  BusNames names;
  names.stream = stream;
  names.log_subject = subject_prefix + ".log";
  names.tokens_stream = stream + "_TOKENS";
  names.tokens_subject = subject_prefix + ".tokens";
  names.checkpoint_stream = stream + "_CHECKPOINT";
  names.checkpoint_subject = subject_prefix + ".checkpoint";
  names.cursor_bucket = stream + "_CURSORS";
  names.api_key_bucket = stream + "_APIKEYS";
  return names;
}

struct NatsBus::Impl {
  natsConnection* conn = nullptr;
  jsCtx* js = nullptr;
  std::mutex kv_mu;
  std::map<std::string, kvStore*> buckets;  // guarded by kv_mu

  ~Impl() {
    for (auto& [name, kv] : buckets) kvStore_Destroy(kv);
    if (js != nullptr) jsCtx_Destroy(js);
    if (conn != nullptr) {
      natsConnection_Close(conn);
      natsConnection_Destroy(conn);
    }
  }

  absl::StatusOr<kvStore*> Bucket(const std::string& bucket) {
    std::lock_guard<std::mutex> lock(kv_mu);
    auto it = buckets.find(bucket);
    if (it != buckets.end()) return it->second;
    kvStore* kv = nullptr;
    natsStatus status = js_KeyValue(&kv, js, bucket.c_str());
    if (status == NATS_NOT_FOUND) {
      kvConfig config;
      kvConfig_Init(&config);
      config.Bucket = bucket.c_str();
      config.History = 1;
      status = js_CreateKeyValue(&kv, js, &config);
    }
    if (status != NATS_OK) {
      return NatsError(status, static_cast<jsErrCode>(0), absl::StrCat("key-value bucket ", bucket));
    }
    buckets[bucket] = kv;
    return kv;
  }
};

NatsBus::NatsBus(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
NatsBus::~NatsBus() = default;

absl::StatusOr<std::unique_ptr<NatsBus>> NatsBus::Connect(const std::string& url,
                                                          const std::string& client_name,
                                                          int64_t timeout_ms) {
  auto impl = std::make_unique<Impl>();
  natsOptions* options = nullptr;
  natsStatus status = natsOptions_Create(&options);
  if (status == NATS_OK) status = natsOptions_SetURL(options, url.c_str());
  if (status == NATS_OK) status = natsOptions_SetName(options, client_name.c_str());
  if (status == NATS_OK) status = natsOptions_SetTimeout(options, timeout_ms);
  if (status == NATS_OK) status = natsOptions_SetMaxReconnect(options, -1);
  if (status == NATS_OK) status = natsOptions_SetReconnectWait(options, 250);
  if (status == NATS_OK) status = natsConnection_Connect(&impl->conn, options);
  natsOptions_Destroy(options);
  if (status != NATS_OK) {
    impl->conn = nullptr;
    return NatsError(status, static_cast<jsErrCode>(0), absl::StrCat("cannot connect to ", url));
  }
  jsOptions js_options;
  jsOptions_Init(&js_options);
  js_options.Wait = timeout_ms;
  status = natsConnection_JetStream(&impl->js, impl->conn, &js_options);
  if (status != NATS_OK) return NatsError(status, static_cast<jsErrCode>(0), "JetStream context");
  return std::unique_ptr<NatsBus>(new NatsBus(std::move(impl)));
}

absl::StatusOr<uint64_t> NatsBus::LastSequence(const std::string& stream) {
  jsStreamInfo* info = nullptr;
  jsErrCode js_code = static_cast<jsErrCode>(0);
  const natsStatus status = js_GetStreamInfo(&info, impl_->js, stream.c_str(), nullptr, &js_code);
  if (status != NATS_OK) return NatsError(status, js_code, absl::StrCat("stream ", stream));
  const uint64_t last = info->State.LastSeq;
  jsStreamInfo_Destroy(info);
  return last;
}

absl::StatusOr<uint64_t> NatsBus::EnsureStream(const std::string& name,
                                               const std::vector<std::string>& subjects,
                                               int64_t max_msgs_per_subject) {
  absl::StatusOr<uint64_t> last = LastSequence(name);
  if (!absl::IsNotFound(last.status())) return last;
  std::vector<const char*> subject_ptrs;
  for (const std::string& subject : subjects) subject_ptrs.push_back(subject.c_str());
  jsStreamConfig config;
  jsStreamConfig_Init(&config);
  config.Name = name.c_str();
  config.Subjects = subject_ptrs.data();
  config.SubjectsLen = static_cast<int>(subject_ptrs.size());
  config.Storage = js_FileStorage;
  config.Retention = js_LimitsPolicy;
  config.Duplicates = kDuplicateWindowNs;
  if (max_msgs_per_subject > 0) config.MaxMsgsPerSubject = max_msgs_per_subject;
  jsStreamInfo* info = nullptr;
  jsErrCode js_code = static_cast<jsErrCode>(0);
  const natsStatus status = js_AddStream(&info, impl_->js, &config, nullptr, &js_code);
  if (status != NATS_OK) return NatsError(status, js_code, absl::StrCat("create stream ", name));
  const uint64_t created_last = info->State.LastSeq;
  jsStreamInfo_Destroy(info);
  return created_last;
}

absl::StatusOr<std::optional<std::string>> NatsBus::GetMessage(const std::string& stream,
                                                               uint64_t sequence) {
  natsMsg* msg = nullptr;
  jsErrCode js_code = static_cast<jsErrCode>(0);
  const natsStatus status = js_GetMsg(&msg, impl_->js, stream.c_str(), sequence, nullptr, &js_code);
  if (status == NATS_NOT_FOUND || js_code == JSNoMessageFoundErr) return std::nullopt;
  if (status != NATS_OK) {
    return NatsError(status, js_code, absl::StrCat("get message ", sequence, " of ", stream));
  }
  std::string data(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg)));
  natsMsg_Destroy(msg);
  return data;
}

absl::StatusOr<std::optional<std::string>> NatsBus::GetLastMessage(const std::string& stream,
                                                                   const std::string& subject) {
  natsMsg* msg = nullptr;
  jsErrCode js_code = static_cast<jsErrCode>(0);
  const natsStatus status =
      js_GetLastMsg(&msg, impl_->js, stream.c_str(), subject.c_str(), nullptr, &js_code);
  if (status == NATS_NOT_FOUND || js_code == JSNoMessageFoundErr) return std::nullopt;
  if (status != NATS_OK) {
    return NatsError(status, js_code, absl::StrCat("get last message of ", stream));
  }
  std::string data(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg)));
  natsMsg_Destroy(msg);
  return data;
}

absl::Status NatsBus::DeleteStream(const std::string& stream) {
  jsErrCode js_code = static_cast<jsErrCode>(0);
  const natsStatus status = js_DeleteStream(impl_->js, stream.c_str(), nullptr, &js_code);
  if (status != NATS_OK) return NatsError(status, js_code, absl::StrCat("delete stream ", stream));
  return absl::OkStatus();
}

absl::StatusOr<PublishAck> NatsBus::Publish(const std::string& subject, absl::string_view data,
                                            const std::string& msg_id,
                                            uint64_t expected_last_sequence, PublishError* error) {
  jsPubOptions options;
  jsPubOptions_Init(&options);
  if (!msg_id.empty()) options.MsgId = msg_id.c_str();
  options.ExpectLastSeq = expected_last_sequence;
  jsPubAck* ack = nullptr;
  jsErrCode js_code = static_cast<jsErrCode>(0);
  const natsStatus status = js_Publish(&ack, impl_->js, subject.c_str(), data.data(),
                                       static_cast<int>(data.size()), &options, &js_code);
  if (status != NATS_OK) {
    absl::Status failure = NatsError(status, js_code, absl::StrCat("publish on ", subject));
    if (error != nullptr) *error = PublishError{failure, static_cast<int>(js_code)};
    return failure;
  }
  PublishAck out{ack->Sequence, ack->Duplicate};
  jsPubAck_Destroy(ack);
  return out;
}

absl::Status NatsBus::EnsureBucket(const std::string& bucket) {
  return impl_->Bucket(bucket).status();
}

absl::StatusOr<std::optional<NatsBus::KvValue>> NatsBus::KvGet(const std::string& bucket,
                                                               const std::string& key) {
  ASSIGN_OR_RETURN(kvStore * kv, impl_->Bucket(bucket));
  kvEntry* entry = nullptr;
  const natsStatus status = kvStore_Get(&entry, kv, key.c_str());
  if (status == NATS_NOT_FOUND) return std::nullopt;
  if (status != NATS_OK) return NatsError(status, static_cast<jsErrCode>(0), "key-value get");
  KvValue value{std::string(static_cast<const char*>(kvEntry_Value(entry)),
                            static_cast<size_t>(kvEntry_ValueLen(entry))),
                kvEntry_Revision(entry)};
  kvEntry_Destroy(entry);
  return value;
}

absl::StatusOr<uint64_t> NatsBus::KvSwap(const std::string& bucket, const std::string& key,
                                         absl::string_view value, uint64_t last_revision) {
  ASSIGN_OR_RETURN(kvStore * kv, impl_->Bucket(bucket));
  uint64_t revision = 0;
  const natsStatus status =
      last_revision == 0
          ? kvStore_Create(&revision, kv, key.c_str(), value.data(), static_cast<int>(value.size()))
          : kvStore_Update(&revision, kv, key.c_str(), value.data(), static_cast<int>(value.size()),
                           last_revision);
  if (status != NATS_OK) {
    absl::Status failure = NatsError(status, static_cast<jsErrCode>(0), "key-value swap");
    // A lost race (the key moved on, or exists already) is the expected refusal.
    if (absl::StrContains(failure.message(), "wrong last sequence") ||
        absl::StrContains(failure.message(), "key exists")) {
      return absl::FailedPreconditionError(failure.message());
    }
    return failure;
  }
  return revision;
}

absl::Status NatsBus::KvPut(const std::string& bucket, const std::string& key,
                            absl::string_view value) {
  ASSIGN_OR_RETURN(kvStore * kv, impl_->Bucket(bucket));
  uint64_t revision = 0;
  const natsStatus status =
      kvStore_Put(&revision, kv, key.c_str(), value.data(), static_cast<int>(value.size()));
  if (status != NATS_OK) return NatsError(status, static_cast<jsErrCode>(0), "key-value put");
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<NatsBus::KvWatcher>> NatsBus::KvWatch(const std::string& bucket) {
  ASSIGN_OR_RETURN(kvStore * kv, impl_->Bucket(bucket));
  kvWatcher* watcher = nullptr;
  const natsStatus status = kvStore_WatchAll(&watcher, kv, nullptr);
  if (status != NATS_OK) {
    return NatsError(status, static_cast<jsErrCode>(0), absl::StrCat("watch bucket ", bucket));
  }
  return std::unique_ptr<KvWatcher>(new BucketWatcher(watcher));
}

bool NatsBus::Connected() const {
  return natsConnection_Status(impl_->conn) == NATS_CONN_STATUS_CONNECTED;
}

absl::Status NatsBus::PublishCore(const std::string& subject, absl::string_view data) {
  const natsStatus status = natsConnection_Publish(impl_->conn, subject.c_str(), data.data(),
                                                   static_cast<int>(data.size()));
  if (status != NATS_OK) return NatsError(status, static_cast<jsErrCode>(0), "publish");
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<NatsBus::Follower>> NatsBus::Follow(const std::string& stream,
                                                                   const std::string& subject,
                                                                   uint64_t start_sequence) {
  jsSubOptions options;
  jsSubOptions_Init(&options);
  options.Stream = stream.c_str();
  options.Ordered = true;
  options.Config.DeliverPolicy = js_DeliverByStartSequence;
  options.Config.OptStartSeq = start_sequence;
  natsSubscription* sub = nullptr;
  jsErrCode js_code = static_cast<jsErrCode>(0);
  const natsStatus status =
      js_SubscribeSync(&sub, impl_->js, subject.c_str(), nullptr, &options, &js_code);
  if (status != NATS_OK) return NatsError(status, js_code, absl::StrCat("follow ", stream));
  // A follower that falls behind must not lose messages in the client's buffer.
  natsSubscription_SetPendingLimits(sub, -1, -1);
  return std::unique_ptr<Follower>(new OrderedFollower(sub));
}

}  // namespace fedrelay::bus
