// StoreCursorBook (relay/downstream/store_cursor_book.h) against a real
// RocksDB store: the CursorBook contract of relay/downstream/cursor_book.h.
#include "relay/downstream/store_cursor_book.h"

#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/errors.h"
#include "common/temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/log_store.h"

namespace fedrelay::relay {
namespace {

using ::testing::Pair;
using ::testing::UnorderedElementsAre;

class StoreCursorBookTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  // (Re)opens the store and a fresh book over it, as a relay restart does.
  void Open() {
    book_.reset();
    store_.reset();
    auto store = store::LogStore::Open(dir_.path());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    book_ = std::make_unique<StoreCursorBook>(store_.get());
  }

  uint64_t Load(const std::string& identity) {
    absl::StatusOr<uint64_t> cursor = book_->Load(identity);
    EXPECT_TRUE(cursor.ok()) << cursor.status();
    return cursor.value_or(~uint64_t{0});
  }
  uint64_t Advance(const std::string& identity, uint64_t event_id) {
    absl::StatusOr<uint64_t> cursor = book_->Advance(identity, event_id);
    EXPECT_TRUE(cursor.ok()) << cursor.status();
    return cursor.value_or(~uint64_t{0});
  }

  testing::TempDir dir_{"fedrelay-cursors-"};
  std::unique_ptr<store::LogStore> store_;
  std::unique_ptr<StoreCursorBook> book_;
};

TEST_F(StoreCursorBookTest, AnIdentityWithoutACursorIsAtTheStartOfTheLog) {
  EXPECT_EQ(Load("peer:alpha.example"), 0u);
  auto listed = book_->List();
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_TRUE(listed->empty()) << "loading does not create a cursor";
}

TEST_F(StoreCursorBookTest, ACursorNeverMovesBackward) {
  EXPECT_EQ(Advance("peer:alpha.example", 7), 7u);
  EXPECT_EQ(Advance("peer:alpha.example", 3), 7u) << "an older acknowledgement changes nothing";
  EXPECT_EQ(Advance("peer:alpha.example", 7), 7u);
  EXPECT_EQ(Load("peer:alpha.example"), 7u);
  EXPECT_EQ(Advance("peer:alpha.example", 9), 9u);
  EXPECT_EQ(Load("peer:alpha.example"), 9u);
  EXPECT_EQ(Load("peer:beta.example"), 0u) << "cursors are per identity";
}

TEST_F(StoreCursorBookTest, CursorsSurviveAReopenAndStillOnlyMoveForward) {
  Advance("peer:alpha.example", 12);
  Advance("key:0123", 4);
  Open();
  EXPECT_EQ(Load("peer:alpha.example"), 12u);
  EXPECT_EQ(Load("key:0123"), 4u);
  EXPECT_EQ(Advance("peer:alpha.example", 5), 12u) << "not backward after a restart either";
  auto listed = book_->List();
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_THAT(*listed, UnorderedElementsAre(Pair("peer:alpha.example", 12u), Pair("key:0123", 4u)));
}

TEST_F(StoreCursorBookTest, ConcurrentAdvancesKeepTheHighest) {
  std::vector<std::thread> threads;
  for (uint64_t t = 1; t <= 4; ++t) {
    threads.emplace_back([&, t] {
      for (uint64_t i = 0; i < 25; ++i) ASSERT_TRUE(book_->Advance("peer:alpha.example", i * 4 + t).ok());
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(Load("peer:alpha.example"), 100u);
  Open();
  EXPECT_EQ(Load("peer:alpha.example"), 100u);
}

TEST_F(StoreCursorBookTest, ACorruptStoredCursorIsAnInternalErrorNamingItsIdentity) {
  store::WriteSet writes;
  writes.Put(store::Table::kCursors, "peer:alpha.example", "not a number");
  ASSERT_TRUE(store_->Write(writes).ok());
  auto loaded = book_->Load("peer:alpha.example");
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(MachineCode(loaded.status()), "internal");
  EXPECT_THAT(std::string(loaded.status().message()), ::testing::HasSubstr("peer:alpha.example"));
  EXPECT_FALSE(book_->List().ok());
}

}  // namespace
}  // namespace fedrelay::relay
