#include "store/log_writer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "store/closure_writer_util.h"
#include "store/failing_store_util.h"
#include "store/log_store_test_util.h"
#include "store/merkle.h"

namespace fedrelay::store {
namespace {

using ::fedrelay::store::testing::AllStoreFactories;
using ::fedrelay::store::testing::ClosureWriter;
using ::fedrelay::store::testing::FailingStore;
using ::fedrelay::store::testing::RecordingHandler;
using ::fedrelay::store::testing::StoreFactory;
using ::fedrelay::store::testing::TempDir;

class LogWriterTest : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<LogStore>> store = GetParam().open(dir_.path());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  TempDir dir_;
  std::unique_ptr<LogStore> store_;
  RecordingHandler handler_;
};

TEST_P(LogWriterTest, ConcurrentSubmittersGetConsecutiveIndicesInPrepareOrder) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 100;
  constexpr int kItems = kThreads * kPerThread;
  ClosureWriter::Options options;
  options.max_batch_items = 64;
  ClosureWriter writer(store_.get(), &handler_, options);

  // The first item holds the writer in Prepare until everything is queued,
  // so the rest must be taken in batches.
  absl::Notification all_submitted;
  absl::Mutex mu;
  std::vector<uint64_t> prepared;  // indices in the order Prepare saw them
  std::vector<std::string> prepared_items;
  std::vector<std::optional<AppendedLeaf>> results(kItems + 1);
  std::atomic<int> done_calls{0};
  auto submit = [&](int item) {
    writer.Submit(
        [&, item](uint64_t index, WriteSet& side) -> absl::StatusOr<std::string> {
          if (item == kItems) all_submitted.WaitForNotification();
          absl::MutexLock lock(&mu);
          prepared.push_back(index);
          prepared_items.push_back(absl::StrCat("item ", item));
          side.Put(Table::kState, absl::StrCat("item/", item), absl::StrCat(index));
          return absl::StrCat("item ", item);
        },
        [&, item](absl::StatusOr<AppendedLeaf> leaf) {
          ++done_calls;
          ASSERT_TRUE(leaf.ok()) << leaf.status();
          absl::MutexLock lock(&mu);
          results[item] = *leaf;
        });
  };
  submit(kItems);  // the gate
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) submit(t * kPerThread + i);
    });
  }
  for (std::thread& thread : threads) thread.join();
  all_submitted.Notify();
  writer.Stop();

  EXPECT_EQ(done_calls.load(), kItems + 1);
  ASSERT_EQ(prepared.size(), static_cast<size_t>(kItems + 1));
  for (size_t i = 0; i < prepared.size(); ++i) EXPECT_EQ(prepared[i], i);
  ASSERT_EQ(store_->Size(), static_cast<uint64_t>(kItems + 1));
  for (int item = 0; item <= kItems; ++item) {
    ASSERT_TRUE(results[item].has_value()) << item;
    const uint64_t index = results[item]->leaf_index;
    const std::string bytes = absl::StrCat("item ", item);
    EXPECT_EQ(prepared_items[index], bytes);
    EXPECT_EQ(*store_->GetLeaf(index), bytes);
    EXPECT_EQ(results[item]->leaf_hash, HashLeaf(bytes));
    EXPECT_EQ(*store_->Get(Table::kState, absl::StrCat("item/", item)),
              std::optional<std::string>(absl::StrCat(index)));
  }
  // One batch for the gate, then batches of at most 64.
  EXPECT_EQ(writer.items_written(), static_cast<uint64_t>(kItems + 1));
  EXPECT_LE(writer.batches_written(), 1u + (kItems + 63) / 64);
  EXPECT_LT(writer.batches_written(), writer.items_written());
  EXPECT_EQ(handler_.durable_leaves, static_cast<uint64_t>(kItems + 1));
  EXPECT_TRUE(handler_.contiguous);
}

