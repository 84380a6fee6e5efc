#include "common/file_system.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

namespace pact {
namespace {

class PosixFileSystemTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "pact-fs-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  PosixFileSystem* fs_ = PosixFileSystem::Default();
  std::string dir_;
};

TEST_F(PosixFileSystemTest, AppendSyncReadBack) {
  const std::string path = JoinPath(dir_, "log");
  auto file = fs_->NewWritableFile(path);
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->Append("hello ").ok());
  ASSERT_TRUE((*file)->Append("world").ok());
  EXPECT_EQ((*file)->Size(), 11u);
  ASSERT_TRUE((*file)->Sync().ok());
  ASSERT_TRUE((*file)->Close().ok());
  EXPECT_EQ(*fs_->ReadFileToString(path), "hello world");

  auto appendable = fs_->OpenAppendableFile(path);
  ASSERT_TRUE(appendable.ok());
  EXPECT_EQ((*appendable)->Size(), 11u);
  ASSERT_TRUE((*appendable)->Append("!").ok());
  ASSERT_TRUE(fs_->TruncateFile(path, 5).ok());
  EXPECT_EQ(*fs_->ReadFileToString(path), "hello");
}

TEST_F(PosixFileSystemTest, DirectoryOperations) {
  ASSERT_TRUE(fs_->CreateDirs(JoinPath(dir_, "a/b")).ok());
  ASSERT_TRUE(fs_->WriteFileAtomically(JoinPath(dir_, "a/x"), "1").ok());
  EXPECT_EQ(*fs_->ListDir(JoinPath(dir_, "a")), (std::vector<std::string>{"b", "x"}));
  ASSERT_TRUE(fs_->RenameFile(JoinPath(dir_, "a/x"), JoinPath(dir_, "a/y")).ok());
  EXPECT_FALSE(fs_->FileExists(JoinPath(dir_, "a/x")));
  EXPECT_EQ(*fs_->FileSize(JoinPath(dir_, "a/y")), 1u);
  ASSERT_TRUE(fs_->RemoveFile(JoinPath(dir_, "a/y")).ok());
  EXPECT_EQ(fs_->RemoveFile(JoinPath(dir_, "a/y")).code(), StatusCode::kNotFound);
  EXPECT_EQ(fs_->OpenReadableFile(JoinPath(dir_, "missing")).status().code(),
            StatusCode::kNotFound);
}

TEST(PathTest, JoinAndParent) {
  EXPECT_EQ(JoinPath("a", "b"), "a/b");
  EXPECT_EQ(JoinPath("a/", "b"), "a/b");
  EXPECT_EQ(ParentDir("/x/y/z"), "/x/y");
  EXPECT_EQ(ParentDir("/x"), "/");
  EXPECT_EQ(ParentDir("x"), ".");
}

}  // namespace
}  // namespace pact
