#include "common/branch_id.h"

#include <gtest/gtest.h>

namespace pact {
namespace {

TEST(BranchIdTest, GidRoundTripsAndStaysUnderPostgresLimit) {
  BranchId id{TxnId{3, 1042}, 2};
  EXPECT_EQ(id.Gid("prod"), "pact:prod:3:1042:2");
  EXPECT_EQ(*BranchId::ParseGid("prod", "pact:prod:3:1042:2"), id);
  EXPECT_EQ(id.ToString(), "3.1042/2");
  const std::string longest_cluster(kClusterNameBytesMax, 'c');
  BranchId largest{TxnId{UINT64_MAX, UINT64_MAX}, UINT32_MAX};
  EXPECT_LT(largest.Gid(longest_cluster).size(), 200u);
  EXPECT_EQ(*BranchId::ParseGid(longest_cluster, largest.Gid(longest_cluster)), largest);
}

TEST(BranchIdTest, RejectsOtherClustersAndMalformedGids) {
  for (const char* gid : {"pact:other:3:1042:2", "pact:prod:3:1042", "pact:prod:3:1042:2:9",
                          "pact:prod:0:1:1", "pact:prod:1:1:0", "pact:prod:1:01:1",
                          "pact:prod:1:1:4294967296", "pact:prod:a:1:1", "xact:prod:1:1:1",
                          "pact:prod:", "pact:prod:1::1"}) {
    EXPECT_FALSE(BranchId::ParseGid("prod", gid).ok()) << gid;
  }
}

TEST(BranchIdTest, ClusterNamesAreChecked) {
  EXPECT_TRUE(ValidateClusterName("prod-eu_1").ok());
  EXPECT_FALSE(ValidateClusterName("").ok());
  EXPECT_FALSE(ValidateClusterName("a:b").ok());
  EXPECT_FALSE(ValidateClusterName(std::string(kClusterNameBytesMax + 1, 'x')).ok());
}

}  // namespace
}  // namespace pact
