#include "tests/integration/pact_cluster.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "common/file_system.h"
#include "tests/integration/process.h"

namespace pact::integration {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The address from the process's "... ready listen=HOST:PORT ..." line, once printed.
std::string ReadyAddress(const std::string& log, size_t from) {
  const size_t ready = log.find(" ready listen=", from);
  if (ready == std::string::npos) return "";
  const size_t start = ready + std::string_view(" ready listen=").size();
  const size_t end = log.find_first_of(" \n", start);
  if (end == std::string::npos) return "";
  return log.substr(start, end - start);
}

}  // namespace

std::string PactBinDir() { return PACT_BIN_DIR; }

Result<std::unique_ptr<PactCluster>> PactCluster::Start(const ClusterOptions& options) {
  std::unique_ptr<PactCluster> cluster(new PactCluster(options));
  // Under /tmp itself: PostgreSQL may run as another user, who must be able to enter it.
  std::string pattern = "/tmp/pact-itest-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) return Status::IoError("mkdtemp failed");
  cluster->dir_ = pattern;
  std::filesystem::permissions(cluster->dir_, std::filesystem::perms::all);
  if (!options.databases.empty()) {
    PostgresServerOptions pg = options.postgres;
    pg.dir = JoinPath(cluster->dir_, "pg");
    PACT_ASSIGN_OR_RETURN(cluster->postgres_, PostgresServer::Start(pg));
    for (const std::string& db : options.databases) {
      PACT_RETURN_IF_ERROR(cluster->postgres_->CreateDatabase(db));
    }
  }
  return cluster;
}

