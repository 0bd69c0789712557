// fedrelay-client as an operator runs it: the built binary, key files on disk,
// the real fedrelayd on loopback. Every accepted message must come back with a
// receipt for the leaf actually in the log; every refusal with its machine code.

#include <google/protobuf/util/json_util.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/clock.h"
#include "base/crypto.h"
#include "base/encoding.h"
#include "federation/device_cert.h"
#include "fedrelay/v1/fedrelay.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "relay/relay_fixture_util.h"

namespace fedrelay {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using testing::BinaryPath;
using testing::OutputField;
using testing::RelayProcess;
using testing::TestKey;
using testing::ToolResult;

// Every key the tests hand to the client, by test-key name.
const char* const kKeyNames[] = {"server-alpha", "server-beta", "user-alice-id", "user-alice-dev",
                                 "user-bob-id", "user-bob-dev"};

uint64_t EventId(const ToolResult& result) {
  uint64_t event_id = 0;
  EXPECT_TRUE(absl::SimpleAtoi(OutputField(result.out, "event_id"), &event_id)) << result.out;
  return event_id;
}

class ClientToolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(InitCrypto().ok());
    auto relay = RelayProcess::Start();
    ASSERT_TRUE(relay.ok()) << relay.status();
    relay_ = *std::move(relay);
    keys_dir_ = relay_->dir() + "/client-keys";
    std::filesystem::create_directories(keys_dir_);
    for (const char* name : kKeyNames) {
      ASSERT_TRUE(WriteKeyFile(KeyPath(name), TestKey(name)).ok());
    }
  }

  std::string KeyPath(const std::string& name) const { return keys_dir_ + "/" + name + ".key"; }
  static std::string Hex(const std::string& name) { return TestKey(name).PublicKeyHex(); }
  static std::string Now() { return absl::StrCat(SystemClock().NowMs()); }

  // Runs fedrelay-client against the test relay, as a user would.
  ToolResult Client(const std::vector<std::string>& args) {
    return ExpectNoPrivateKey(testing::RunClient(*relay_, args));
  }

  ToolResult Run(const std::vector<std::string>& argv) {
    return ExpectNoPrivateKey(testing::RunTool(argv, relay_->dir()));
  }

  // Whatever the command, no private key reaches the terminal.
  static ToolResult ExpectNoPrivateKey(ToolResult result) {
    for (const char* name : kKeyNames) {
      const std::string seed = HexEncode(TestKey(name).Seed());
      EXPECT_THAT(result.out + result.err, Not(HasSubstr(seed))) << name << "'s private key";
    }
    return result;
  }

  ToolResult Federate(const std::string& guild, const std::string& timestamp,
                      const std::string& display_name = "Alice") {
    return Client({"federate", "--server-id", "alpha.example", "--server-key",
                   KeyPath("server-alpha"), "--user", Hex("user-alice-id"), "--display-name",
                   display_name, "--guild", guild, "--timestamp", timestamp});
  }

  // The receipt lines every accepted command prints, checked against the relay key.
  void ExpectVerifiedReceipt(const ToolResult& result) {
    EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
    EXPECT_THAT(result.out, StartsWith("accepted\n"));
    EXPECT_EQ(OutputField(result.out, "receipt"),
              "signature verified under relay key " + Hex("relay"));
    EXPECT_EQ(OutputField(result.out, "leaf_hash").size(), 64u) << result.out;
    EXPECT_GE(EventId(result), 1u);
  }

  void ExpectRefused(const ToolResult& result, const std::string& code) {
    EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
    EXPECT_THAT(result.err, StartsWith("refused: " + code + ": ")) << result.err;
    EXPECT_THAT(result.out, Not(HasSubstr("accepted")));
  }

  std::unique_ptr<RelayProcess> relay_;
  std::string keys_dir_;
};

