#include "thrift/endpoint.h"

#include <gtest/gtest.h>

namespace pact::rpc {
namespace {

TEST(EndpointTest, ParsesHostAndPort) {
  EXPECT_EQ(*Endpoint::Parse("127.0.0.1:7000"), (Endpoint{"127.0.0.1", 7000}));
  EXPECT_EQ(*Endpoint::Parse("localhost:0"), (Endpoint{"localhost", 0}));
  EXPECT_EQ(*Endpoint::Parse("[::1]:9"), (Endpoint{"::1", 9}));
  EXPECT_EQ(Endpoint::Parse("[::1]:9")->ToString(), "[::1]:9");
  EXPECT_EQ(Endpoint::Parse("127.0.0.1:7000")->ToString(), "127.0.0.1:7000");
}

TEST(EndpointTest, RejectsMalformedAddresses) {
  for (const char* text : {"", "7000", ":7000", "host:", "host:-1", "host:65536", "host:7x",
                           "host:70 00"}) {
    Result<Endpoint> parsed = Endpoint::Parse(text);
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace pact::rpc