PactCluster::~PactCluster() {
  for (auto& [name, process] : processes_) {
    if (process.pid != 0) {
      ::kill(process.pid, SIGKILL);
      (void)WaitForChild(process.pid);
    }
  }
  postgres_.reset();
  if (std::getenv("PACT_KEEP_TEST_DIRS") == nullptr) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

Status PactCluster::Launch(PactProcess& process, const std::string& fail_point) {
  PACT_CHECK(process.pid == 0, "{} is already running", process.name);
  SpawnOptions spawn;
  spawn.argv = {process.program};
  spawn.argv.insert(spawn.argv.end(), process.args.begin(), process.args.end());
  spawn.env = {"PATH=/usr/bin:/bin", "HOME=/tmp"};
  if (!fail_point.empty()) spawn.env.push_back("PACT_FAIL_POINT=" + fail_point);
  // A sanitizer build's settings (say halt_on_error=1, log_path=...) must reach the processes
  // under test too, or their reports go unnoticed in a log nobody reads.
  for (const char* name : {"TSAN_OPTIONS", "ASAN_OPTIONS", "UBSAN_OPTIONS"}) {
    if (const char* value = std::getenv(name); value != nullptr) {
      spawn.env.push_back(std::string(name) + "=" + value);
    }
  }
  spawn.output_path = process.log_path;
  const size_t log_start = ReadAll(process.log_path).size();
  PACT_ASSIGN_OR_RETURN(process.pid, Spawn(spawn));

  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(options_.ready_timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string address = ReadyAddress(ReadAll(process.log_path), log_start);
    if (!address.empty()) {
      process.address = address;
      return Status::Ok();
    }
    PACT_ASSIGN_OR_RETURN(std::optional<int> exited, PollChild(process.pid));
    if (exited.has_value()) {
      process.pid = 0;
      return Status::Unavailable(fmt::format("{} exited with status {} before it was ready:\n{}",
                                             process.name, *exited, LogOf(process.name)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return Status::Unavailable(fmt::format("{} not ready within {} ms:\n{}", process.name,
                                         options_.ready_timeout_ms, LogOf(process.name)));
}

Status PactCluster::StartCoordinator(const std::string& fail_point) {
  auto [it, fresh] = processes_.try_emplace("coordinator");
  PactProcess& process = it->second;
  if (fresh) {
    PACT_ASSIGN_OR_RETURN(int port, PickFreePort());
    process.name = "coordinator";
    process.program = JoinPath(PactBinDir(), "pact-coordinator");
    process.log_path = JoinPath(dir_, "coordinator.log");
    process.args = {"--listen",   fmt::format("127.0.0.1:{}", port),
                    "--data-dir", JoinPath(dir_, "coordinator"),
                    "--log-level", "info"};
    process.args.insert(process.args.end(), options_.coordinator_flags.begin(),
                        options_.coordinator_flags.end());
  }
  return Launch(process, fail_point);
}

Status PactCluster::StartAgent(const std::string& name, const std::string& database,
                               const std::string& fail_point) {
  auto [it, fresh] = processes_.try_emplace(name);
  PactProcess& process = it->second;
  if (fresh) {
    PACT_ASSIGN_OR_RETURN(int port, PickFreePort());
    process.name = name;
    process.program = JoinPath(PactBinDir(), "pact-agent");
    process.log_path = JoinPath(dir_, name + ".log");
    process.args = {"--listen",       fmt::format("127.0.0.1:{}", port),
                    "--data-dir",     JoinPath(dir_, name),
                    "--cluster",      options_.cluster_name,
                    "--coordinators", coordinator_address()};
    if (database.empty()) {
      process.args.insert(process.args.end(), {"--store", "kv"});
    } else {
      process.args.insert(process.args.end(), {"--store", "postgres", "--dsn",
                                               postgres_->Dsn(database)});
    }
    process.args.insert(process.args.end(), options_.agent_flags.begin(),
                        options_.agent_flags.end());
  }
  return Launch(process, fail_point);
}

Status PactCluster::Kill(const std::string& name) {
  PactProcess& process = processes_.at(name);
  if (process.pid == 0) return Status::Ok();
  ::kill(process.pid, SIGKILL);
  Result<int> ended = WaitForChild(process.pid);
  process.pid = 0;
  // kAborted is how WaitForChild reports the death by signal we asked for.
  if (!ended.ok() && ended.status().code() != StatusCode::kAborted) return ended.status();
  return Status::Ok();
}

Status PactCluster::Stop(const std::string& name) {
  PactProcess& process = processes_.at(name);
  if (process.pid == 0) return Status::Ok();
  ::kill(process.pid, SIGTERM);
  PACT_ASSIGN_OR_RETURN(int status, WaitForChild(process.pid));
  process.pid = 0;
  if (status != 0) {
    return Status::Aborted(fmt::format("{} exited with status {} on SIGTERM", name, status));
  }
  return Status::Ok();
}

Status PactCluster::WaitForExit(const std::string& name, int timeout_ms) {
  PactProcess& process = processes_.at(name);
  if (process.pid == 0) return Status::Ok();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    Result<std::optional<int>> exited = PollChild(process.pid);
    // An error here means a signal ended it (kAborted), which is what a fail point does.
    if (!exited.ok() || exited->has_value()) {
      process.pid = 0;
      return Status::Ok();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return Status::Unavailable(fmt::format("{} still running after {} ms", name, timeout_ms));
}

bool PactCluster::Running(const std::string& name) {
  auto it = processes_.find(name);
  return it != processes_.end() && it->second.pid != 0;
}

Status PactCluster::Pause(const std::string& name) {
  const pid_t target = pid(name);
  if (target == 0) return Status::FailedPrecondition(fmt::format("{} is not running", name));
  if (::kill(target, SIGSTOP) != 0) return Status::IoError(fmt::format("SIGSTOP {} failed", name));
  return Status::Ok();
}

Status PactCluster::Resume(const std::string& name) {
  const pid_t target = pid(name);
  if (target == 0) return Status::FailedPrecondition(fmt::format("{} is not running", name));
  if (::kill(target, SIGCONT) != 0) return Status::IoError(fmt::format("SIGCONT {} failed", name));
  return Status::Ok();
}

pid_t PactCluster::pid(const std::string& name) const {
  auto it = processes_.find(name);
  return it == processes_.end() ? 0 : it->second.pid;
}

const std::string& PactCluster::coordinator_address() const {
  return processes_.at("coordinator").address;
}

const std::string& PactCluster::address(const std::string& name) const {
  return processes_.at(name).address;
}

std::string PactCluster::LogOf(const std::string& name) const {
  return ReadAll(processes_.at(name).log_path);
}

}  // namespace pact::integration