TEST_F(ClientToolTest, PingAndInfoReachTheRelay) {
  auto ping = Client({"ping"});
  EXPECT_EQ(ping.exit_code, 0) << ping.err;
  EXPECT_THAT(ping.out, HasSubstr("pong from 127.0.0.1:"));
  EXPECT_THAT(OutputField(ping.out, "relay time"), Not(""));

  auto info = Client({"info"});
  EXPECT_EQ(info.exit_code, 0) << info.err;
  EXPECT_EQ(OutputField(info.out, "server id"), "relay.example");
  EXPECT_EQ(OutputField(info.out, "relay key"), Hex("relay"));
  EXPECT_EQ(OutputField(info.out, "log origin"), "relay.example/log");
  EXPECT_EQ(OutputField(info.out, "max clock skew"), "300000 ms");
}

TEST_F(ClientToolTest, PubkeyAndDeviceCertWorkOffline) {
  auto pubkey = Client({"pubkey", "--key", KeyPath("user-alice-id")});
  EXPECT_EQ(pubkey.exit_code, 0) << pubkey.err;
  EXPECT_EQ(pubkey.out, Hex("user-alice-id") + "\n");

  auto cert_run = Client({"device-cert", "--user-key", KeyPath("user-alice-id"), "--device-key",
                          KeyPath("user-alice-dev"), "--device-id", "phone",
                          "--valid-for-hours", "2"});
  ASSERT_EQ(cert_run.exit_code, 0) << cert_run.err;
  v1::DeviceCert cert;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(cert_run.out, &cert).ok())
      << cert_run.out;
  EXPECT_EQ(cert.pubkey(), Hex("user-alice-dev"));
  EXPECT_EQ(cert.device_id(), "phone");
  EXPECT_EQ(cert.expiry() - cert.issued_at(), 2 * 3600 * 1000u + 60'000u);
  const uint64_t now = SystemClock().NowMs();
  EXPECT_TRUE(federation::ValidateDeviceCert(cert, Hex("user-alice-id"), now).ok());
  EXPECT_FALSE(federation::ValidateDeviceCert(cert, Hex("user-bob-id"), now).ok());
}

TEST_F(ClientToolTest, FederateIsAcceptedWithAReceiptForTheLoggedLeaf) {
  auto result = Federate("g1", Now());
  ExpectVerifiedReceipt(result);
  EXPECT_EQ(OutputField(result.out, "message"), "accepted");
  EXPECT_THAT(OutputField(result.out, "user"), StartsWith(Hex("user-alice-id")));
  const uint64_t event_id = EventId(result);

  // The printed leaf hash is the hash of leaf event_id - 1 in the relay's log.
  auto audit = v1::AuditLog::NewStub(relay_->Channel());
  v1::InclusionProofRequest proof_request;
  proof_request.set_leaf_index(event_id - 1);
  proof_request.set_tree_size(event_id);
  v1::InclusionProof proof;
  grpc::ClientContext proof_context;
  ASSERT_TRUE(audit->GetInclusionProof(&proof_context, proof_request, &proof).ok());
  EXPECT_EQ(OutputField(result.out, "leaf_hash"), HexEncode(proof.leaf_hash()));

  v1::GetEntriesRequest entries_request;
  entries_request.set_start(event_id - 1);
  entries_request.set_end(event_id);
  grpc::ClientContext entries_context;
  auto reader = audit->GetEntries(&entries_context, entries_request);
  v1::LogEntry entry;
  ASSERT_TRUE(reader->Read(&entry));
  EXPECT_EQ(entry.event_id(), event_id);
  EXPECT_EQ(entry.federation_request().origin_server_id(), "alpha.example");
  EXPECT_EQ(entry.federation_request().user_pubkey(), Hex("user-alice-id"));
  EXPECT_EQ(entry.federation_request().guild_id(), "g1");
}

// The federation core answers a byte-identical resubmission with the original
// outcome (docs/protocol-notes.md, idempotency); the same flags and
// --timestamp sign the same bytes, so the client gets the first receipt back.
TEST_F(ClientToolTest, ResendingTheSameFederateGetsTheOriginalReceipt) {
  const std::string timestamp = Now();
  auto first = Federate("g1", timestamp);
  ExpectVerifiedReceipt(first);
  auto again = Federate("g1", timestamp);
  ExpectVerifiedReceipt(again);
  EXPECT_EQ(EventId(again), EventId(first));
  EXPECT_EQ(OutputField(again.out, "leaf_hash"), OutputField(first.out, "leaf_hash"));

  // A different request is a new entry.
  auto other = Federate("g2", timestamp);
  ExpectVerifiedReceipt(other);
  EXPECT_GT(EventId(other), EventId(first));
}