TEST_P(LogWriterTest, HandlerHearsOfTheBatchBeforeItsItemsAreAnswered) {
  ClosureWriter writer(store_.get(), &handler_);
  // The first item is alone in its batch: the writer is inside its Prepare
  // while the others are submitted.
  absl::Notification in_prepare;
  absl::Notification gate;
  writer.Submit(
      [&](uint64_t, WriteSet&) -> absl::StatusOr<std::string> {
        in_prepare.Notify();
        gate.WaitForNotification();
        return "a";
      },
      [&](absl::StatusOr<AppendedLeaf> leaf) { handler_.Note(absl::StrCat("done ", leaf->leaf_index)); });
  in_prepare.WaitForNotification();
  for (int i = 0; i < 2; ++i) {
    writer.Submit([](uint64_t, WriteSet&) -> absl::StatusOr<std::string> { return "b"; },
                  [&](absl::StatusOr<AppendedLeaf> leaf) {
                    handler_.Note(absl::StrCat("done ", leaf->leaf_index));
                  });
  }
  gate.Notify();
  writer.Stop();
  EXPECT_THAT(handler_.events,
              ::testing::ElementsAre("durable 0+1", "done 0", "durable 1+2", "done 1", "done 2"));
}

TEST_P(LogWriterTest, RejectedItemsTakeNoIndexAndLeaveNoSideWrites) {
  ClosureWriter writer(store_.get(), &handler_);
  absl::Notification gate;
  absl::Mutex mu;
  std::vector<std::pair<int, absl::StatusOr<AppendedLeaf>>> outcomes;
  for (int item = 0; item < 10; ++item) {
    writer.Submit(
        [&, item](uint64_t index, WriteSet& side) -> absl::StatusOr<std::string> {
          if (item == 0) gate.WaitForNotification();
          side.Put(Table::kAux, absl::StrCat("side/", item), absl::StrCat(index));
          if (item % 3 == 1) return absl::FailedPreconditionError(absl::StrCat("no ", item));
          return absl::StrCat("item ", item);
        },
        [&, item](absl::StatusOr<AppendedLeaf> leaf) {
          absl::MutexLock lock(&mu);
          outcomes.emplace_back(item, std::move(leaf));
        });
  }
  gate.Notify();
  writer.Stop();

  ASSERT_EQ(outcomes.size(), 10u);
  uint64_t next_index = 0;
  for (int item = 0; item < 10; ++item) {
    auto it = std::find_if(outcomes.begin(), outcomes.end(),
                           [&](const auto& outcome) { return outcome.first == item; });
    ASSERT_NE(it, outcomes.end());
    if (item % 3 == 1) {
      EXPECT_EQ(it->second.status().code(), absl::StatusCode::kFailedPrecondition);
      EXPECT_EQ(it->second.status().message(), absl::StrCat("no ", item));
      EXPECT_EQ(*store_->Get(Table::kAux, absl::StrCat("side/", item)), std::nullopt);
    } else {
      ASSERT_TRUE(it->second.ok()) << it->second.status();
      EXPECT_EQ(it->second->leaf_index, next_index);
      EXPECT_EQ(*store_->GetLeaf(next_index), absl::StrCat("item ", item));
      EXPECT_EQ(*store_->Get(Table::kAux, absl::StrCat("side/", item)),
                std::optional<std::string>(absl::StrCat(next_index)));
      ++next_index;
    }
  }
  EXPECT_EQ(store_->Size(), next_index);
  EXPECT_EQ(writer.items_written(), next_index);
}

TEST_P(LogWriterTest, BatchOfOnlyRejectedItemsWritesNothing) {
  FailingStore store(store_.get());
  ClosureWriter writer(&store, &handler_);
  absl::Notification answered;
  writer.Submit([](uint64_t, WriteSet&) -> absl::StatusOr<std::string> {
    return absl::InvalidArgumentError("bad");
  },
                [&](absl::StatusOr<AppendedLeaf> leaf) {
                  EXPECT_EQ(leaf.status().code(), absl::StatusCode::kInvalidArgument);
                  answered.Notify();
                });
  writer.Stop();
  EXPECT_TRUE(answered.HasBeenNotified());
  EXPECT_EQ(store.append_calls.load(), 0);
  EXPECT_EQ(writer.batches_written(), 0u);
  EXPECT_TRUE(handler_.events.empty());
}

