#include "wal/log_format.h"

#include <gtest/gtest.h>

namespace pact::wal {
namespace {

TEST(LogFormatTest, Crc32cMatchesTheCastagnoliCheckValue) {
  // The standard check value of CRC-32C (RFC 3720 B.4 and every CRC catalogue).
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8A9136AAu);
}

TEST(LogFormatTest, MaskIsReversibleAndChangesTheValue) {
  for (uint32_t crc : {0u, 1u, 0xE3069283u, 0xFFFFFFFFu, 0x12345678u}) {
    EXPECT_EQ(UnmaskCrc(MaskCrc(crc)), crc);
    EXPECT_NE(MaskCrc(crc), crc);
  }
}

TEST(LogFormatTest, FixedIntegersAreLittleEndian) {
  char buffer[8];
  PutFixed32(buffer, 0x04030201u);
  EXPECT_EQ(std::string(buffer, 4), std::string("\x01\x02\x03\x04", 4));
  EXPECT_EQ(GetFixed32(buffer), 0x04030201u);
  PutFixed64(buffer, 0x0807060504030201ull);
  EXPECT_EQ(GetFixed64(buffer), 0x0807060504030201ull);
  PutFixed16(buffer, 0xBEEF);
  EXPECT_EQ(GetFixed16(buffer), 0xBEEF);
}

TEST(LogFormatTest, FragmentHeaderLayout) {
  char header[kFragmentHeaderBytes];
  EncodeFragmentHeader(FragmentType::kFirst, 0x0A0B0C0D, "abc", header);
  EXPECT_EQ(GetFixed16(header + 4), 3);
  EXPECT_EQ(header[6], static_cast<char>(FragmentType::kFirst));
  EXPECT_EQ(GetFixed32(header + 7), 0x0A0B0C0Du);
  EXPECT_EQ(GetFixed32(header), FragmentCrc(std::string_view(header + 4, 7), "abc"));
  // The CRC covers the log number: the same fragment for another log checks differently.
  char other[kFragmentHeaderBytes];
  EncodeFragmentHeader(FragmentType::kFirst, 0x0A0B0C0E, "abc", other);
  EXPECT_NE(GetFixed32(header), GetFixed32(other));
}

TEST(LogFormatTest, SegmentHeaderPayloadRoundTrips) {
  const std::string payload = EncodeSegmentHeaderPayload(123456789012345ull);
  ASSERT_EQ(payload.size(), kSegmentHeaderPayloadBytes);
  EXPECT_EQ(payload.substr(0, 8), "PACT-WAL");
  EXPECT_EQ(DecodeSegmentHeaderPayload(payload), 123456789012345ull);
  std::string bad_magic = payload;
  bad_magic[0] = 'X';
  EXPECT_FALSE(DecodeSegmentHeaderPayload(bad_magic).has_value());
  std::string bad_version = payload;
  bad_version[8] = 2;
  EXPECT_FALSE(DecodeSegmentHeaderPayload(bad_version).has_value());
  EXPECT_FALSE(DecodeSegmentHeaderPayload(payload.substr(1)).has_value());
}

TEST(LogFormatTest, SegmentFileNames) {
  EXPECT_EQ(SegmentFileName(1), "0000000001.wal");
  EXPECT_EQ(SegmentFileName(4294967295u), "4294967295.wal");
  EXPECT_EQ(ParseSegmentFileName("0000000042.wal"), 42u);
  EXPECT_EQ(ParseSegmentFileName("4294967295.wal"), 4294967295u);
  EXPECT_FALSE(ParseSegmentFileName("0000000000.wal").has_value());
  EXPECT_FALSE(ParseSegmentFileName("4294967296.wal").has_value());
  EXPECT_FALSE(ParseSegmentFileName("000000001.wal").has_value());
  EXPECT_FALSE(ParseSegmentFileName("0000000001.log").has_value());
  EXPECT_FALSE(ParseSegmentFileName("00000000x1.wal").has_value());
  EXPECT_FALSE(ParseSegmentFileName("0000000001.wal.tmp").has_value());
}

}  // namespace
}  // namespace pact::wal
