// PactCluster: real Pact processes for integration tests and benchmarks - one PostgreSQL
// server with the databases the test asks for, a pact-coordinator, and pact-agents - started,
// killed with SIGKILL and restarted the way an operator (or a crash) would. Every process runs
// from the build's bin/ directory, listens on 127.0.0.1 only, and logs to a file in the
// cluster's directory, which the destructor removes after stopping everything (unless the
// test failed and PACT_KEEP_TEST_DIRS is set).
//
// Agents get a fixed port when first started, so a restarted agent keeps its address (it
// names the agent in the coordinator's decision log).
//
// Not thread-safe: one test thread drives it.
#ifndef PACT_TESTS_INTEGRATION_PACT_CLUSTER_H_
#define PACT_TESTS_INTEGRATION_PACT_CLUSTER_H_

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "tests/integration/postgres_server.h"

namespace pact::integration {

struct PactProcess {
  std::string name;               // "coordinator", "agent-a", ...
  std::vector<std::string> args;  // without the program
  std::string program;            // absolute path
  std::string address;            // "127.0.0.1:port" once ready
  std::string log_path;
  pid_t pid = 0;
};

struct ClusterOptions {
  std::vector<std::string> databases;  // created in one PostgreSQL server; may be empty
  std::string cluster_name = "itest";
  int ready_timeout_ms = 30000;
  std::vector<std::string> coordinator_flags;  // extra flags for pact-coordinator
  std::vector<std::string> agent_flags;        // extra flags for every pact-agent
  // The PostgreSQL server's settings (fsync, max_prepared_transactions, max_connections);
  // `dir` is chosen by Start().
  PostgresServerOptions postgres;
};

class PactCluster {
 public:
  static Result<std::unique_ptr<PactCluster>> Start(const ClusterOptions& options);
  ~PactCluster();

  PostgresServer& postgres() { return *postgres_; }
  const std::string& dir() const { return dir_; }

  // Starts (or restarts after a kill) the coordinator. `fail_point` arms PACT_FAIL_POINT.
  Status StartCoordinator(const std::string& fail_point = "");
  // Starts (or restarts) an agent fronting `database` (PostgreSQL) or, when `database` is
  // empty, a KV store in its own data directory.
  Status StartAgent(const std::string& name, const std::string& database,
                    const std::string& fail_point = "");
  Status Kill(const std::string& name);         // SIGKILL and reap
  Status Stop(const std::string& name);         // SIGTERM and reap
  // Waits until the process ended, however (a fail point kills it with SIGKILL). Unavailable
  // if it still runs after `timeout_ms`.
  Status WaitForExit(const std::string& name, int timeout_ms);
  bool Running(const std::string& name);
  // SIGSTOP and SIGCONT: a paused process keeps its sockets but answers nothing (a stalled
  // machine, a long GC pause), then goes on where it stopped.
  Status Pause(const std::string& name);
  Status Resume(const std::string& name);
  // The process's pid (for /proc), 0 when it is not running.
  pid_t pid(const std::string& name) const;

  const std::string& coordinator_address() const;
  const std::string& address(const std::string& name) const;
  std::string LogOf(const std::string& name) const;

 private:
  explicit PactCluster(ClusterOptions options) : options_(std::move(options)) {}
  Status Launch(PactProcess& process, const std::string& fail_point);

  const ClusterOptions options_;
  std::string dir_;
  std::unique_ptr<PostgresServer> postgres_;
  std::map<std::string, PactProcess> processes_;
};

// The build's bin/ directory (where pact-coordinator and pact-agent are).
std::string PactBinDir();

}  // namespace pact::integration

#endif  // PACT_TESTS_INTEGRATION_PACT_CLUSTER_H_