TEST_P(LogWriterTest, FailedAppendFailsEveryItemOfTheBatch) {
  FailingStore store(store_.get());
  store.fail = true;
  ClosureWriter writer(&store, &handler_);
  // Item 0 is a batch of its own (the writer is in its Prepare while the
  // rest are submitted); items 1..4 form the second batch, prepared on top of
  // the first while it is written (so at indices 1..4), and failed with it.
  absl::Notification in_prepare;
  absl::Notification gate;
  absl::Mutex mu;
  std::vector<absl::Status> statuses;
  for (int item = 0; item < 5; ++item) {
    if (item == 1) in_prepare.WaitForNotification();
    writer.Submit(
        [&, item](uint64_t index, WriteSet& side) -> absl::StatusOr<std::string> {
          if (item == 0) {
            in_prepare.Notify();
            gate.WaitForNotification();
          }
          EXPECT_EQ(index, static_cast<uint64_t>(item));
          side.Put(Table::kState, absl::StrCat("k", item), "v");
          return absl::StrCat("item ", item);
        },
        [&](absl::StatusOr<AppendedLeaf> leaf) {
          absl::MutexLock lock(&mu);
          statuses.push_back(leaf.status());
        });
  }
  gate.Notify();
  // Wait until all five are answered before the store recovers.
  {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(+[](std::vector<absl::Status>* s) { return s->size() == 5; },
                             &statuses));
  }
  ASSERT_EQ(statuses.size(), 5u);
  for (const absl::Status& status : statuses) {
    EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(status.message(), "disk on fire");
  }
  EXPECT_EQ(store.Size(), 0u);
  EXPECT_EQ(*store.Get(Table::kState, "k1"), std::nullopt);
  {
    absl::MutexLock lock(&handler_.mu);
    EXPECT_EQ(handler_.events, (std::vector<std::string>{"failed", "failed"}));
  }
  EXPECT_EQ(writer.batches_written(), 0u);

  // The failure took no indices: the next item is leaf 0.
  store.fail = false;
  absl::Notification answered;
  writer.Submit([](uint64_t, WriteSet&) -> absl::StatusOr<std::string> { return "after"; },
                [&](absl::StatusOr<AppendedLeaf> leaf) {
                  ASSERT_TRUE(leaf.ok()) << leaf.status();
                  EXPECT_EQ(leaf->leaf_index, 0u);
                  answered.Notify();
                });
  writer.Stop();
  EXPECT_TRUE(answered.HasBeenNotified());
  EXPECT_EQ(*store.GetLeaf(0), "after");
}

