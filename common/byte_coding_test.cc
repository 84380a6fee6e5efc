#include "common/byte_coding.h"

#include <gtest/gtest.h>

namespace pact {
namespace {

TEST(ByteCodingTest, RoundTrips) {
  ByteWriter w;
  w.U8(7);
  w.U32(0xdeadbeef);
  w.U64(UINT64_MAX - 1);
  w.Bytes("p1");
  const std::string data = w.Release();
  ByteReader r(data);
  uint8_t a;
  uint32_t b;
  uint64_t c;
  std::string d;
  ASSERT_TRUE(r.U8(&a) && r.U32(&b) && r.U64(&c) && r.Bytes(&d, 16));
  EXPECT_TRUE(r.Done());
  EXPECT_EQ(a, 7);
  EXPECT_EQ(b, 0xdeadbeefu);
  EXPECT_EQ(c, UINT64_MAX - 1);
  EXPECT_EQ(d, "p1");
}

TEST(ByteCodingTest, EveryTruncationFails) {
  ByteWriter w;
  w.U32(1);
  w.Bytes("abc");
  const std::string data = w.Release();
  for (size_t cut = 0; cut < data.size(); ++cut) {
    ByteReader r(std::string_view(data).substr(0, cut));
    uint32_t x;
    std::string s;
    EXPECT_FALSE(r.U32(&x) && r.Bytes(&s, 16) && r.Done()) << cut;
  }
}

TEST(ByteCodingTest, RefusesOversizedStringsAndLeftovers) {
  ByteWriter w;
  w.Bytes("abcdef");
  w.U8(1);
  ByteReader r(w.data());
  std::string s;
  EXPECT_FALSE(r.Bytes(&s, 3));
  ByteReader r2(w.data());
  ASSERT_TRUE(r2.Bytes(&s, 8));
  EXPECT_FALSE(r2.Done());
}

}  // namespace
}  // namespace pact
