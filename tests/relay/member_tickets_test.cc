// Member channel tickets: durable, bounded per user and in total.
#include "relay/member/member_tickets.h"

#include <filesystem>

#include "base/errors.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/log_store.h"

namespace fedrelay::relay {
namespace {

class MemberTicketsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/fedrelay-tickets-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    Reopen();
  }
  void TearDown() override {
    tickets_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Reopen() {
    tickets_.reset();
    store_.reset();
    auto store = store::LogStore::Open(dir_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    tickets_ = std::make_unique<MemberTickets>(store_.get(), &clock_,
                                               MemberTickets::Limits{/*open_per_user=*/2,
                                                                     /*open_total=*/3});
    ASSERT_TRUE(tickets_->Load().ok());
  }
  absl::StatusOr<Ticket> File(const std::string& user) {
    Ticket ticket;
    ticket.user_id = user;
    ticket.category = "support";
    ticket.summary = "help";
    return tickets_->Create(ticket);
  }

  std::string dir_;
  FakeClock clock_{1700000000000};
  std::unique_ptr<store::LogStore> store_;
  std::unique_ptr<MemberTickets> tickets_;
};

TEST_F(MemberTicketsTest, OpenTicketsAreBoundedInTotalAcrossRestarts) {
  ASSERT_TRUE(File("u1").ok());
  ASSERT_TRUE(File("u2").ok());
  auto third = File("u3");
  ASSERT_TRUE(third.ok()) << third.status();
  Reopen();  // the count of open tickets is loaded again
  EXPECT_EQ(MachineCode(File("u4").status()), "rate_limited");
  ASSERT_TRUE(tickets_->Close(third->ticket_id, "done").ok());
  EXPECT_TRUE(File("u4").ok());
  EXPECT_EQ(tickets_->List(/*include_closed=*/false)->size(), 3u);
  EXPECT_EQ(tickets_->List(/*include_closed=*/true)->size(), 4u);
}

TEST_F(MemberTicketsTest, OpenTicketsAreBoundedPerUserAndClosingIsIdempotent) {
  auto first = File("u1");
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(File("u1").ok());
  EXPECT_EQ(MachineCode(File("u1").status()), "rate_limited");
  auto closed = tickets_->Close(first->ticket_id, "answered");
  ASSERT_TRUE(closed.ok());
  EXPECT_TRUE(closed->closed);
  clock_.AdvanceMs(1000);
  auto again = tickets_->Close(first->ticket_id, "other note");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->closed_at_ms, closed->closed_at_ms);
  EXPECT_EQ(again->resolution, "answered");
  EXPECT_TRUE(File("u1").ok());
  EXPECT_EQ(MachineCode(tickets_->Get("st_missing").status()), "not_found");
  EXPECT_EQ(MachineCode(tickets_->Close("st_missing", "").status()), "not_found");
}

}  // namespace
}  // namespace fedrelay::relay