TEST_P(LogWriterTest, StopDrainsThenRefuses) {
  ClosureWriter writer(store_.get(), &handler_);
  std::atomic<int> ok{0};
  for (int i = 0; i < 200; ++i) {
    writer.Submit([](uint64_t, WriteSet&) -> absl::StatusOr<std::string> { return "x"; },
                  [&](absl::StatusOr<AppendedLeaf> leaf) {
                    if (leaf.ok()) ++ok;
                  });
  }
  writer.Stop();
  EXPECT_EQ(ok.load(), 200);
  EXPECT_EQ(store_->Size(), 200u);

  bool prepared = false;
  std::optional<absl::Status> late;
  writer.Submit(
      [&](uint64_t, WriteSet&) -> absl::StatusOr<std::string> {
        prepared = true;
        return "late";
      },
      [&](absl::StatusOr<AppendedLeaf> leaf) { late = leaf.status(); });
  ASSERT_TRUE(late.has_value());  // answered before Submit returned
  EXPECT_EQ(late->code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(prepared);
  EXPECT_EQ(store_->Size(), 200u);
  writer.Stop();  // idempotent
}

TEST_P(LogWriterTest, AnsweredItemsTakeNoIndexAndAreNotAnsweredByTheWriter) {
  ClosureWriter writer(store_.get(), &handler_);
  std::atomic<int> done_calls{0};
  writer.Submit([](uint64_t, WriteSet&) -> Prepared { return Prepared::Leaf("a"); },
                [&](absl::StatusOr<AppendedLeaf> leaf) {
                  EXPECT_EQ(leaf->leaf_index, 0u);
                  ++done_calls;
                });
  writer.Submit(
      [](uint64_t, WriteSet& side) -> Prepared {
        side.Put(Table::kAux, "answered", "x");  // dropped: the item takes no index
        return Prepared::Answered();
      },
      [&](absl::StatusOr<AppendedLeaf>) { ADD_FAILURE() << "the writer answered it"; });
  writer.Submit([](uint64_t, WriteSet&) -> Prepared { return Prepared::Leaf("b"); },
                [&](absl::StatusOr<AppendedLeaf> leaf) {
                  EXPECT_EQ(leaf->leaf_index, 1u);
                  ++done_calls;
                });
  writer.Stop();
  EXPECT_EQ(done_calls.load(), 2);
  EXPECT_EQ(store_->Size(), 2u);
  EXPECT_EQ(*store_->Get(Table::kAux, "answered"), std::nullopt);
}

TEST_P(LogWriterTest, ARefusalsKeptWritesJoinTheBatchAndItIsAnsweredAfterThem) {
  FailingStore store(store_.get());
  ClosureWriter writer(&store, &handler_);
  absl::Notification in_prepare;
  absl::Notification gate;
  absl::Notification refused;
  // Item 0 holds the writer so the next three form one batch: a leaf, a
  // refusal with a kept write, a leaf.
  writer.Submit(
      [&](uint64_t, WriteSet&) -> Prepared {
        in_prepare.Notify();
        gate.WaitForNotification();
        return Prepared::Leaf("gate");
      },
      [](absl::StatusOr<AppendedLeaf>) {});
  in_prepare.WaitForNotification();
  writer.Submit([](uint64_t, WriteSet&) -> Prepared { return Prepared::Leaf("x"); },
                [&](absl::StatusOr<AppendedLeaf>) { handler_.Note("done x"); });
  writer.Submit(
      [](uint64_t, WriteSet& side) -> Prepared {
        side.Put(Table::kAux, "dropped", "1");
        WriteSet kept;
        kept.Put(Table::kAux, "why", "flagged");
        return Prepared::Refused(absl::FailedPreconditionError("no"), std::move(kept));
      },
      [&](absl::StatusOr<AppendedLeaf> leaf) {
        EXPECT_EQ(leaf.status().code(), absl::StatusCode::kFailedPrecondition);
        handler_.Note("refused");
        refused.Notify();
      });
  writer.Submit([](uint64_t, WriteSet&) -> Prepared { return Prepared::Leaf("y"); },
                [&](absl::StatusOr<AppendedLeaf>) { handler_.Note("done y"); });
  gate.Notify();
  refused.WaitForNotification();
  // A batch of one refusal whose kept write is all there is to write.
  writer.Submit(
      [](uint64_t, WriteSet&) -> Prepared {
        WriteSet kept;
        kept.Put(Table::kAux, "alone", "flagged");
        return Prepared::Refused(absl::FailedPreconditionError("no"), std::move(kept));
      },
      [&](absl::StatusOr<AppendedLeaf>) { handler_.Note("refused alone"); });
  writer.Stop();

  EXPECT_EQ(store.Size(), 3u);
  EXPECT_EQ(store.append_calls.load(), 2) << "the refusal alone needs no append";
  EXPECT_EQ(*store.Get(Table::kAux, "why"), std::optional<std::string>("flagged"));
  EXPECT_EQ(*store.Get(Table::kAux, "alone"), std::optional<std::string>("flagged"));
  EXPECT_EQ(*store.Get(Table::kAux, "dropped"), std::nullopt);
  absl::MutexLock lock(&handler_.mu);
  EXPECT_THAT(handler_.events,
              ::testing::ElementsAre("durable 0+1", "durable 1+2", "done x", "done y", "refused",
                                     "durable 3+0", "refused alone"));
}

// Submits items that Note "prepare <name> at <index>" and, once answered,
// "done <index>" (or "failed <name>: <message>").
void SubmitNoted(ClosureWriter& writer, RecordingHandler& handler, const std::string& name) {
  writer.Submit(
      [&handler, name](uint64_t index, WriteSet& side) -> Prepared {
        handler.Note(absl::StrCat("prepare ", name, " at ", index));
        side.Put(Table::kAux, name, absl::StrCat(index));
        return Prepared::Leaf(name);
      },
      [&handler, name](absl::StatusOr<AppendedLeaf> leaf) {
        handler.Note(leaf.ok() ? absl::StrCat("done ", leaf->leaf_index)
                               : absl::StrCat("failed ", name, ": ", leaf.status().message()));
      });
}

void WaitForEvents(RecordingHandler& handler, size_t count) {
  std::pair<RecordingHandler*, size_t> args(&handler, count);
  absl::MutexLock lock(&handler.mu);
  handler.mu.Await(absl::Condition(
      +[](std::pair<RecordingHandler*, size_t>* args) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return args->first->events.size() >= args->second;
      },
      &args));
}

