// Tests of the PostgreSQL test harness itself, against real servers.
#include "tests/integration/postgres_server.h"

#include <gtest/gtest.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace pact::integration {
namespace {

namespace fs = std::filesystem;

std::unique_ptr<PostgresServer> StartOrDie(PostgresServerOptions options = {}) {
  Result<std::unique_ptr<PostgresServer>> server = PostgresServer::Start(std::move(options));
  PACT_CHECK(server.ok(), "{}", server.status().ToString());
  return std::move(server).value();
}

std::string QueryOne(PostgresServer& server, std::string_view db, std::string_view sql) {
  auto rows = server.Query(db, sql);
  if (!rows.ok()) return "error: " + rows.status().ToString();
  if (rows->size() != 1 || (*rows)[0].size() != 1) return "not one value";
  return (*rows)[0][0];
}

// The real uid of a process, from /proc/<pid>/status ("Uid:\treal\teffective...").
uid_t ProcessUid(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("Uid:")) return static_cast<uid_t>(std::stoul(line.substr(4)));
  }
  return static_cast<uid_t>(-1);
}

// A temporary folder, removed (with whatever is in it) when the test ends, passed or not.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "pact-pgtest-XXXXXX").string();
    PACT_CHECK(mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(PostgresServerTest, FindsServerBinaries) {
  Result<std::string> dir = FindPostgresBinDir();
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  EXPECT_EQ(access((*dir + "/initdb").c_str(), X_OK), 0);
  EXPECT_EQ(access((*dir + "/postgres").c_str(), X_OK), 0);
}

TEST(PostgresServerTest, StartsConfiguredServerAndStopRemovesEverything) {
  std::unique_ptr<PostgresServer> server = StartOrDie();
  const std::string dir = server->dir();
  ASSERT_TRUE(server->CreateDatabase("alpha").ok());
  EXPECT_EQ(QueryOne(*server, "alpha", "SELECT current_database()"), "alpha");
  EXPECT_EQ(QueryOne(*server, "alpha", "SHOW max_prepared_transactions"), "64");
  EXPECT_EQ(QueryOne(*server, "alpha", "SHOW fsync"), "on");
  EXPECT_EQ(QueryOne(*server, "alpha", "SHOW listen_addresses"), "127.0.0.1");
  EXPECT_EQ(QueryOne(*server, "alpha", "SHOW unix_socket_directories"), dir);
  EXPECT_EQ(QueryOne(*server, "alpha", "SHOW port"), std::to_string(server->port()));
  EXPECT_NE(server->Dsn("alpha").find("port=" + std::to_string(server->port())), std::string::npos);

  // As root the server must run as the unprivileged user, else as us.
  const uid_t server_uid = ProcessUid(server->postmaster_pid());
  if (geteuid() == 0) {
    EXPECT_EQ(server->server_user(), "nobody");
    EXPECT_NE(server_uid, 0u);
  } else {
    EXPECT_EQ(server_uid, geteuid());
  }

  const pid_t pid = server->postmaster_pid();
  ASSERT_TRUE(server->Stop().ok());
  EXPECT_FALSE(server->running());
  EXPECT_TRUE(ProcessGone(pid));
  EXPECT_FALSE(fs::exists(dir));
  EXPECT_EQ(server->Query("alpha", "SELECT 1").status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(server->Stop().ok()) << "a second Stop is a no-op";
}

TEST(PostgresServerTest, KillThenRestartKeepsCommittedDataAndPort) {
  std::unique_ptr<PostgresServer> server = StartOrDie();
  ASSERT_TRUE(server->Query("postgres", "CREATE TABLE t (v int); INSERT INTO t VALUES (7)").ok());
  const int port = server->port();
  const pid_t old_pid = server->postmaster_pid();

  ASSERT_TRUE(server->Kill().ok());
  EXPECT_FALSE(server->running());
  EXPECT_TRUE(ProcessGone(old_pid));
  EXPECT_EQ(server->Query("postgres", "SELECT 1").status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(server->Kill().code(), StatusCode::kFailedPrecondition);

  ASSERT_TRUE(server->Restart().ok());
  EXPECT_EQ(server->port(), port);
  EXPECT_NE(server->postmaster_pid(), old_pid);
  EXPECT_EQ(QueryOne(*server, "postgres", "SELECT v FROM t"), "7");

  // A restart of a running server is a clean stop and start.
  ASSERT_TRUE(server->Restart().ok());
  EXPECT_EQ(QueryOne(*server, "postgres", "SELECT v FROM t"), "7");
}

TEST(PostgresServerTest, AppliesOptions) {
  PostgresServerOptions options;
  options.max_prepared_transactions = 0;
  options.fsync = false;
  options.max_connections = 20;
  std::unique_ptr<PostgresServer> server = StartOrDie(options);
  EXPECT_EQ(QueryOne(*server, "postgres", "SHOW max_prepared_transactions"), "0");
  EXPECT_EQ(QueryOne(*server, "postgres", "SHOW fsync"), "off");
  EXPECT_EQ(QueryOne(*server, "postgres", "SHOW max_connections"), "20");
}

TEST(PostgresServerTest, TwoServersGetDifferentPortsAndFolders) {
  std::unique_ptr<PostgresServer> a = StartOrDie();
  std::unique_ptr<PostgresServer> b = StartOrDie();
  EXPECT_NE(a->port(), b->port());
  EXPECT_NE(a->dir(), b->dir());
  ASSERT_TRUE(a->Query("postgres", "CREATE TABLE only_in_a (v int)").ok());
  EXPECT_FALSE(b->Query("postgres", "SELECT * FROM only_in_a").ok());
}

TEST(PostgresServerTest, RejectsBadOptionsAndNonEmptyFolder) {
  PostgresServerOptions bad;
  bad.start_attempts_max = 0;
  EXPECT_EQ(PostgresServer::Start(bad).status().code(), StatusCode::kInvalidArgument);

  TempDir temp;
  const std::string& dir = temp.path();
  std::ofstream(dir + "/something") << "x";
  PostgresServerOptions options;
  options.dir = dir;
  Result<std::unique_ptr<PostgresServer>> server = PostgresServer::Start(options);
  EXPECT_EQ(server.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(fs::exists(dir + "/something")) << "a refused folder must be left alone";

  EXPECT_EQ(PostgresServer::Attach("/nonexistent/pact").status().code(), StatusCode::kNotFound);
}

TEST(PostgresServerTest, CliStartsServerThatOutlivesItAndStopsIt) {
  // As root the server runs as `nobody`, which must be able to enter the parent folder.
  TempDir temp;
  const std::string& parent = temp.path();
  fs::permissions(parent, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
  const std::string dir = parent + "/server";
  // Should an assertion end the test early, the server the CLI left running is stopped.
  struct StopServerAtEnd {
    std::string dir;
    ~StopServerAtEnd() {
      Result<std::unique_ptr<PostgresServer>> server = PostgresServer::Attach(dir);
      if (server.ok()) (void)(*server)->Stop();
    }
  } stop_at_end{dir};
  const std::string start = std::string(PACT_TEST_POSTGRES_CLI) + " start --dir " + dir +
                            " --databases bank_a,bank_b --max-prepared 10";
  // The CLI's stdout is a pipe to us: if the server it leaves running inherited that pipe,
  // reading would never reach end-of-file, so this also checks that no descriptor leaks.
  FILE* out = popen(start.c_str(), "r");
  ASSERT_NE(out, nullptr);
  std::string output;
  char buffer[256];
  while (fgets(buffer, sizeof(buffer), out) != nullptr) output += buffer;
  ASSERT_EQ(pclose(out), 0) << output;

  std::istringstream lines(output);
  std::string name, dsn;
  ASSERT_TRUE(lines >> name && std::getline(lines, dsn)) << output;
  EXPECT_EQ(name, "bank_a");
  EXPECT_NE(dsn.find("dbname=bank_a"), std::string::npos) << dsn;
  ASSERT_TRUE(lines >> name && std::getline(lines, dsn)) << output;
  EXPECT_EQ(name, "bank_b");

  {
    Result<std::unique_ptr<PostgresServer>> attached = PostgresServer::Attach(dir);
    ASSERT_TRUE(attached.ok()) << attached.status().ToString();
    EXPECT_TRUE((*attached)->running());
    EXPECT_EQ(QueryOne(**attached, "bank_b", "SHOW max_prepared_transactions"), "10");
    (*attached)->Detach();  // leave it for the CLI to stop
  }

  const std::string stop = std::string(PACT_TEST_POSTGRES_CLI) + " stop --dir " + dir;
  ASSERT_EQ(std::system(stop.c_str()), 0);
  EXPECT_FALSE(fs::exists(dir));
  EXPECT_NE(
      std::system(
          (std::string(PACT_TEST_POSTGRES_CLI) + " stop --dir " + dir + " 2>/dev/null").c_str()),
      0)
      << "stopping a removed server must fail";
}

}  // namespace
}  // namespace pact::integration
