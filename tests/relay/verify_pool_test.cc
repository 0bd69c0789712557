// relay/grpc/verify_pool.h: checks run on several threads at once, the queue
// is bounded, and stopping runs what was queued.
#include "relay/grpc/verify_pool.h"

#include <atomic>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace fedrelay::relay {
namespace {

TEST(VerifyPoolTest, RunsTasksOnSeveralThreadsAtOnce) {
  VerifyPool pool(/*threads=*/2, /*queue_capacity=*/16);
  EXPECT_EQ(pool.threads(), 2u);
  // Each task waits for the other to start: only two threads at once finish them.
  std::atomic<int> started{0};
  absl::Notification both_running;
  std::atomic<int> saw_both{0};
  for (int i = 0; i < 2; ++i) {
    pool.Post([&] {
      if (started.fetch_add(1) == 1) both_running.Notify();
      if (both_running.WaitForNotificationWithTimeout(absl::Seconds(30))) saw_both.fetch_add(1);
    });
  }
  pool.Stop();
  EXPECT_EQ(saw_both.load(), 2);
}

TEST(VerifyPoolTest, ZeroThreadsMeansOnePerCore) {
  VerifyPool pool(/*threads=*/0, /*queue_capacity=*/4);
  EXPECT_EQ(pool.threads(), std::max(1u, std::thread::hardware_concurrency()));
}

TEST(VerifyPoolTest, PostWaitsForRoomWhenTheQueueIsFull) {
  VerifyPool pool(/*threads=*/1, /*queue_capacity=*/1);
  absl::Notification release, first_running;
  pool.Post([&] {
    first_running.Notify();
    release.WaitForNotification();
  });
  first_running.WaitForNotification();
  std::atomic<int> ran{0};
  pool.Post([&] { ran.fetch_add(1); });  // fills the queue
  absl::Notification third_posted;
  std::thread poster([&] {
    pool.Post([&] { ran.fetch_add(1); });
    third_posted.Notify();
  });
  EXPECT_FALSE(third_posted.WaitForNotificationWithTimeout(absl::Milliseconds(200)))
      << "Post returned although the queue was full";
  release.Notify();
  third_posted.WaitForNotification();
  poster.join();
  pool.Stop();
  EXPECT_EQ(ran.load(), 2);
}

TEST(VerifyPoolTest, StopRunsWhatWasQueuedAndLaterPostsRunInline) {
  VerifyPool pool(/*threads=*/1, /*queue_capacity=*/64);
  std::atomic<int> ran{0};
  for (int i = 0; i < 50; ++i) pool.Post([&] { ran.fetch_add(1); });
  pool.Stop();
  EXPECT_EQ(ran.load(), 50);
  const auto caller = std::this_thread::get_id();
  std::thread::id ran_on;
  pool.Post([&] { ran_on = std::this_thread::get_id(); });
  EXPECT_EQ(ran_on, caller);
}

}  // namespace
}  // namespace fedrelay::relay