TEST_F(ClientToolTest, BanOutsideThePeersMayBanGuildsIsRefused) {
  const std::string evidence = relay_->dir() + "/evidence.txt";
  std::ofstream(evidence) << "screenshots\n";
  auto refused = Client({"ban", "--server-id", "beta.example", "--server-key",
                         KeyPath("server-beta"), "--user", Hex("user-alice-id"), "--guild", "g2",
                         "--reason", "spam", "--evidence-file", evidence});
  ExpectRefused(refused, "not_authorized");

  auto allowed = Client({"ban", "--server-id", "beta.example", "--server-key",
                         KeyPath("server-beta"), "--user", Hex("user-alice-id"), "--guild", "g1",
                         "--reason", "spam", "--evidence-file", evidence});
  ExpectVerifiedReceipt(allowed);
  EXPECT_EQ(OutputField(allowed.out, "evidence"), "sha256:" + HexEncode(Sha256("screenshots\n")));

  // A ban is enforced: alpha.example's later join request for that guild is refused.
  ExpectRefused(Federate("g1", Now()), "banned");

  auto by_hash = Client({"ban", "--server-id", "alpha.example", "--server-key",
                         KeyPath("server-alpha"), "--user", Hex("user-bob-id"), "--guild", "g2",
                         "--reason", "abuse", "--evidence-hash",
                         "sha256:" + HexEncode(Sha256("log excerpt"))});
  ExpectVerifiedReceipt(by_hash);
}

TEST_F(ClientToolTest, MigrateThenProfileAreAcceptedInTimestampOrder) {
  const uint64_t now = SystemClock().NowMs();
  auto migrate = Client({"migrate", "--user-key", KeyPath("user-alice-id"), "--to",
                         "https://beta.example", "--timestamp", absl::StrCat(now)});
  ExpectVerifiedReceipt(migrate);
  // Another target at the same timestamp is an equivocation; an older one a rollback.
  ExpectRefused(Client({"migrate", "--user-key", KeyPath("user-alice-id"), "--to",
                        "https://evil.example", "--timestamp", absl::StrCat(now)}),
                "equivocation");
  ExpectRefused(Client({"migrate", "--user-key", KeyPath("user-alice-id"), "--to",
                        "https://alpha.example", "--timestamp", absl::StrCat(now - 1)}),
                "stale_migration");

  const std::vector<std::string> device = {"--user-key", KeyPath("user-alice-id"), "--device-key",
                                           KeyPath("user-alice-dev"), "--device-id", "laptop"};
  std::vector<std::string> profile = {"profile", "--display-name", "Alice A.", "--bio", "hi",
                                      "--timestamp", absl::StrCat(now)};
  profile.insert(profile.end(), device.begin(), device.end());
  ExpectVerifiedReceipt(Client(profile));

  std::vector<std::string> older = {"profile", "--display-name", "Old Alice", "--timestamp",
                                    absl::StrCat(now - 1)};
  older.insert(older.end(), device.begin(), device.end());
  ExpectRefused(Client(older), "stale_update");
}

