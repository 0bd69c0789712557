// AuditLog.GetEntries sends every leaf exactly as the log stores it, the bytes
// its RFC 6962 leaf hash covers, not a parse and re-serialization of them: an
// auditor hashing what it received must get the tree the checkpoint signs,
// whatever protobuf version wrote the leaf.
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "fedrelay/v1/fedrelay.grpc.pb.h"
#include "gtest/gtest.h"
#include "common/temp_dir.h"
#include "relay/grpc/audit_service.h"
#include "store/log_store.h"
#include "store/merkle.h"

namespace fedrelay {
namespace {

// A LogEntry whose fields are written highest number first (kind, then
// received_at, then event_id), a valid encoding that protobuf would never
// produce itself: re-serializing it reorders the fields and changes the hash.
std::string LeafInNonCanonicalOrder(uint64_t event_id) {
  std::string leaf;
  leaf += std::string("\x1a\x04test", 6);               // 3: kind = "test"
  leaf += '\x10';                                         // 2: received_at
  leaf += static_cast<char>(0x7f);                        //    = 127
  leaf += '\x08';                                         // 1: event_id
  leaf += static_cast<char>(event_id);                    //    (< 128)
  leaf += std::string("\xa8\x3e\x05", 3);                 // unknown field 999 = 5
  return leaf;
}

TEST(StoredLeafBytesTest, GetEntriesSendsTheStoredBytesUnchanged) {
  testing::TempDir dir("fedrelay-leaf-bytes-");
  auto store = store::LogStore::Open(dir.path());
  ASSERT_TRUE(store.ok()) << store.status();
  const std::vector<std::string> leaves = {LeafInNonCanonicalOrder(1), LeafInNonCanonicalOrder(2)};
  ASSERT_TRUE((*store)->Append(leaves, store::WriteSet()).ok());
  {
    // The test is only meaningful if a parse and re-serialization differs.
    v1::LogEntry parsed;
    ASSERT_TRUE(parsed.ParseFromString(leaves[0]));
    ASSERT_NE(parsed.SerializeAsString(), leaves[0]);
  }

  relay::AuditService service(store->get());
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);

  auto channel =
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
  grpc::ClientContext context;
  const grpc::internal::RpcMethod rpc("/fedrelay.v1.AuditLog/GetEntries",
                                      grpc::internal::RpcMethod::SERVER_STREAMING);
  v1::GetEntriesRequest request;
  request.set_start(0);
  request.set_end(10);
  grpc::ByteBuffer request_bytes;
  bool own = false;
  ASSERT_TRUE(grpc::SerializationTraits<v1::GetEntriesRequest>::Serialize(request, &request_bytes,
                                                                          &own)
                  .ok());
  std::unique_ptr<grpc::ClientReader<grpc::ByteBuffer>> reader(
      grpc::internal::ClientReaderFactory<grpc::ByteBuffer>::Create(channel.get(), rpc, &context,
                                                                   request_bytes));
  std::vector<std::string> received;
  grpc::ByteBuffer message;
  while (reader->Read(&message)) {
    grpc::Slice slice;
    ASSERT_TRUE(message.DumpToSingleSlice(&slice).ok());
    received.emplace_back(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_EQ(received, leaves);
  for (size_t i = 0; i < leaves.size(); ++i) {
    auto stored_hash = (*store)->Nodes().GetNode(0, i);
    ASSERT_TRUE(stored_hash.ok());
    EXPECT_EQ(store::HashLeaf(received[i]), *stored_hash) << "leaf " << i;
  }
  server->Shutdown();
}

}  // namespace
}  // namespace fedrelay
