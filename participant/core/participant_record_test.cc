#include "participant/core/participant_record.h"

#include <gtest/gtest.h>

namespace pact::participant {
namespace {

const BranchId kBranch{TxnId{3, 7}, 2};

TEST(ParticipantRecordTest, RoundTrips) {
  for (const ParticipantRecord& r :
       {ParticipantRecord::Incarnation(9), ParticipantRecord::Prepared(kBranch, 3, false),
        ParticipantRecord::Prepared(kBranch, 4, true), ParticipantRecord::Committed(kBranch, 4),
        ParticipantRecord::Aborted(kBranch, 0)}) {
    Result<ParticipantRecord> decoded = DecodeRecord(EncodeRecord(r));
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_EQ(*decoded, r);
  }
  EXPECT_EQ(ToString(ParticipantRecord::Prepared(kBranch, 3, true)), "PREPARED(3.7/2 one-phase)");
}

TEST(ParticipantRecordTest, RefusesDamage) {
  const std::string bytes = EncodeRecord(ParticipantRecord::Prepared(kBranch, 3, true));
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    EXPECT_FALSE(DecodeRecord(bytes.substr(0, cut)).ok()) << cut;
  }
  EXPECT_FALSE(DecodeRecord(bytes + "x").ok());
  std::string bad_flag = bytes;
  bad_flag.back() = 2;
  EXPECT_FALSE(DecodeRecord(bad_flag).ok());
  std::string bad_version = bytes;
  bad_version[0] = 9;
  EXPECT_EQ(DecodeRecord(bad_version).status().code(), StatusCode::kCorruption);
  std::string zero_branch = EncodeRecord(ParticipantRecord::Committed(kBranch, 3));
  zero_branch[zero_branch.size() - 4] = 0;  // branch number 2 -> 0
  EXPECT_FALSE(DecodeRecord(zero_branch).ok());
}

}  // namespace
}  // namespace pact::participant