TEST_F(ClientToolTest, InviteThenAcceptThenASecondDecisionIsRefused) {
  const std::string invite_id = "0b6c5e0a-3f1e-4c7a-9d2b-6f1e2d3c4b5a";
  const uint64_t now = SystemClock().NowMs();
  auto invite = Client({"invite", "--inviter-key", KeyPath("user-alice-id"), "--device-key",
                        KeyPath("user-alice-dev"), "--device-id", "laptop", "--target",
                        Hex("user-bob-id"), "--guild", "g1", "--guild-name", "General", "--host",
                        "https://alpha.example", "--invite-id", invite_id, "--token",
                        "secret-token-1", "--timestamp", absl::StrCat(now)});
  ExpectVerifiedReceipt(invite);
  EXPECT_EQ(OutputField(invite.out, "invite_id"), invite_id);
  EXPECT_THAT(invite.out, Not(HasSubstr("secret-token-1")));

  const std::vector<std::string> bob = {"--user-key", KeyPath("user-bob-id"), "--device-key",
                                        KeyPath("user-bob-dev"), "--device-id", "phone",
                                        "--invite-id", invite_id};
  // Only the target may decide.
  std::vector<std::string> by_alice = {"accept", "--user-key", KeyPath("user-alice-id"),
                                       "--device-key", KeyPath("user-alice-dev"), "--device-id",
                                       "laptop", "--invite-id", invite_id};
  ExpectRefused(Client(by_alice), "not_invite_target");

  std::vector<std::string> accept = {"accept", "--timestamp", absl::StrCat(now + 1)};
  accept.insert(accept.end(), bob.begin(), bob.end());
  auto accepted = Client(accept);
  ExpectVerifiedReceipt(accepted);
  EXPECT_EQ(OutputField(accepted.out, "token"), "secret-token-1");
  EXPECT_EQ(OutputField(accepted.out, "host"), "https://alpha.example");
  EXPECT_EQ(OutputField(accepted.out, "guild"), "g1");

  std::vector<std::string> accept_again = {"accept", "--timestamp", absl::StrCat(now + 2)};
  accept_again.insert(accept_again.end(), bob.begin(), bob.end());
  ExpectRefused(Client(accept_again), "already_decided");
  std::vector<std::string> reject = {"reject", "--timestamp", absl::StrCat(now + 3)};
  reject.insert(reject.end(), bob.begin(), bob.end());
  ExpectRefused(Client(reject), "already_decided");
}

TEST_F(ClientToolTest, InviteWithoutIdGetsARandomUuidAndCanBeRejected) {
  auto invite = Client({"invite", "--inviter-key", KeyPath("user-alice-id"), "--device-key",
                        KeyPath("user-alice-dev"), "--device-id", "laptop", "--target",
                        Hex("user-bob-id"), "--guild", "g1", "--guild-name", "General", "--host",
                        "https://alpha.example"});
  ExpectVerifiedReceipt(invite);
  const std::string invite_id = OutputField(invite.out, "invite_id");
  EXPECT_THAT(invite_id, ::testing::MatchesRegex(
                             "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"));
  ExpectVerifiedReceipt(Client({"reject", "--user-key", KeyPath("user-bob-id"), "--device-key",
                                KeyPath("user-bob-dev"), "--device-id", "phone", "--invite-id",
                                invite_id}));
}

TEST_F(ClientToolTest, AReceiptThatDoesNotVerifyUnderThePinnedKeyIsAnError) {
  auto result = Client({"--relay-pubkey", Hex("server-beta"), "federate", "--server-id",
                        "alpha.example", "--server-key", KeyPath("server-alpha"), "--user",
                        Hex("user-bob-id"), "--display-name", "Bob", "--guild", "g1"});
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("DOES NOT VERIFY"));
  EXPECT_THAT(result.err, HasSubstr("receipt does not verify"));

  auto pinned = Client({"--relay-pubkey", Hex("relay"), "federate", "--server-id",
                        "alpha.example", "--server-key", KeyPath("server-alpha"), "--user",
                        Hex("user-bob-id"), "--display-name", "Bob", "--guild", "g2"});
  ExpectVerifiedReceipt(pinned);
}

