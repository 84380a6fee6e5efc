#include "tests/integration/postgres_server.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "common/clock.h"
#include "common/logging.h"

namespace pact::integration {
namespace fs = std::filesystem;
namespace {

constexpr char kStateFileName[] = "pact-test-postgres.state";
constexpr char kDataDirName[] = "data";
constexpr char kServerLogName[] = "server.log";
constexpr char kInitdbLogName[] = "initdb.log";
constexpr char kDebianPostgresRoot[] = "/usr/lib/postgresql";
constexpr char kBinDirEnvVar[] = "PACT_PG_BINDIR";
// The socket file PostgreSQL creates in unix_socket_directories, with the longest port.
constexpr char kLongestSocketName[] = "/.s.PGSQL.65535";
constexpr size_t kSocketPathBytesMax = sizeof(sockaddr_un::sun_path) - 1;
constexpr uint64_t kPollIntervalMicros = 20'000;
constexpr uint64_t kKillTimeoutMicros = 10'000'000;
constexpr uint64_t kMicrosPerSecond = 1'000'000;
constexpr size_t kLogTailBytesMax = 4'000;
constexpr int kPingConnectTimeoutSeconds = 2;

std::string ErrnoText(int err) { return std::string(strerror(err)); }

bool IsServerBinDir(const fs::path& dir) {
  return access((dir / "initdb").c_str(), X_OK) == 0 &&
         access((dir / "postgres").c_str(), X_OK) == 0;
}

// "15" -> {15}, "9.6" -> {9, 6}; nullopt for anything else (e.g. Debian's "common").
std::optional<std::vector<int>> ParseVersion(std::string_view text) {
  std::vector<int> parts;
  while (!text.empty()) {
    const size_t dot = text.find('.');
    const std::string_view part = text.substr(0, dot);
    int value = 0;
    auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), value);
    if (part.empty() || ec != std::errc() || end != part.data() + part.size()) return std::nullopt;
    parts.push_back(value);
    text = dot == std::string_view::npos ? std::string_view() : text.substr(dot + 1);
  }
  if (parts.empty()) return std::nullopt;
  return parts;
}

std::optional<fs::path> HighestDebianBinDir() {
  std::optional<std::vector<int>> best_version;
  std::optional<fs::path> best;
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(kDebianPostgresRoot, ec)) {
    const std::optional<std::vector<int>> version = ParseVersion(entry.path().filename().string());
    if (!version || !IsServerBinDir(entry.path() / "bin")) continue;
    if (!best_version || *version > *best_version) {
      best_version = version;
      best = entry.path() / "bin";
    }
  }
  return best;
}

// An `initdb` on PATH may be a symlink into the real installation (Debian puts only wrappers
// and client tools in /usr/bin), so it counts only if the folder it resolves to also holds
// `postgres`.
std::optional<fs::path> BinDirFromPath() {
  const char* path = getenv("PATH");
  if (path == nullptr) return std::nullopt;
  std::istringstream dirs(path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    std::error_code ec;
    const fs::path initdb = fs::canonical(fs::path(dir) / "initdb", ec);
    if (!ec && IsServerBinDir(initdb.parent_path())) return initdb.parent_path();
  }
  return std::nullopt;
}

// A value for a libpq connection string: quoted when it holds anything but plain characters.
std::string QuoteConninfoValue(std::string_view value) {
  const bool plain = !value.empty() && std::none_of(value.begin(), value.end(), [](char c) {
    return c == ' ' || c == '\'' || c == '\\' || c == '=' || c == '\t' || c == '\n';
  });
  if (plain) return std::string(value);
  std::string quoted = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return quoted + "'";
}

// A string value in postgresql.conf: single quotes, a quote doubled.
std::string QuoteConfValue(std::string_view value) {
  std::string quoted = "'";
  for (char c : value) {
    if (c == '\'') quoted += '\'';
    quoted += c;
  }
  return quoted + "'";
}

// The end of a file from `offset` on (at most kLogTailBytesMax bytes), for error messages.
std::string ReadTail(const std::string& path, size_t offset) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fmt::format("(no {})", path);
  in.seekg(0, std::ios::end);
  const size_t size = static_cast<size_t>(in.tellg());
  const size_t start = std::max(offset, size > kLogTailBytesMax ? size - kLogTailBytesMax : 0);
  if (start >= size) return "(nothing logged)";
  in.seekg(static_cast<std::streamoff>(start));
  std::string text(size - start, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  return text;
}

