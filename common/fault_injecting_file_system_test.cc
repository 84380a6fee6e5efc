#include "common/fault_injecting_file_system.h"

#include <gtest/gtest.h>

namespace pact {
namespace {

using UnsyncedOnCrash = FaultInjectingFileSystem::UnsyncedOnCrash;

class FaultInjectingFileSystemTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(fs_.CreateDirs("/data").ok()); }

  std::unique_ptr<WritableFile> Create(const std::string& path) {
    auto file = fs_.NewWritableFile(path);
    EXPECT_TRUE(file.ok()) << file.status().ToString();
    return std::move(file).value();
  }

  std::string Contents(const std::string& path) {
    auto data = fs_.ReadFileToString(path);
    return data.ok() ? *data : "<" + data.status().ToString() + ">";
  }

  FaultInjectingFileSystem fs_{/*seed=*/5};
};

TEST_F(FaultInjectingFileSystemTest, CrashKeepsSyncedBytesAndLosesTheRest) {
  auto file = Create("/data/a");
  ASSERT_TRUE(fs_.SyncDir("/data").ok());
  ASSERT_TRUE(file->Append("durable").ok());
  ASSERT_TRUE(file->Sync().ok());
  ASSERT_TRUE(file->Append("-lost").ok());
  EXPECT_EQ(Contents("/data/a"), "durable-lost");
  fs_.Crash(UnsyncedOnCrash::kLose);
  EXPECT_EQ(Contents("/data/a"), "durable");
}

TEST_F(FaultInjectingFileSystemTest, FileWhoseDirectoryWasNotSyncedVanishes) {
  auto file = Create("/data/new");
  ASSERT_TRUE(file->Append("x").ok());
  ASSERT_TRUE(file->Sync().ok());
  fs_.Crash(UnsyncedOnCrash::kLose);
  EXPECT_FALSE(fs_.FileExists("/data/new"));
}

TEST_F(FaultInjectingFileSystemTest, RemoveAndRenameNeedASyncedDirectory) {
  ASSERT_TRUE(fs_.WriteFileAtomically("/data/kept", "v1").ok());
  ASSERT_TRUE(fs_.RemoveFile("/data/kept").ok());
  fs_.Crash(UnsyncedOnCrash::kLose);
  EXPECT_EQ(Contents("/data/kept"), "v1") << "an unsynced unlink must come back after a crash";

  ASSERT_TRUE(fs_.WriteFileAtomically("/data/kept", "v2").ok());
  fs_.Crash(UnsyncedOnCrash::kLose);
  EXPECT_EQ(Contents("/data/kept"), "v2");
  EXPECT_FALSE(fs_.FileExists("/data/kept.tmp"));
}

TEST_F(FaultInjectingFileSystemTest, TornCrashKeepsOnlyAPrefixOfUnsyncedBytes) {
  std::set<size_t> survivor_sizes;
  for (int round = 0; round < 50; ++round) {
    auto file = Create("/data/t");
    ASSERT_TRUE(fs_.SyncDir("/data").ok());
    ASSERT_TRUE(file->Append("0123").ok());
    ASSERT_TRUE(file->Sync().ok());
    ASSERT_TRUE(file->Append("456789").ok());
    fs_.Crash(UnsyncedOnCrash::kTearUnsynced);
    const std::string after = Contents("/data/t");
    ASSERT_GE(after.size(), 4u);
    ASSERT_EQ(after, std::string("0123456789").substr(0, after.size()));
    survivor_sizes.insert(after.size());
  }
  EXPECT_GT(survivor_sizes.size(), 3u) << "tears should land at many different offsets";
}

TEST_F(FaultInjectingFileSystemTest, FailedSyncMakesNothingDurable) {
  auto file = Create("/data/f");
  ASSERT_TRUE(fs_.SyncDir("/data").ok());
  ASSERT_TRUE(file->Append("abc").ok());
  fs_.FailSyncs(1);
  Status failed = file->Sync();
  EXPECT_EQ(failed.code(), StatusCode::kIoError);
  EXPECT_EQ(*fs_.DurableSize("/data/f"), 0u);
  fs_.Crash(UnsyncedOnCrash::kLose);
  EXPECT_EQ(Contents("/data/f"), "");
}

TEST_F(FaultInjectingFileSystemTest, HandlesFromBeforeACrashFail) {
  auto file = Create("/data/h");
  ASSERT_TRUE(fs_.SyncDir("/data").ok());
  fs_.Crash(UnsyncedOnCrash::kLose);
  EXPECT_EQ(file->Append("late").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(Contents("/data/h"), "");
}

TEST_F(FaultInjectingFileSystemTest, FlipBitsChangesStoredBytes) {
  ASSERT_TRUE(fs_.WriteFileAtomically("/data/b", "A").ok());
  ASSERT_TRUE(fs_.FlipBits("/data/b", 0, 0x01).ok());
  EXPECT_EQ(Contents("/data/b"), "@");
  fs_.Crash(UnsyncedOnCrash::kLose);
  EXPECT_EQ(Contents("/data/b"), "@") << "corruption is on the medium, not in the cache";
  EXPECT_EQ(fs_.FlipBits("/data/b", 9, 1).code(), StatusCode::kInvalidArgument);
}

TEST_F(FaultInjectingFileSystemTest, ListDirIsSortedAndScoped) {
  Create("/data/b");
  Create("/data/a");
  ASSERT_TRUE(fs_.CreateDirs("/data/sub").ok());
  Create("/data/sub/c");
  EXPECT_EQ(*fs_.ListDir("/data"), (std::vector<std::string>{"a", "b", "sub"}));
  EXPECT_EQ(fs_.ListDir("/nowhere").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(fs_.NewWritableFile("/nowhere/x").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace pact
