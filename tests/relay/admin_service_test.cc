// The admin service hands its writes to its own worker: while a synced write
// is held (a store whose Write waits for the test), the handler has already
// given its gRPC callback thread back, the write runs on another thread, and
// other admin calls are answered.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "common/temp_dir.h"
#include "fedrelay/v1/admin.grpc.pb.h"
#include "gtest/gtest.h"
#include "relay/auth/api_keys.h"
#include "relay/grpc/admin_service.h"
#include "store/log_store.h"

namespace fedrelay::relay {
namespace {

// A key-value store whose writes wait while the test holds them, and which
// remembers the threads that wrote through it.
class HeldWritesStore : public store::KeyValueStore {
 public:
  explicit HeldWritesStore(store::KeyValueStore* inner) : inner_(inner) {}

  absl::StatusOr<std::optional<std::string>> Get(store::Table table, absl::string_view key) const override {
    return inner_->Get(table, key);
  }
  absl::Status Scan(store::Table table, absl::string_view prefix,
                    const std::function<bool(absl::string_view, absl::string_view)>& fn) const override {
    return inner_->Scan(table, prefix, fn);
  }
  absl::Status Write(const store::WriteSet& writes) override {
    {
      std::unique_lock<std::mutex> lock(mu_);
      writer_threads_.insert(std::this_thread::get_id());
      ++writes_entered_;
      cv_.notify_all();
      cv_.wait(lock, [this] { return !holding_; });
    }
    return inner_->Write(writes);
  }

  void Hold() {
    std::lock_guard<std::mutex> lock(mu_);
    holding_ = true;
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    holding_ = false;
    cv_.notify_all();
  }
  bool WaitForWrites(int count) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(20), [&] { return writes_entered_ >= count; });
  }
  std::set<std::thread::id> writer_threads() const {
    std::lock_guard<std::mutex> lock(mu_);
    return writer_threads_;
  }

 private:
  store::KeyValueStore* const inner_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool holding_ = false;
  int writes_entered_ = 0;
  std::set<std::thread::id> writer_threads_;
};

// Serves the admin service's API key calls through it and notes when (and on
// which thread) its CreateApiKey handler returned.
class HandlerWatch : public v1::Admin::CallbackService {
 public:
  explicit HandlerWatch(AdminService* inner) : inner_(inner) {}

  grpc::ServerUnaryReactor* CreateApiKey(grpc::CallbackServerContext* context,
                                         const v1::CreateApiKeyRequest* request,
                                         v1::CreateApiKeyResponse* response) override {
    grpc::ServerUnaryReactor* reactor = inner_->CreateApiKey(context, request, response);
    std::lock_guard<std::mutex> lock(mu_);
    create_threads_.insert(std::this_thread::get_id());
    ++creates_returned_;
    cv_.notify_all();
    return reactor;
  }
  grpc::ServerUnaryReactor* ListApiKeys(grpc::CallbackServerContext* context,
                                        const v1::ListApiKeysRequest* request,
                                        v1::ListApiKeysResponse* response) override {
    return inner_->ListApiKeys(context, request, response);
  }

  bool WaitForCreatesReturned(int count) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(20), [&] { return creates_returned_ >= count; });
  }
  std::set<std::thread::id> create_threads() const {
    std::lock_guard<std::mutex> lock(mu_);
    return create_threads_;
  }

 private:
  AdminService* const inner_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int creates_returned_ = 0;
  std::set<std::thread::id> create_threads_;
};

TEST(AdminServiceTest, AHandlerReturnsItsCallbackThreadBeforeItsSyncedWriteCompletes) {
  testing::TempDir dir("admin_service_test");
  auto opened = store::LogStore::Open(dir.path(), {.sync = false});
  ASSERT_TRUE(opened.ok()) << opened.status();
  HeldWritesStore held(opened->get());
  ApiKeys keys(&held);
  // Only the API key commands are called: they need no federation core.
  AdminService service(/*federation=*/nullptr, opened->get(), "verifier", "pubkey", &keys);
  HandlerWatch watch(&service);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&watch);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  auto stub = v1::Admin::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  auto deadline = [] { return std::chrono::system_clock::now() + std::chrono::seconds(20); };

  held.Hold();
  v1::CreateApiKeyResponse created;
  grpc::Status create_status;
  std::thread create([&] {
    grpc::ClientContext context;
    context.set_deadline(deadline());
    v1::CreateApiKeyRequest request;
    request.set_name("held");
    create_status = stub->CreateApiKey(&context, request, &created);
  });
  ASSERT_TRUE(held.WaitForWrites(1));
  // The write is held, and the handler has returned all the same.
  EXPECT_TRUE(watch.WaitForCreatesReturned(1));

  // Other calls are answered meanwhile.
  for (int i = 0; i < 3; ++i) {
    grpc::ClientContext context;
    context.set_deadline(deadline());
    v1::ListApiKeysResponse listed;
    const grpc::Status status = stub->ListApiKeys(&context, v1::ListApiKeysRequest(), &listed);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(listed.keys_size(), 0);  // not written yet
  }

  held.Release();
  create.join();
  ASSERT_TRUE(create_status.ok()) << create_status.error_message();
  EXPECT_EQ(created.key().name(), "held");
  grpc::ClientContext context;
  context.set_deadline(deadline());
  v1::ListApiKeysResponse listed;
  ASSERT_TRUE(stub->ListApiKeys(&context, v1::ListApiKeysRequest(), &listed).ok());
  ASSERT_EQ(listed.keys_size(), 1);
  EXPECT_EQ(listed.keys(0).key_id(), created.key().key_id());

  // The write ran on another thread than the handler's callback thread.
  const auto writers = held.writer_threads();
  ASSERT_EQ(writers.size(), 1u);
  ASSERT_EQ(watch.create_threads().size(), 1u);
  EXPECT_NE(*writers.begin(), *watch.create_threads().begin());
  server->Shutdown();
}

}  // namespace
}  // namespace fedrelay::relay