size_t FileSize(const std::string& path) {
  std::error_code ec;
  const uintmax_t size = fs::file_size(path, ec);
  return ec ? 0 : static_cast<size_t>(size);
}

Status ValidateOptions(const PostgresServerOptions& options) {
  if (options.max_prepared_transactions < 0 || options.max_connections < 1 ||
      options.start_attempts_max < 1 || options.start_timeout_seconds < 1 ||
      options.stop_timeout_seconds < 1 || options.unprivileged_user.empty()) {
    return Status::InvalidArgument(fmt::format(
        "PostgresServerOptions: max_prepared_transactions ({}) must be >= 0, "
        "max_connections ({}), start_attempts_max ({}), start_timeout_seconds ({}) and "
        "stop_timeout_seconds ({}) >= 1, unprivileged_user non-empty",
        options.max_prepared_transactions, options.max_connections, options.start_attempts_max,
        options.start_timeout_seconds, options.stop_timeout_seconds));
  }
  return Status::Ok();
}

Status CheckSocketPathFits(const std::string& dir) {
  if (dir.size() + strlen(kLongestSocketName) > kSocketPathBytesMax) {
    return Status::InvalidArgument(fmt::format(
        "folder '{}' is too long for a unix socket path ({} bytes at most with the socket "
        "name); choose a shorter one",
        dir, kSocketPathBytesMax - strlen(kLongestSocketName)));
  }
  return Status::Ok();
}

// Creates the server folder: a fresh temporary one, or `requested` (created if missing, else it
// must be empty). Returns its absolute path.
Result<std::string> MakeServerDir(const std::string& requested) {
  if (requested.empty()) {
    const char* tmp = getenv("TMPDIR");
    std::string pattern =
        fmt::format("{}/pact-pg-XXXXXX", tmp != nullptr && *tmp != '\0' ? tmp : "/tmp");
    PACT_RETURN_IF_ERROR(CheckSocketPathFits(pattern));
    if (mkdtemp(pattern.data()) == nullptr) {
      return Status::IoError(fmt::format("creating a folder {}: {}", pattern, ErrnoText(errno)));
    }
    return pattern;
  }
  std::error_code ec;
  const std::string dir = fs::absolute(requested, ec).lexically_normal().string();
  if (ec) return Status::InvalidArgument(fmt::format("folder '{}': {}", requested, ec.message()));
  PACT_RETURN_IF_ERROR(CheckSocketPathFits(dir));
  fs::create_directories(dir, ec);
  if (ec) return Status::IoError(fmt::format("creating folder {}: {}", dir, ec.message()));
  if (!fs::is_empty(dir, ec) || ec) {
    return Status::InvalidArgument(fmt::format(
        "folder {} is not empty; a server needs a folder of its own (stop the one there first "
        "with `pact-test-postgres stop --dir {}`)",
        dir, dir));
  }
  return dir;
}

using PgConnPtr = std::unique_ptr<PGconn, decltype(&PQfinish)>;
using PgResultPtr = std::unique_ptr<PGresult, decltype(&PQclear)>;

Result<PgConnPtr> ConnectTo(const std::string& dsn) {
  PgConnPtr conn(PQconnectdb(dsn.c_str()), &PQfinish);
  if (conn == nullptr) return Status::Unavailable("libpq could not allocate a connection");
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    return Status::Unavailable(
        fmt::format("connecting to '{}': {}", dsn, PQerrorMessage(conn.get())));
  }
  return conn;
}

Result<std::vector<std::vector<std::string>>> RunSql(PGconn* conn, const std::string& sql) {
  PgResultPtr result(PQexec(conn, sql.c_str()), &PQclear);
  const ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    const char* sqlstate = result ? PQresultErrorField(result.get(), PG_DIAG_SQLSTATE) : nullptr;
    return Status::FailedPrecondition(
        fmt::format("'{}' failed (SQLSTATE {}): {}", sql, sqlstate != nullptr ? sqlstate : "none",
                    result ? PQresultErrorMessage(result.get()) : PQerrorMessage(conn)));
  }
  std::vector<std::vector<std::string>> rows(PQntuples(result.get()));
  for (int row = 0; row < PQntuples(result.get()); ++row) {
    for (int column = 0; column < PQnfields(result.get()); ++column) {
      rows[row].emplace_back(PQgetvalue(result.get(), row, column));
    }
  }
  return rows;
}

