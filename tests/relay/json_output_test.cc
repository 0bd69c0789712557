// --json on fedrelay-client and fedrelay-audit (issue 14), and the audit's
// --receipts check of what a peer kept: the built tools against the real
// fedrelayd; every JSON line is parsed with a real JSON parser.
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/crypto.h"
#include "base/encoding.h"
#include "federation/signing.h"
#include "fedrelay/v1/fedrelay.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "relay/relay_fixture_util.h"

namespace fedrelay {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::BinaryPath;
using testing::RelayProcess;
using testing::TestKey;
using testing::ToolResult;
using json = nlohmann::json;

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

class JsonOutputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(InitCrypto().ok());
    auto relay = RelayProcess::Start();
    ASSERT_TRUE(relay.ok()) << relay.status();
    relay_ = *std::move(relay);
    for (const char* name : {"server-alpha", "user-alice-id", "user-alice-dev"}) {
      ASSERT_TRUE(WriteKeyFile(KeyPath(name), TestKey(name)).ok());
    }
  }
  std::string KeyPath(const std::string& name) const { return relay_->dir() + "/" + name + ".key"; }

  // fedrelay-client --json ARGS: must succeed with exactly one JSON line.
  json ClientJson(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"--json"};
    argv.insert(argv.end(), args.begin(), args.end());
    ToolResult result = testing::RunClient(*relay_, argv);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(Lines(result.out).size(), 1u) << result.out;
    last_out_ = result.out;
    return json::parse(result.out, nullptr, false);
  }

  ToolResult Audit(const std::vector<std::string>& extra) {
    std::vector<std::string> argv = {BinaryPath("tools/fedrelay-audit"), "--json", "--relay",
                                     absl::StrCat("127.0.0.1:", relay_->grpc_port()), "--vkey",
                                     vkey_};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return testing::RunTool(argv, relay_->dir());
  }

  // Waits until the published checkpoint covers `size` entries (what the audit downloads).
  void WaitForCheckpoint(uint64_t size) {
    auto audit = v1::AuditLog::NewStub(relay_->Channel());
    for (int i = 0; i < 400; ++i) {
      grpc::ClientContext context;
      v1::Checkpoint checkpoint;
      if (audit->GetCheckpoint(&context, {}, &checkpoint).ok() && checkpoint.tree_size() >= size) {
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    FAIL() << "no checkpoint covering " << size;
  }

  std::unique_ptr<RelayProcess> relay_;
  std::string vkey_;
  std::string last_out_;
};

TEST_F(JsonOutputTest, ClientPrintsOneJsonDocumentPerCommandAndTheAuditChecksItsReceipts) {
  json info = ClientJson({"info"});
  ASSERT_TRUE(info["verifier_key"].is_string()) << last_out_;
  vkey_ = info["verifier_key"];
  EXPECT_EQ(info["relay_pubkey"], TestKey("relay").PublicKeyHex());
  EXPECT_TRUE(ClientJson({"ping"})["rtt_ms"].is_number());
  EXPECT_EQ(ClientJson({"pubkey", "--key", KeyPath("user-alice-id")})["public_key"],
            TestKey("user-alice-id").PublicKeyHex());

  json joined = ClientJson({"federate", "--server-id", "alpha.example", "--server-key",
                            KeyPath("server-alpha"), "--user", TestKey("user-bob-id").PublicKeyHex(),
                            "--display-name", "Bob", "--guild", "g1"});
  EXPECT_EQ(joined["accepted"], true);
  EXPECT_EQ(joined["verified"], true);
  EXPECT_EQ(joined["relay_pubkey"], TestKey("relay").PublicKeyHex());
  ASSERT_TRUE(joined["receipt"]["event_id"].is_number_unsigned()) << joined;
  ASSERT_TRUE(joined["receipt"]["leaf_hash"].is_string()) << joined;
  EXPECT_EQ(joined["receipt"]["leaf_hash"].get<std::string>().size(), 64u);
  EXPECT_EQ(joined["request"]["origin_server_id"], "alpha.example");
  EXPECT_EQ(joined["response"]["user"]["name"], "Bob");
  const std::string joined_line = last_out_;

  json invited = ClientJson({"invite", "--inviter-key", KeyPath("user-alice-id"), "--device-key",
                             KeyPath("user-alice-dev"), "--device-id", "laptop", "--target",
                             TestKey("user-bob-id").PublicKeyHex(), "--guild", "g1",
                             "--guild-name", "General", "--host", "https://alpha.example",
                             "--token", "the-secret-token"});
  EXPECT_EQ(invited["verified"], true);
  ASSERT_TRUE(invited["request"]["invite"]["invite_id"].is_string()) << last_out_;
  EXPECT_FALSE(invited["request"]["invite"]["invite_id"].get<std::string>().empty());
  EXPECT_THAT(last_out_, Not(HasSubstr("the-secret-token"))) << "the token is never printed";
  const std::string invited_line = last_out_;
  const uint64_t last_event = invited["receipt"]["event_id"].get<uint64_t>();

  // The lines as a peer keeps them: the audit verifies each receipt and its inclusion.
  const std::string kept = relay_->dir() + "/receipts.jsonl";
  std::ofstream(kept) << joined_line << "\n" << invited_line;
  WaitForCheckpoint(last_event);
  ToolResult audit = Audit({"--receipts", kept});
  ASSERT_EQ(audit.exit_code, 0) << audit.err;
  ASSERT_EQ(Lines(audit.out).size(), 1u) << audit.out;
  json report = json::parse(audit.out);
  EXPECT_EQ(report["ok"], true);
  EXPECT_EQ(report["receipts"], 2);
  EXPECT_GE(report["entries"].get<uint64_t>(), last_event);
  EXPECT_EQ(report["checkpoints"], 1);
  EXPECT_EQ(report["derived_state"]["peers"], 2);
  EXPECT_EQ(audit.err, "") << "no progress output when stderr is not a terminal";

  // A receipt whose signature was tampered with, and one correctly signed by
  // the relay key for a leaf that is not in the log, are both refused.
  json tampered = joined;
  std::string signature = tampered["receipt"]["signature"];
  signature[0] = signature[0] == '0' ? '1' : '0';
  tampered["receipt"]["signature"] = signature;
  const std::string bad_signature = relay_->dir() + "/bad-signature.jsonl";
  std::ofstream(bad_signature) << "\n" << tampered.dump() << "\n";
  ToolResult refused = Audit({"--receipts", bad_signature});
  EXPECT_EQ(refused.exit_code, 1);
  json failure = json::parse(refused.out, nullptr, false);
  EXPECT_EQ(failure["ok"], false) << refused.out;
  ASSERT_TRUE(failure["error"].is_string()) << refused.out << refused.err;
  EXPECT_THAT(failure["error"].get<std::string>(),
              HasSubstr("bad-signature.jsonl:2: receipt for event"));
  EXPECT_THAT(refused.err, HasSubstr("signature does not verify under the relay key"));

  const std::string fake_leaf_hash = Sha256("a leaf the relay never logged");
  const uint64_t event_id = joined["receipt"]["event_id"].get<uint64_t>();
  const std::string forged_signature = TestKey("relay").Sign(
      federation::ReceiptSigningBytes(event_id, fake_leaf_hash, 1));
  const std::string forged = relay_->dir() + "/forged.jsonl";
  std::ofstream(forged) << json{{"event_id", event_id},
                                {"leaf_hash", HexEncode(fake_leaf_hash)},
                                {"timestamp", 1},
                                {"signature", HexEncode(forged_signature)}}
                               .dump()
                        << "\n";
  ToolResult not_included = Audit({"--receipts", forged});
  EXPECT_EQ(not_included.exit_code, 1);
  EXPECT_THAT(not_included.err, HasSubstr(absl::StrCat("the log's entry ", event_id, " has leaf hash")));
  const std::string garbage = relay_->dir() + "/garbage.jsonl";
  std::ofstream(garbage) << "not json\n";
  EXPECT_EQ(Audit({"--receipts", garbage}).exit_code, 1);
}

}  // namespace
}  // namespace fedrelay
