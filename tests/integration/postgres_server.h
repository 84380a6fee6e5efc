// PostgresServer: a real, throwaway PostgreSQL server for integration tests, benchmarks and the
// demo (DESIGN §6): initdb in a fresh folder, loopback only, a free port, its own socket folder,
// max_prepared_transactions set, fsync on unless asked otherwise.
//
// The server binaries (initdb, postgres) are found at run time: $PACT_PG_BINDIR when set, else
// the highest /usr/lib/postgresql/<version>/bin, else the folder that an `initdb` on PATH
// resolves to (symlinks followed). initdb and postgres refuse to run as root, so when this
// process is root the server runs as an unprivileged user (`nobody` by default) that is given
// the folder; otherwise it runs as the invoking user.
//
// Authentication is `trust` for the superuser kUser: the server listens only on 127.0.0.1 and on
// a socket in its own folder, and it exists only for tests.
//
// The server is a child process in a session of its own. If this process dies without Stop()
// (a crash, a ctest timeout) the server keeps running and its folder stays; Attach() + Stop()
// (or `pact-test-postgres stop --dir D`) cleans up.
//
// Thread-safety: none; one thread drives a PostgresServer at a time. Query() and
// CreateDatabase() open their own connection, so they may run while other threads use the server
// through libpq.
#ifndef PACT_TESTS_INTEGRATION_POSTGRES_SERVER_H_
#define PACT_TESTS_INTEGRATION_POSTGRES_SERVER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "tests/integration/process.h"

namespace pact::integration {

struct PostgresServerOptions {
  // The folder that holds everything of the server: data/, server.log, initdb.log, the unix
  // socket and a state file. Empty: a fresh folder under $TMPDIR (else /tmp). A given folder is
  // created when missing and must otherwise be empty. Stop() removes it either way.
  std::string dir;
  int max_prepared_transactions = 64;
  int max_connections = 100;
  // The server's fsync setting. Off is faster, and still safe against Kill() - the OS keeps what
  // a killed process wrote - but not against losing the machine. (initdb never syncs: a
  // throwaway cluster does not outlive its machine.)
  bool fsync = true;
  // Free ports tried when another process takes the chosen port before PostgreSQL binds it.
  int start_attempts_max = 5;
  int start_timeout_seconds = 60;  // until the server accepts connections
  int stop_timeout_seconds = 60;   // for a fast shutdown, after which the server is killed
  // When this process runs as root: the user the server runs as.
  std::string unprivileged_user = "nobody";
};

class PostgresServer {
 public:
  // The superuser that every DSN names.
  static constexpr std::string_view kUser = "postgres";

  // Runs initdb, configures and starts the server, and waits until it accepts connections.
  // Fails with InvalidArgument for bad options or a non-empty `dir`, NotFound when the server
  // binaries or the unprivileged user are missing, IoError when initdb or the server fail
  // (the message carries the end of their log). On failure nothing is left running and a folder
  // this call created is removed.
  static Result<std::unique_ptr<PostgresServer>> Start(PostgresServerOptions options = {});

  // Takes charge of a server that Start() put in `dir` in another process (which then called
  // Detach()), running or not. NotFound when `dir` holds no such server.
  static Result<std::unique_ptr<PostgresServer>> Attach(const std::string& dir);

  // Stop(), unless Detach() was called; errors are logged.
  ~PostgresServer();

  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // Creates a database owned by kUser. Fails with the server's error (SQLSTATE in the message).
  Status CreateDatabase(std::string_view name);

  // A libpq connection string for database `db`: "host=127.0.0.1 port=N dbname=db user=postgres".
  std::string Dsn(std::string_view db) const;

  // Runs `sql` (one or more statements, simple query protocol) in `db` on a new connection and
  // returns the rows of the last statement as text, NULL as "". For tests and set-up scripts.
  Result<std::vector<std::vector<std::string>>> Query(std::string_view db, std::string_view sql);

  // Fast shutdown (active sessions are rolled back, prepared transactions stay), then removes
  // the folder. OK when already stopped. If the server does not stop within
  // stop_timeout_seconds it is killed and an error is returned.
  Status Stop();

  // SIGKILL of the postmaster and all its processes at once, as if the machine lost power (but
  // the OS keeps what they wrote). The folder stays, for Restart(). FailedPrecondition when the
  // server is not running.
  Status Kill();

  // Starts the server again on the same folder and port (stopping it first if it runs), and
  // waits for it to accept connections - after Kill() that includes crash recovery.
  // Unavailable when another process took the port meanwhile.
  Status Restart();

  // Leaves the server running and its folder in place when this object is destroyed (for
  // `pact-test-postgres start`).
  void Detach() { detached_ = true; }

  bool running() const { return postmaster_pid_ != 0; }
  int port() const { return port_; }
  const std::string& dir() const { return dir_; }
  std::string data_dir() const;
  std::string log_path() const;
  // The pid of the postmaster; 0 when not running.
  pid_t postmaster_pid() const { return postmaster_pid_; }
  // The OS user the server runs as ("" for the invoking user).
  const std::string& server_user() const { return run_as_.name; }

 private:
  PostgresServer(std::string dir, std::string bin_dir, PostgresServerOptions options, RunAs run_as);

  Status InitDataDir();
  Status WriteStateFile() const;
  // Starts the postmaster on `port` and waits until it accepts connections. Sets *port_taken
  // when it failed because the port was in use.
  Status StartPostmaster(int port, bool* port_taken);
  Status StartOnFreePort();
  // Fast shutdown; kills the server when it takes longer than stop_timeout_seconds.
  Status StopPostmaster();
  // Waits up to `timeout_micros` for the postmaster to exit; false on timeout.
  bool WaitForPostmasterExit(uint64_t timeout_micros);

  std::string dir_;
  std::string bin_dir_;
  PostgresServerOptions options_;
  RunAs run_as_;
  int port_ = 0;
  pid_t postmaster_pid_ = 0;          // 0 when not running
  bool postmaster_is_child_ = false;  // false after Attach(): then we cannot waitpid() it
  bool detached_ = false;
  bool removed_ = false;  // the folder is gone (after Stop)
};

// The folder with the PostgreSQL server binaries (see the header comment for the search order),
// or NotFound with what was searched and how to fix it.
Result<std::string> FindPostgresBinDir();

// A TCP port on 127.0.0.1 that was free a moment ago (bound with port 0, then released).
Result<int> PickFreePort();

}  // namespace pact::integration

#endif  // PACT_TESTS_INTEGRATION_POSTGRES_SERVER_H_