// The state file lets Attach() (another process) find the port and the server's user.
std::map<std::string, std::string> ParseStateFile(std::istream& in) {
  std::map<std::string, std::string> values;
  std::string line;
  while (std::getline(in, line)) {
    const size_t equals = line.find('=');
    if (equals != std::string::npos) values[line.substr(0, equals)] = line.substr(equals + 1);
  }
  return values;
}

// The postmaster's pid from the first line of postmaster.pid, if that process still runs and
// is a postgres process (the pid of a stale file may belong to someone else by now).
pid_t RunningPostmasterPid(const std::string& data_dir) {
  std::ifstream in(data_dir + "/postmaster.pid");
  pid_t pid = 0;
  if (!(in >> pid) || pid <= 0 || ProcessGone(pid)) return 0;
  std::ifstream comm(fmt::format("/proc/{}/comm", pid));
  std::string name;
  if (!(comm >> name) || name != "postgres") return 0;
  return pid;
}

}  // namespace

Result<std::string> FindPostgresBinDir() {
  if (const char* env = getenv(kBinDirEnvVar); env != nullptr && *env != '\0') {
    if (IsServerBinDir(env)) return std::string(env);
    return Status::NotFound(
        fmt::format("{}={} does not hold the PostgreSQL server programs initdb and postgres",
                    kBinDirEnvVar, env));
  }
  if (std::optional<fs::path> dir = HighestDebianBinDir()) return dir->string();
  if (std::optional<fs::path> dir = BinDirFromPath()) return dir->string();
  return Status::NotFound(fmt::format(
      "PostgreSQL server programs (initdb, postgres) not found in {}/<version>/bin nor through "
      "PATH; install the Debian package postgresql (scripts/setup does) or set {} to their "
      "folder",
      kDebianPostgresRoot, kBinDirEnvVar));
}

Result<int> PickFreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::IoError("socket: " + ErrnoText(errno));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    const int err = errno;
    close(fd);
    return Status::IoError("finding a free port on 127.0.0.1: " + ErrnoText(err));
  }
  close(fd);
  return static_cast<int>(ntohs(address.sin_port));
}

PostgresServer::PostgresServer(std::string dir, std::string bin_dir, PostgresServerOptions options,
                               RunAs run_as)
    : dir_(std::move(dir)),
      bin_dir_(std::move(bin_dir)),
      options_(std::move(options)),
      run_as_(std::move(run_as)) {}

Result<std::unique_ptr<PostgresServer>> PostgresServer::Start(PostgresServerOptions options) {
  PACT_RETURN_IF_ERROR(ValidateOptions(options));
  PACT_ASSIGN_OR_RETURN(std::string bin_dir, FindPostgresBinDir());
  RunAs run_as;
  if (geteuid() == 0) {
    Result<RunAs> user = RunAs::ForUser(options.unprivileged_user);
    if (!user.ok()) {
      return user.status().WithContext(
          fmt::format("running as root, and initdb refuses root, so the server would run as '{}'",
                      options.unprivileged_user));
    }
    run_as = std::move(user).value();
  }
  PACT_ASSIGN_OR_RETURN(std::string dir, MakeServerDir(options.dir));
  // From here on the destructor stops whatever runs and removes the folder on failure.
  std::unique_ptr<PostgresServer> server(
      new PostgresServer(std::move(dir), std::move(bin_dir), std::move(options), run_as));
  PACT_RETURN_IF_ERROR(server->InitDataDir());
  PACT_RETURN_IF_ERROR(server->StartOnFreePort());
  PACT_RETURN_IF_ERROR(server->WriteStateFile());
  return server;
}

