#include "coordinator/core/decision.h"

#include <gtest/gtest.h>

namespace pact::coordinator {
namespace {

CommitDecision Sample() { return CommitDecision{TxnId{3, 7}, {{1, "p1"}, {3, "p3"}}}; }

TEST(DecisionTest, EntriesRoundTrip) {
  for (const DecisionLogEntry& entry :
       {DecisionLogEntry::Epoch(4), DecisionLogEntry::Commit(3, Sample()),
        DecisionLogEntry::End(5, TxnId{3, 7})}) {
    Result<DecisionLogEntry> decoded = DecodeEntry(EncodeEntry(entry));
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_EQ(*decoded, entry);
  }
}

TEST(DecisionTest, EveryTruncationAndFlipIsRefusedOrDifferent) {
  const DecisionLogEntry entry = DecisionLogEntry::Commit(3, Sample());
  const std::string bytes = EncodeEntry(entry);
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    EXPECT_FALSE(DecodeEntry(bytes.substr(0, cut)).ok()) << cut;
  }
  EXPECT_FALSE(DecodeEntry(bytes + "x").ok());
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string flipped = bytes;
    flipped[i] = static_cast<char>(flipped[i] ^ 0x80);
    Result<DecisionLogEntry> decoded = DecodeEntry(flipped);
    if (decoded.ok()) {
      EXPECT_NE(*decoded, entry) << i;  // the WAL's CRC catches the rest
    }
  }
}

TEST(DecisionTest, ValidatesDecisions) {
  EXPECT_TRUE(ValidateDecision(Sample()).ok());
  EXPECT_FALSE(ValidateDecision(CommitDecision{TxnId{3, 7}, {}}).ok());
  EXPECT_FALSE(ValidateDecision(CommitDecision{TxnId{0, 7}, {{1, "p"}}}).ok());
  EXPECT_FALSE(ValidateDecision(CommitDecision{TxnId{3, 7}, {{2, "p"}, {1, "q"}}}).ok());
  EXPECT_FALSE(ValidateDecision(CommitDecision{TxnId{3, 7}, {{1, ""}}}).ok());
  EXPECT_EQ(ToString(Sample()), "3.7 [1@p1 3@p3]");
}

}  // namespace
}  // namespace pact::coordinator