TEST_P(LogWriterTest, AnIdleWriterWritesAtOnce) {
  ClosureWriter writer(store_.get(), &handler_);
  absl::Notification answered;
  writer.Submit([](uint64_t, WriteSet&) -> Prepared { return Prepared::Leaf("alone"); },
                [&](absl::StatusOr<AppendedLeaf> leaf) {
                  EXPECT_TRUE(leaf.ok()) << leaf.status();
                  answered.Notify();
                });
  EXPECT_TRUE(answered.WaitForNotificationWithTimeout(absl::Seconds(60)));
  EXPECT_EQ(writer.batches_written(), 1u);
}

TEST_P(LogWriterTest, WhatArrivesDuringAWriteIsPreparedOnTopOfItAndWrittenNext) {
  FailingStore store(store_.get());
  ClosureWriter writer(&store, &handler_);
  store.Hold();
  SubmitNoted(writer, handler_, "0");
  store.WaitUntilHolding();  // item 0 is being written, and stays so
  for (const char* name : {"1", "2", "3"}) SubmitNoted(writer, handler_, name);
  WaitForEvents(handler_, 4);  // all four prepared while the write waits
  store.Release();
  writer.Stop();
  EXPECT_EQ(writer.batches_written(), 2u);
  EXPECT_EQ(store.Size(), 4u);
  EXPECT_EQ(*store.GetLeaf(3), "3");
  EXPECT_EQ(*store.Get(Table::kAux, "3"), std::optional<std::string>("3"));
  absl::MutexLock lock(&handler_.mu);
  EXPECT_EQ(handler_.batches_prepared, 2u);
  EXPECT_THAT(handler_.events,
              ::testing::ElementsAre("prepare 0 at 0", "prepare 1 at 1", "prepare 2 at 2",
                                     "prepare 3 at 3", "durable 0+1", "done 0", "durable 1+3",
                                     "done 1", "done 2", "done 3"));
}

TEST_P(LogWriterTest, AFailedWriteFailsTheBatchPreparedOnTopOfIt) {
  FailingStore store(store_.get());
  ClosureWriter writer(&store, &handler_);
  store.fail = true;
  store.Hold();
  SubmitNoted(writer, handler_, "0");
  store.WaitUntilHolding();
  SubmitNoted(writer, handler_, "1");
  SubmitNoted(writer, handler_, "2");
  WaitForEvents(handler_, 3);
  store.Release();
  WaitForEvents(handler_, 8);
  {
    absl::MutexLock lock(&handler_.mu);
    EXPECT_THAT(handler_.events,
                ::testing::ElementsAre("prepare 0 at 0", "prepare 1 at 1", "prepare 2 at 2",
                                       "failed", "failed 0: disk on fire", "failed",
                                       "failed 1: disk on fire", "failed 2: disk on fire"));
  }
  EXPECT_EQ(store.append_calls.load(), 1) << "the batch on top of the failure is not written";
  EXPECT_EQ(store.Size(), 0u);
  EXPECT_EQ(*store.Get(Table::kAux, "1"), std::nullopt);

  // Nothing of either batch took an index: the next item is leaf 0.
  store.fail = false;
  SubmitNoted(writer, handler_, "after");
  writer.Stop();
  EXPECT_EQ(*store.GetLeaf(0), "after");
}

TEST_P(LogWriterTest, StopWritesTheBatchPreparedDuringAWrite) {
  FailingStore store(store_.get());
  ClosureWriter writer(&store, &handler_);
  store.Hold();
  SubmitNoted(writer, handler_, "0");
  store.WaitUntilHolding();
  SubmitNoted(writer, handler_, "1");
  WaitForEvents(handler_, 2);
  std::thread stopper([&] { writer.Stop(); });
  absl::SleepFor(absl::Milliseconds(20));  // Stop waits for the write; it does not abandon it
  store.Release();
  stopper.join();
  EXPECT_EQ(store.Size(), 2u);
  absl::MutexLock lock(&handler_.mu);
  EXPECT_THAT(handler_.events, ::testing::Contains("done 1"));
}

INSTANTIATE_TEST_SUITE_P(AllStores, LogWriterTest, ::testing::ValuesIn(AllStoreFactories()),
                         [](const ::testing::TestParamInfo<StoreFactory>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace fedrelay::store