Result<std::unique_ptr<PostgresServer>> PostgresServer::Attach(const std::string& dir) {
  std::error_code ec;
  const std::string absolute = fs::absolute(dir, ec).lexically_normal().string();
  std::ifstream in(absolute + "/" + kStateFileName);
  if (ec || !in) {
    return Status::NotFound(fmt::format("{} holds no server started by pact-test-postgres (no {})",
                                        dir, kStateFileName));
  }
  std::map<std::string, std::string> state = ParseStateFile(in);
  int port = 0;
  const std::string& port_text = state["port"];
  auto [end, parse_ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (parse_ec != std::errc() || port <= 0 || state["bin_dir"].empty()) {
    return Status::Corruption(fmt::format("{}/{}: no valid port and bin_dir", dir, kStateFileName));
  }
  RunAs run_as;
  if (!state["user"].empty()) {
    PACT_ASSIGN_OR_RETURN(run_as, RunAs::ForUser(state["user"]));
  }
  std::unique_ptr<PostgresServer> server(
      new PostgresServer(absolute, state["bin_dir"], PostgresServerOptions{}, run_as));
  server->port_ = port;
  server->postmaster_pid_ = RunningPostmasterPid(server->data_dir());
  server->postmaster_is_child_ = false;
  return server;
}

PostgresServer::~PostgresServer() {
  if (detached_) return;
  const Status status = Stop();
  if (!status.ok())
    PACT_LOG_WARN("stopping the PostgreSQL server in {}: {}", dir_, status.ToString());
}

std::string PostgresServer::data_dir() const { return dir_ + "/" + kDataDirName; }
std::string PostgresServer::log_path() const { return dir_ + "/" + kServerLogName; }

std::string PostgresServer::Dsn(std::string_view db) const {
  return fmt::format("host=127.0.0.1 port={} dbname={} user={}", port_, QuoteConninfoValue(db),
                     kUser);
}

Status PostgresServer::InitDataDir() {
  if (run_as_.switch_user) {
    if (chown(dir_.c_str(), run_as_.uid, run_as_.gid) != 0 || chmod(dir_.c_str(), 0700) != 0) {
      return Status::IoError(
          fmt::format("giving {} to user '{}': {}", dir_, run_as_.name, ErrnoText(errno)));
    }
    PACT_ASSIGN_OR_RETURN(bool usable, CanUseFolderAs(run_as_, dir_));
    if (!usable) {
      return Status::FailedPrecondition(fmt::format(
          "user '{}' (the server's user, since this process is root) cannot use {}: every "
          "folder above it must be enterable by that user (chmod o+x), as those under /tmp are",
          run_as_.name, dir_));
    }
  }
  SpawnOptions initdb;
  initdb.argv = {bin_dir_ + "/initdb",
                 "--pgdata=" + data_dir(),
                 fmt::format("--username={}", kUser),
                 "--auth=trust",
                 "--no-locale",
                 "--encoding=UTF8"};
  // initdb's own sync only guards the fresh cluster against losing the machine, which a
  // throwaway server never outlives; it costs seconds per server on a busy disk. The server's
  // fsync setting (below) is what guards its commits and prepared transactions.
  initdb.argv.push_back("--no-sync");
  initdb.env = EnvironmentForPostgres();
  initdb.run_as = run_as_;
  initdb.output_path = dir_ + "/" + kInitdbLogName;
  Result<int> code = RunToCompletion(initdb);
  if (!code.ok() || *code != 0) {
    return Status::IoError(
        fmt::format("initdb failed ({}); {}:\n{}",
                    code.ok() ? fmt::format("exit code {}", *code) : code.status().ToString(),
                    initdb.output_path, ReadTail(initdb.output_path, 0)));
  }

  // Settings go into postgresql.conf rather than the command line so that a restart by hand
  // (pg_ctl, postgres -D) gets them too. The port is the exception: it may change between
  // attempts, and the state file records it.
  const std::string conf_path = data_dir() + "/postgresql.conf";
  std::ofstream conf(conf_path, std::ios::app);
  conf << "\n# Added by Pact's PostgresServer (tests/integration/postgres_server.cc).\n"
       << "listen_addresses = '127.0.0.1'\n"
       << "unix_socket_directories = " << QuoteConfValue(dir_) << "\n"
       << "max_prepared_transactions = " << options_.max_prepared_transactions << "\n"
       << "max_connections = " << options_.max_connections << "\n"
       << "fsync = " << (options_.fsync ? "on" : "off") << "\n";
  conf.close();
  if (!conf) return Status::IoError(fmt::format("appending settings to {}", conf_path));
  return Status::Ok();
}

Status PostgresServer::WriteStateFile() const {
  const std::string path = dir_ + "/" + kStateFileName;
  std::ofstream out(path, std::ios::trunc);
  out << "port=" << port_ << "\n"
      << "user=" << run_as_.name << "\n"
      << "bin_dir=" << bin_dir_ << "\n";
  out.close();
  if (!out) return Status::IoError(fmt::format("writing {}", path));
  return Status::Ok();
}

Status PostgresServer::StartOnFreePort() {
  Status last;
  for (int attempt = 1; attempt <= options_.start_attempts_max; ++attempt) {
    PACT_ASSIGN_OR_RETURN(int port, PickFreePort());
    bool port_taken = false;
    last = StartPostmaster(port, &port_taken);
    if (last.ok() || !port_taken) return last;
    PACT_LOG_INFO("port {} was taken before PostgreSQL bound it; trying another", port);
  }
  return last.WithContext(fmt::format("{} free ports were all taken before the server bound them",
                                      options_.start_attempts_max));
}

Status PostgresServer::StartPostmaster(int port, bool* port_taken) {
  PACT_CHECK(postmaster_pid_ == 0, "starting a server that runs (pid {})", postmaster_pid_);
  *port_taken = false;
  const size_t log_offset = FileSize(log_path());
  SpawnOptions postgres;
  postgres.argv = {bin_dir_ + "/postgres", "-D", data_dir(), "-p", std::to_string(port)};
  postgres.env = EnvironmentForPostgres();
  postgres.run_as = run_as_;
  postgres.output_path = log_path();
  postgres.new_session = true;
  PACT_ASSIGN_OR_RETURN(pid_t pid, Spawn(postgres));
  postmaster_pid_ = pid;
  postmaster_is_child_ = true;
  port_ = port;

  // Readiness is checked through the socket in our own folder: a TCP ping could reach another
  // server that took the port, while our postmaster is about to exit for lack of it.
  const std::string ping_dsn =
      fmt::format("host={} port={} dbname=postgres user={} connect_timeout={}",
                  QuoteConninfoValue(dir_), port, kUser, kPingConnectTimeoutSeconds);
  Clock* clock = SystemClock::Default();
  const uint64_t deadline =
      clock->NowMicros() + static_cast<uint64_t>(options_.start_timeout_seconds) * kMicrosPerSecond;
  while (true) {
    Result<std::optional<int>> exited = PollChild(pid);
    if (!exited.ok() || exited->has_value()) {
      postmaster_pid_ = 0;
      const std::string tail = ReadTail(log_path(), log_offset);
      *port_taken = tail.find("could not bind") != std::string::npos ||
                    tail.find("Address already in use") != std::string::npos;
      return Status::IoError(fmt::format(
          "postgres exited while starting ({}); {}:\n{}",
          exited.ok() ? fmt::format("exit code {}", **exited) : exited.status().ToString(),
          log_path(), tail));
    }
    if (PQping(ping_dsn.c_str()) == PQPING_OK) return Status::Ok();
    if (clock->NowMicros() >= deadline) {
      const Status killed = Kill();
      return Status::IoError(fmt::format(
          "the server did not accept connections within {} s and was killed ({}); {}:\n{}",
          options_.start_timeout_seconds, killed.ToString(), log_path(),
          ReadTail(log_path(), log_offset)));
    }
    clock->SleepForMicros(kPollIntervalMicros);
  }
}

bool PostgresServer::WaitForPostmasterExit(uint64_t timeout_micros) {
  Clock* clock = SystemClock::Default();
  const uint64_t deadline = clock->NowMicros() + timeout_micros;
  while (true) {
    if (postmaster_is_child_) {
      // An error here (ended by a signal, or no longer our child) also means it is gone.
      Result<std::optional<int>> exited = PollChild(postmaster_pid_);
      if (!exited.ok() || exited->has_value()) return true;
    } else if (ProcessGone(postmaster_pid_)) {
      return true;
    }
    if (clock->NowMicros() >= deadline) return false;
    clock->SleepForMicros(kPollIntervalMicros);
  }
}

Status PostgresServer::StopPostmaster() {
  if (postmaster_pid_ == 0) return Status::Ok();
  // SIGINT is PostgreSQL's fast shutdown: sessions are rolled back, prepared transactions and
  // everything committed stay, and a checkpoint is written.
  if (kill(postmaster_pid_, SIGINT) != 0 && errno != ESRCH) {
    return Status::IoError(
        fmt::format("signalling postmaster {}: {}", postmaster_pid_, ErrnoText(errno)));
  }
  if (WaitForPostmasterExit(static_cast<uint64_t>(options_.stop_timeout_seconds) *
                            kMicrosPerSecond)) {
    postmaster_pid_ = 0;
    return Status::Ok();
  }
  const Status killed = Kill();
  return Status::IoError(
      fmt::format("the server in {} did not stop within {} s and was killed ({}); see {}", dir_,
                  options_.stop_timeout_seconds, killed.ToString(), log_path()));
}

Status PostgresServer::Stop() {
  Status status = StopPostmaster();
  if (!removed_) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
    if (ec && status.ok()) {
      status = Status::IoError(fmt::format("removing {}: {}", dir_, ec.message()));
    }
    removed_ = true;
  }
  return status;
}

