#include "relay/http/log_http.h"

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/crypto.h"
#include "base/errors.h"
#include "base/metrics.h"
#include "common/temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "relay/http/http_server.h"
#include "relay/http_test_util.h"
#include "store/log_store.h"
#include "store/note.h"

namespace fedrelay::relay {
namespace {

using testing::Response;
using testing::TestHttpClient;
namespace http = boost::beast::http;
using ::testing::StartsWith;

constexpr uint64_t kLogSize = 300;  // one full tile and a partial one of 44 at level 0
constexpr char kOrigin[] = "relay.example.test/log";

std::string Leaf(uint64_t i) { return absl::StrCat("leaf-", i, std::string(i % 7, 'x')); }

std::string ErrorCodeOf(const Response& response) {
  const auto body = nlohmann::json::parse(response.body(), nullptr, /*allow_exceptions=*/false);
  if (!body.is_object()) return "<not json: " + response.body() + ">";
  EXPECT_EQ(body.value("correlation_id", ""), std::string(response["X-Correlation-Id"]));
  return body.value("code", "");
}

class LogHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(InitCrypto().ok());
    store::LogStoreOptions store_options;
    store_options.sync = false;
    auto store = store::LogStore::Open(dir_.path(), store_options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    std::vector<std::string> leaves;
    for (uint64_t i = 0; i < kLogSize; ++i) leaves.push_back(Leaf(i));
    ASSERT_TRUE(store_->Append(leaves, store::WriteSet()).ok());

    HttpServer::Options options;
    options.listen = "127.0.0.1:0";
    server_ = std::make_unique<HttpServer>(options);
    RegisterLogEndpoints(*server_, *store_);
    RegisterHealthEndpoints(*server_, metrics_, [this]() -> absl::Status {
      if (ready_.load()) return absl::OkStatus();
      return MakeError(ErrorCode::kUnavailable, "latest checkpoint is stale");
    });
    ASSERT_TRUE(server_->Start().ok());
  }

  void TearDown() override { server_->Stop(); }

  void PublishCheckpoint(uint64_t tree_size) {
    const auto root = store_->RootHash(tree_size);
    ASSERT_TRUE(root.ok()) << root.status();
    const auto key = Ed25519PrivateKey::FromSeed(std::string(32, '\x07'));
    ASSERT_TRUE(key.ok());
    store::StoredCheckpoint checkpoint;
    checkpoint.tree_size = tree_size;
    checkpoint.root_hash = *root;
    checkpoint.note = store::SignNote(store::FormatCheckpointBody({kOrigin, tree_size, *root}), kOrigin, *key);
    ASSERT_TRUE(store_->SaveCheckpoint(checkpoint).ok());
  }

