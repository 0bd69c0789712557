// API keys: shown once, stored only as hashes, revocable one by one (SPEC section 6).
#include "relay/auth/api_keys.h"

#include <filesystem>
#include <set>

#include "absl/strings/ascii.h"
#include "base/crypto.h"
#include "base/encoding.h"
#include "base/errors.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/log_store.h"

namespace fedrelay::relay {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

class ApiKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(InitCrypto().ok());
    char pattern[] = "/tmp/fedrelay-apikeys-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    Reopen();
  }
  void TearDown() override {
    keys_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Reopen() {
    keys_.reset();
    store_.reset();
    auto store = store::LogStore::Open(dir_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    keys_ = std::make_unique<ApiKeys>(store_.get(), &clock_);
  }

  std::string dir_;
  FakeClock clock_{1700000000000};
  std::unique_ptr<store::LogStore> store_;
  std::unique_ptr<ApiKeys> keys_;
};

TEST_F(ApiKeysTest, CreatedKeyAuthenticatesAndSurvivesARestart) {
  auto created = keys_->Create("bridge");
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_THAT(created->key, MatchesRegex("fr_[0-9a-f]{64}"));
  EXPECT_THAT(created->info.key_id, MatchesRegex("[0-9a-f]{16}"));
  EXPECT_EQ(created->info.name, "bridge");
  EXPECT_THAT(created->info.scopes, ElementsAre("rest.full"));
  EXPECT_EQ(created->info.created_at_ms, 1700000000000u);
  EXPECT_FALSE(created->info.revoked);

  Reopen();
  auto info = keys_->Authenticate(created->key);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->key_id, created->info.key_id);
  EXPECT_TRUE(info->HasScope(kScopeRestFull));
}

TEST_F(ApiKeysTest, StoresOnlyTheHash) {
  auto created = keys_->Create("bridge");
  ASSERT_TRUE(created.ok());
  bool found_secret = false, found_hash = false;
  ASSERT_TRUE(store_
                  ->Scan(store::Table::kAux, "",
                         [&](absl::string_view key, absl::string_view value) {
                           const std::string both = std::string(key) + std::string(value);
                           found_secret |= both.find(created->key) != std::string::npos;
                           found_secret |= both.find(created->key.substr(3)) != std::string::npos;
                           found_hash |= both.find(HexEncode(Sha256(created->key))) != std::string::npos;
                           return true;
                         })
                  .ok());
  EXPECT_FALSE(found_secret);
  EXPECT_TRUE(found_hash);
}

TEST_F(ApiKeysTest, RejectsUnknownMalformedAndAlteredKeysAlike) {
  auto created = keys_->Create("bridge");
  ASSERT_TRUE(created.ok());
  std::string altered = created->key;
  altered.back() = altered.back() == '0' ? '1' : '0';
  const std::string upper = "fr_" + absl::AsciiStrToUpper(created->key.substr(3));
  for (const std::string& bad : {altered, std::string("fr_"), std::string(""), created->key.substr(3),
                                 created->key + "0", "fr_" + std::string(64, 'g'), upper}) {
    SCOPED_TRACE(bad);
    auto result = keys_->Authenticate(bad);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(MachineCode(result.status()), "unauthenticated");
    EXPECT_EQ(result.status().code(), absl::StatusCode::kUnauthenticated);
  }
}

TEST_F(ApiKeysTest, RevokedKeysStopWorkingAndListenersHear) {
  auto first = keys_->Create("first");
  clock_.AdvanceMs(10);
  auto second = keys_->Create("second");
  ASSERT_TRUE(first.ok() && second.ok());
  std::vector<std::string> heard;
  keys_->AddRevocationListener([&](const std::string& key_id) { heard.push_back(key_id); });

  clock_.AdvanceMs(10);
  auto revoked = keys_->Revoke(first->info.key_id);
  ASSERT_TRUE(revoked.ok()) << revoked.status();
  EXPECT_TRUE(revoked->revoked);
  EXPECT_EQ(revoked->revoked_at_ms, 1700000000020u);
  EXPECT_FALSE(keys_->Authenticate(first->key).ok());
  EXPECT_TRUE(keys_->Authenticate(second->key).ok());
  EXPECT_THAT(heard, ElementsAre(first->info.key_id));

  // Again: no-op, no second notification.
  auto again = keys_->Revoke(first->info.key_id);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->revoked_at_ms, 1700000000020u);
  EXPECT_THAT(heard, ElementsAre(first->info.key_id));

  auto missing = keys_->Revoke("0123456789abcdef");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(keys_->Revoke("../../etc").status().code(), absl::StatusCode::kNotFound);

  auto list = keys_->List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "first");
  EXPECT_TRUE((*list)[0].revoked);
  EXPECT_EQ((*list)[1].name, "second");
  EXPECT_FALSE((*list)[1].revoked);
}

TEST_F(ApiKeysTest, ValidatesNamesAndScopes) {
  EXPECT_EQ(MachineCode(keys_->Create("").status()), "malformed");
  EXPECT_EQ(MachineCode(keys_->Create(std::string(101, 'x')).status()), "malformed");
  EXPECT_EQ(MachineCode(keys_->Create("line\nbreak").status()), "malformed");
  auto scope = keys_->Create("ok", {"rest.read"});
  EXPECT_EQ(MachineCode(scope.status()), "malformed");
  EXPECT_THAT(std::string(scope.status().message()), HasSubstr("rest.read"));
  EXPECT_TRUE(keys_->Create("Bridge for #ops (prod)").ok());
}

TEST_F(ApiKeysTest, KeysAreDistinct) {
  std::set<std::string> seen_keys, seen_ids;
  for (int i = 0; i < 20; ++i) {
    auto created = keys_->Create("k");
    ASSERT_TRUE(created.ok());
    seen_keys.insert(created->key);
    seen_ids.insert(created->info.key_id);
  }
  EXPECT_EQ(seen_keys.size(), 20u);
  EXPECT_EQ(seen_ids.size(), 20u);
}

}  // namespace
}  // namespace fedrelay::relay