Status PostgresServer::Kill() {
  if (postmaster_pid_ == 0) {
    return Status::FailedPrecondition(fmt::format("the server in {} is not running", dir_));
  }
  const pid_t pid = postmaster_pid_;
  Clock* clock = SystemClock::Default();
  // Freeze the postmaster first: stopped, it cannot fork a backend between our listing its
  // children and killing them. Its children each run in a session of their own, so one signal
  // to a process group would not reach them.
  kill(pid, SIGSTOP);
  const uint64_t deadline = clock->NowMicros() + kKillTimeoutMicros;
  while (!ProcessStopped(pid) && !ProcessGone(pid) && clock->NowMicros() < deadline) {
    clock->SleepForMicros(1'000);
  }
  const std::vector<pid_t> children = ChildrenOf(pid);
  for (pid_t child : children) kill(child, SIGKILL);
  kill(pid, SIGKILL);
  const bool postmaster_gone = WaitForPostmasterExit(kKillTimeoutMicros);
  // The children are re-parented when the postmaster dies; a new postmaster refuses to start
  // while any of them still holds the shared memory, so wait until each is at least a zombie.
  bool children_gone = true;
  for (pid_t child : children) {
    while (!ProcessGone(child) && clock->NowMicros() < deadline) clock->SleepForMicros(1'000);
    children_gone = children_gone && ProcessGone(child);
  }
  postmaster_pid_ = 0;
  if (!postmaster_gone || !children_gone) {
    return Status::IoError(fmt::format("processes of the server in {} survived SIGKILL for {} s",
                                       dir_, kKillTimeoutMicros / kMicrosPerSecond));
  }
  return Status::Ok();
}

Status PostgresServer::Restart() {
  if (removed_) {
    return Status::FailedPrecondition(
        fmt::format("the server in {} was stopped and removed", dir_));
  }
  PACT_RETURN_IF_ERROR(StopPostmaster());
  bool port_taken = false;
  const Status status = StartPostmaster(port_, &port_taken);
  if (!status.ok() && port_taken) {
    return Status::Unavailable(
        fmt::format("port {} was taken by another process while the server was down: {}", port_,
                    status.message()));
  }
  return status;
}

Status PostgresServer::CreateDatabase(std::string_view name) {
  if (name.empty()) return Status::InvalidArgument("a database needs a name");
  PACT_ASSIGN_OR_RETURN(PgConnPtr conn, ConnectTo(Dsn("postgres")));
  char* identifier = PQescapeIdentifier(conn.get(), name.data(), name.size());
  if (identifier == nullptr) {
    return Status::InvalidArgument(
        fmt::format("database name '{}': {}", name, PQerrorMessage(conn.get())));
  }
  const std::string sql = fmt::format("CREATE DATABASE {}", identifier);
  PQfreemem(identifier);
  return RunSql(conn.get(), sql).status();
}

Result<std::vector<std::vector<std::string>>> PostgresServer::Query(std::string_view db,
                                                                    std::string_view sql) {
  PACT_ASSIGN_OR_RETURN(PgConnPtr conn, ConnectTo(Dsn(db)));
  return RunSql(conn.get(), std::string(sql));
}

}  // namespace pact::integration