// A peer operator watches what the relay sends it, by hand: subscribe prints
// each event as a JSON line, ack moves the durable cursor, and a subscribe
// without --resume continues after it.
TEST_F(ClientToolTest, SubscribeAndAckAsAPeerAndWithAnApiKey) {
  const uint64_t first = EventId(Federate("g1", Now()));
  const uint64_t second = EventId(Federate("g2", Now()));
  ASSERT_GT(second, first);
  const std::vector<std::string> as_beta = {"--server-id", "beta.example", "--server-key",
                                            KeyPath("server-beta")};
  auto subscribe = [&](const std::vector<std::string>& credentials,
                       const std::vector<std::string>& options) {
    std::vector<std::string> args = {"subscribe"};
    args.insert(args.end(), credentials.begin(), credentials.end());
    args.insert(args.end(), options.begin(), options.end());
    return Client(args);
  };
  auto events_of = [](const ToolResult& result) {
    std::vector<v1::StreamResponse> events;
    for (absl::string_view line : absl::StrSplit(result.out, '\n', absl::SkipEmpty())) {
      v1::StreamResponse event;
      EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(std::string(line), &event).ok()) << line;
      events.push_back(event);
    }
    return events;
  };

  auto from_start = subscribe(as_beta, {"--resume", "0", "--count", "2"});
  ASSERT_EQ(from_start.exit_code, 0) << from_start.err;
  EXPECT_THAT(from_start.err, HasSubstr("subscribed as peer:beta.example after event 0"));
  auto events = events_of(from_start);
  ASSERT_EQ(events.size(), 2u) << from_start.out;
  EXPECT_EQ(events[0].event_id(), first);
  EXPECT_EQ(events[0].member_joined().guild_id(), "g1");
  EXPECT_EQ(events[0].member_joined().user().id(), Hex("user-alice-id"));
  EXPECT_EQ(events[1].event_id(), second);
  EXPECT_EQ(events[1].member_joined().guild_id(), "g2");

  auto filtered = subscribe(as_beta, {"--resume", "0", "--guild", "g2", "--count", "1"});
  ASSERT_EQ(filtered.exit_code, 0) << filtered.err;
  ASSERT_EQ(events_of(filtered).size(), 1u);
  EXPECT_EQ(events_of(filtered)[0].event_id(), second);

  // ack, then a subscribe without --resume starts after the cursor.
  std::vector<std::string> ack = {"ack"};
  ack.insert(ack.end(), as_beta.begin(), as_beta.end());
  ack.push_back(absl::StrCat(first));
  auto acked = Client(ack);
  ASSERT_EQ(acked.exit_code, 0) << acked.err;
  EXPECT_EQ(acked.out, absl::StrCat("cursor: ", first, "\n"));
  // --ack acknowledges an entry once the next one starts, never the last one printed.
  const uint64_t third = EventId(Federate("g3", Now()));
  auto resumed = subscribe(as_beta, {"--count", "2", "--ack"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  ASSERT_EQ(events_of(resumed).size(), 2u);
  EXPECT_EQ(events_of(resumed)[0].event_id(), second);
  EXPECT_EQ(events_of(resumed)[1].event_id(), third);
  EXPECT_THAT(resumed.err, HasSubstr(absl::StrCat("acknowledged: cursor at event ", second, "\n")));
  EXPECT_THAT(resumed.err, HasSubstr(absl::StrCat("not acknowledged: event ", third)));

  // A ban is one entry with two events: stopping after its first one must not
  // acknowledge it, or its member_removed would never be seen again.
  auto ban = Client({"ban", "--server-id", "beta.example", "--server-key", KeyPath("server-beta"),
                     "--user", Hex("user-alice-id"), "--guild", "g1", "--reason", "spam",
                     "--evidence-hash", "sha256:" + HexEncode(Sha256("log excerpt"))});
  ExpectVerifiedReceipt(ban);
  const uint64_t banned = EventId(ban);
  auto partial = subscribe(as_beta, {"--resume", absl::StrCat(third), "--count", "1", "--ack"});
  ASSERT_EQ(partial.exit_code, 0) << partial.err;
  ASSERT_EQ(events_of(partial).size(), 1u);
  EXPECT_EQ(events_of(partial)[0].event_id(), banned);
  EXPECT_THAT(partial.err, Not(HasSubstr("acknowledged: cursor")));
  auto rest = subscribe(as_beta, {"--count", "3"});  // from the cursor, still at `second`
  ASSERT_EQ(rest.exit_code, 0) << rest.err;
  events = events_of(rest);
  ASSERT_EQ(events.size(), 3u) << rest.out;
  EXPECT_EQ(events[0].event_id(), third);
  EXPECT_EQ(events[1].event_id(), banned);
  EXPECT_EQ(events[2].event_id(), banned);
  EXPECT_NE(events[1].event_case(), events[2].event_case()) << "ban and member_removed";

  // Nothing after the cursor: --count is bounded by --timeout-ms, and says so.
  auto waiting = Run({BinaryPath("tools/fedrelay-client"), "--relay",
                      absl::StrCat("127.0.0.1:", relay_->grpc_port()), "--timeout-ms", "500",
                      "subscribe", "--server-id", "beta.example", "--server-key",
                      KeyPath("server-beta"), "--resume", absl::StrCat(banned), "--count", "1"});
  EXPECT_EQ(waiting.exit_code, 1);
  EXPECT_THAT(waiting.err, HasSubstr("received 0 of 1 events within 500 ms"));

  // An API key from fedrelay-ctl, read from a file, works the same way.
  const testing::CreatedApiKey created = testing::CreateApiKey(*relay_, "ops");
  ASSERT_EQ(created.command.exit_code, 0) << created.command.output;
  const std::string api_key = created.key;
  ASSERT_FALSE(api_key.empty());
  const std::string key_file = relay_->dir() + "/api.key";
  std::ofstream(key_file) << api_key << "\n";
  auto with_key = subscribe({"--api-key-file", key_file}, {"--resume", "0", "--kind", "member_joined",
                                                            "--count", "2"});
  ASSERT_EQ(with_key.exit_code, 0) << with_key.err;
  EXPECT_EQ(events_of(with_key).size(), 2u);
  EXPECT_THAT(with_key.out + with_key.err, Not(HasSubstr(api_key))) << "the key is a secret";

  // Wrong or missing credentials.
  auto stranger = subscribe({"--server-id", "gamma.example", "--server-key", KeyPath("server-beta")},
                            {"--count", "1"});
  EXPECT_EQ(stranger.exit_code, 1);
  EXPECT_THAT(stranger.err, StartsWith("refused: unauthenticated: "));
  EXPECT_EQ(subscribe({}, {"--count", "1"}).exit_code, 2);
  EXPECT_EQ(subscribe({"--api-key-file", key_file, "--server-id", "beta.example"}, {}).exit_code, 2);
  EXPECT_EQ(Client({"ack", "--server-id", "beta.example", "--server-key", KeyPath("server-beta"),
                    "soon"}).exit_code,
            2);
}

TEST_F(ClientToolTest, UsageErrorsExitTwoAndAnUnreachableRelayExitsOne) {
  for (const char* command : {"ping", "info", "pubkey", "device-cert", "federate", "ban",
                              "invite", "accept", "reject", "migrate", "profile"}) {
    auto help = Client({command, "--help"});
    EXPECT_EQ(help.exit_code, 0) << command;
    EXPECT_THAT(help.out, HasSubstr("Usage: fedrelay-client")) << command;
  }
  EXPECT_EQ(Client({}).exit_code, 2);
  EXPECT_EQ(Client({"frobnicate"}).exit_code, 2);
  EXPECT_EQ(Client({"ping", "--bogus"}).exit_code, 2);
  EXPECT_EQ(Client({"pubkey", "--key", keys_dir_ + "/missing.key"}).exit_code, 2);
  EXPECT_EQ(Client({"federate", "--server-id", "alpha.example", "--server-key",
                    KeyPath("server-alpha"), "--user", "ABC", "--display-name", "A", "--guild",
                    "g1"})
                .exit_code,
            2);
  EXPECT_EQ(Client({"ban", "--server-id", "alpha.example", "--server-key",
                    KeyPath("server-alpha"), "--user", Hex("user-bob-id"), "--guild", "g1",
                    "--reason", "r"})
                .exit_code,
            2)
      << "a ban needs evidence";

  relay_->Stop();
  auto unreachable = Client({"ping"});
  EXPECT_EQ(unreachable.exit_code, 1);
  EXPECT_THAT(unreachable.err, HasSubstr("cannot reach the relay"));
}

}  // namespace
}  // namespace fedrelay
