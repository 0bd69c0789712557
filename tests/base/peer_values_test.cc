// The peer value rules shared by the config loader and the federation core.
#include "base/peer_values.h"

#include "base/crypto.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fedrelay {
namespace {

TEST(PeerValuesTest, ServerIds) {
  for (const char* good : {"a", "alpha.example", "beta.example:8443", "x-1.y"}) {
    EXPECT_TRUE(CheckServerId(good).ok()) << good;
  }
  for (const char* bad : {"", "Delta.Example", "bad..id", "x_y", "-x", "x.", "a b", "\xc3\xa9"}) {
    EXPECT_EQ(CheckServerId(bad).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_FALSE(CheckServerId(std::string(254, 'a')).ok());
  EXPECT_TRUE(CheckServerId(std::string(253, 'a')).ok());
}

TEST(PeerValuesTest, GuildLists) {
  EXPECT_TRUE(CheckGuildList({}).ok());
  EXPECT_TRUE(CheckGuildList({"*"}).ok());
  EXPECT_TRUE(CheckGuildList({"g1", "g2"}).ok());
  for (const std::vector<std::string>& bad : std::vector<std::vector<std::string>>{
           {"*", "g1"}, {"g1", "*"}, {"g1", "g1"}, {"g 1"}, {""}, {"a,b"}, {"g\t"}}) {
    EXPECT_EQ(CheckGuildList(bad).code(), absl::StatusCode::kInvalidArgument) << bad.size();
  }
  EXPECT_TRUE(SameGuilds({"g1", "g2"}, {"g2", "g1"}));
  EXPECT_FALSE(SameGuilds({"g1"}, {"g1", "g2"}));
}

TEST(PeerValuesTest, Pubkeys) {
  ASSERT_TRUE(InitCrypto().ok());
  const std::string good = Ed25519PrivateKey::Generate().PublicKeyHex();
  EXPECT_TRUE(CheckPeerPubkey(good).ok());
  EXPECT_FALSE(CheckPeerPubkey(std::string(64, '0')).ok());
  EXPECT_FALSE(CheckPeerPubkey(good.substr(1)).ok());
}

}  // namespace
}  // namespace fedrelay
