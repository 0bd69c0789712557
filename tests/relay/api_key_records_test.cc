// API key records as the sequencer copies them to fan-out nodes
// (docs/scale-out.md): Records() holds hashes, never keys; a node's ApiKeys
// mirrors them (in memory) and authenticates the sequencer's keys; a mirrored
// revocation or a forgotten key tells the revocation listeners; anything that
// is not a record is refused.
#include <memory>
#include <string>
#include <vector>

#include "base/crypto.h"
#include "base/encoding.h"
#include "base/errors.h"
#include "fanout/memory_key_value_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "relay/auth/api_keys.h"

namespace fedrelay::relay {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

class ApiKeyRecordsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(InitCrypto().ok());
    sequencer_.AddChangeListener([this](const std::string& key_id) { changed_.push_back(key_id); });
    node_.AddRevocationListener([this](const std::string& key_id) { revoked_.push_back(key_id); });
  }

  // Copies every record of the sequencer's table to the node's.
  void CopyAll() {
    auto records = sequencer_.Records();
    ASSERT_TRUE(records.ok()) << records.status();
    for (const auto& [key_id, record] : *records) ASSERT_TRUE(node_.Mirror(record).ok()) << record;
  }

  fanout::MemoryKeyValueStore sequencer_store_, node_store_;
  ApiKeys sequencer_{&sequencer_store_};
  ApiKeys node_{&node_store_};
  std::vector<std::string> changed_, revoked_;
};

TEST_F(ApiKeyRecordsTest, MirroredRecordsAuthenticateTheSequencersKeysAndHoldNoKey) {
  auto created = sequencer_.Create("reader");
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_THAT(changed_, ElementsAre(created->info.key_id));
  EXPECT_EQ(node_.Authenticate(created->key).status().code(), absl::StatusCode::kUnauthenticated);

  auto records = sequencer_.Records();
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ((*records)[0].first, created->info.key_id);
  EXPECT_THAT((*records)[0].second, Not(HasSubstr(created->key.substr(3))));
  EXPECT_THAT((*records)[0].second, HasSubstr(HexEncode(Sha256(created->key))));

  CopyAll();
  auto on_node = node_.Authenticate(created->key);
  ASSERT_TRUE(on_node.ok()) << on_node.status();
  EXPECT_EQ(on_node->key_id, created->info.key_id);
  EXPECT_EQ(on_node->name, "reader");
  // Mirroring the same record again changes nothing and tells nobody.
  CopyAll();
  EXPECT_TRUE(revoked_.empty());
}

TEST_F(ApiKeyRecordsTest, AMirroredRevocationOrAForgottenKeyEndsItOnTheNode) {
  auto first = sequencer_.Create("first");
  auto second = sequencer_.Create("second");
  ASSERT_TRUE(first.ok() && second.ok());
  CopyAll();
  ASSERT_TRUE(sequencer_.Revoke(first->info.key_id).ok());
  EXPECT_EQ(changed_.back(), first->info.key_id);  // the replicator hears of revocations too
  CopyAll();
  EXPECT_THAT(revoked_, ElementsAre(first->info.key_id));
  EXPECT_EQ(node_.Authenticate(first->key).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(node_.Authenticate(second->key).ok());
  CopyAll();  // already revoked: no second notice
  EXPECT_THAT(revoked_, ElementsAre(first->info.key_id));

  ASSERT_TRUE(node_.Forget(second->info.key_id).ok());
  EXPECT_THAT(revoked_, ElementsAre(first->info.key_id, second->info.key_id));
  EXPECT_EQ(node_.Authenticate(second->key).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(node_.Forget("0123456789abcdef").ok());  // unknown: nothing to do
}

TEST_F(ApiKeyRecordsTest, AnythingButARecordIsRefused) {
  auto created = sequencer_.Create("real");
  ASSERT_TRUE(created.ok());
  auto records = sequencer_.Records();
  ASSERT_TRUE(records.ok());
  const std::string record = (*records)[0].second;
  const std::string other_hash = HexEncode(Sha256("another key"));
  for (const std::string& bad :
       {std::string(""), std::string("{}"), std::string("not json"),
        // A hash that does not belong to the key id: the id would authenticate another key.
        std::string(record).replace(record.find(HexEncode(Sha256(created->key))), 64, other_hash),
        // An unknown scope.
        std::string(record).replace(record.find("rest.full"), 9, "rest.more")}) {
    const absl::Status status = node_.Mirror(bad);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad << " " << status;
  }
  EXPECT_EQ(node_.Authenticate(created->key).status().code(), absl::StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace fedrelay::relay