  ::fedrelay::testing::TempDir dir_{"log_http_test."};
  std::unique_ptr<store::LogStore> store_;
  MetricsRegistry metrics_;
  std::atomic<bool> ready_{true};
  std::unique_ptr<HttpServer> server_;
};

TEST_F(LogHttpTest, CheckpointIsUnavailableUntilTheFirstOneIsPublished) {
  TestHttpClient client(server_->port());
  const Response before = client.Get("/checkpoint");
  EXPECT_EQ(before.result_int(), 503u);
  EXPECT_EQ(ErrorCodeOf(before), "unavailable");

  PublishCheckpoint(kLogSize);
  const Response after = client.Get("/checkpoint");
  ASSERT_EQ(after.result_int(), 200u);
  EXPECT_EQ(after.body(), store_->LatestCheckpoint()->note);
  EXPECT_THAT(after.body(), StartsWith(absl::StrCat(kOrigin, "\n", kLogSize, "\n")));
  EXPECT_EQ(std::string(after[http::field::content_type]), "text/plain; charset=utf-8");
  EXPECT_EQ(std::string(after[http::field::cache_control]), "no-store");
}

TEST_F(LogHttpTest, FullHashTileIsTheLeafHashesAndCacheableForever) {
  TestHttpClient client(server_->port());
  const Response response = client.Get("/tile/0/000");
  ASSERT_EQ(response.result_int(), 200u) << response.body();
  EXPECT_EQ(response.body(), store_->ReadTile(0, 0, 256).value());
  // Independently: RFC 6962 leaf hashes, 32 bytes each, in order.
  std::string expected;
  for (uint64_t i = 0; i < 256; ++i) expected += Sha256(std::string(1, '\0') + Leaf(i));
  EXPECT_EQ(response.body(), expected);
  EXPECT_EQ(std::string(response[http::field::content_type]), "application/octet-stream");
  EXPECT_EQ(std::string(response[http::field::cache_control]), "public, max-age=31536000, immutable");
}

TEST_F(LogHttpTest, PartialAndHigherTilesMatchTheStore) {
  TestHttpClient client(server_->port());
  const Response partial = client.Get("/tile/0/001.p/44");
  ASSERT_EQ(partial.result_int(), 200u) << partial.body();
  EXPECT_EQ(partial.body(), store_->ReadTile(0, 1, 44).value());
  EXPECT_EQ(partial.body().size(), 44u * 32);
  EXPECT_EQ(std::string(partial[http::field::cache_control]), "public, max-age=10");

  const Response narrower = client.Get("/tile/0/001.p/10");
  ASSERT_EQ(narrower.result_int(), 200u);
  EXPECT_EQ(narrower.body(), partial.body().substr(0, 10 * 32));

  const Response level_one = client.Get("/tile/1/000.p/1");
  ASSERT_EQ(level_one.result_int(), 200u) << level_one.body();
  EXPECT_EQ(level_one.body(), store_->RootHash(256).value());
}

TEST_F(LogHttpTest, EntryBundlesHoldLengthPrefixedLeaves) {
  TestHttpClient client(server_->port());
  const Response full = client.Get("/tile/entries/000");
  ASSERT_EQ(full.result_int(), 200u) << full.body();
  EXPECT_EQ(full.body(), store_->ReadEntryBundle(0, 256).value());
  std::string expected;
  for (uint64_t i = 0; i < 256; ++i) {
    const std::string leaf = Leaf(i);
    expected += static_cast<char>(leaf.size() >> 8);
    expected += static_cast<char>(leaf.size() & 0xff);
    expected += leaf;
  }
  EXPECT_EQ(full.body(), expected);
  EXPECT_EQ(std::string(full[http::field::cache_control]), "public, max-age=31536000, immutable");

  const Response partial = client.Get("/tile/entries/001.p/44");
  ASSERT_EQ(partial.result_int(), 200u);
  EXPECT_EQ(partial.body(), store_->ReadEntryBundle(1, 44).value());
}

TEST_F(LogHttpTest, TilesBeyondTheTreeAreNotFound) {
  TestHttpClient client(server_->port());
  for (const char* path : {"/tile/0/002", "/tile/0/001", "/tile/0/001.p/45", "/tile/entries/001.p/45",
                           "/tile/entries/002.p/1", "/tile/1/000", "/tile/2/000.p/1"}) {
    SCOPED_TRACE(path);
    const Response response = client.Get(path);
    EXPECT_EQ(response.result_int(), 404u);
    EXPECT_EQ(ErrorCodeOf(response), "not_found");
  }
}

TEST_F(LogHttpTest, MalformedTilePathsAre400) {
  TestHttpClient client(server_->port());
  for (const char* path : {"/tile/", "/tile/0/0", "/tile/0/1", "/tile/x/000", "/tile/0/000.p/0",
                           "/tile/0/000.p/256", "/tile/0/000.p/", "/tile/entries/", "/tile/00/000",
                           "/tile/0/x000/001", "/tile/0/000/extra", "/tile/-1/000"}) {
    SCOPED_TRACE(path);
    const Response response = client.Get(path);
    EXPECT_EQ(response.result_int(), 400u);
    EXPECT_EQ(ErrorCodeOf(response), "malformed");
  }
}

TEST_F(LogHttpTest, HealthReadinessAndMetrics) {
  TestHttpClient client(server_->port());
  const Response health = client.Get("/healthz");
  EXPECT_EQ(health.result_int(), 200u);
  EXPECT_EQ(nlohmann::json::parse(health.body())["status"], "ok");

  EXPECT_EQ(client.Get("/readyz").result_int(), 200u);
  ready_ = false;
  const Response not_ready = client.Get("/readyz");
  EXPECT_EQ(not_ready.result_int(), 503u);
  EXPECT_EQ(ErrorCodeOf(not_ready), "unavailable");
  EXPECT_EQ(nlohmann::json::parse(not_ready.body())["error"], "latest checkpoint is stale");
  EXPECT_EQ(client.Get("/healthz").result_int(), 200u);  // alive, just not ready

  metrics_.GetCounter("fedrelay_test_total", "A test counter.").Increment(5);
  const Response metrics = client.Get("/metrics");
  EXPECT_EQ(metrics.result_int(), 200u);
  EXPECT_EQ(std::string(metrics[http::field::content_type]), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(metrics.body(), metrics_.RenderText());
  EXPECT_THAT(metrics.body(), ::testing::HasSubstr("fedrelay_test_total 5\n"));
}

}  // namespace
}  // namespace fedrelay::relay
