// pact-bench: end-to-end benchmarks of Pact against baselines measured in the same run
// (DESIGN §6).
//
// `pact-bench transfer`: money transfers between accounts in two PostgreSQL databases (one
// server, fsync on). First through Pact - a pact-coordinator and two pact-agents as real
// processes, driven by the SDK client (Begin, execute_sql on each agent, Commit); then, after
// Pact's phase 2 has settled and its processes are stopped, the same transfers driven by hand
// over libpq, the textbook two-phase commit without a coordinator or a decision log: BEGIN and
// UPDATE on both databases, PREPARE TRANSACTION on both, COMMIT PREPARED on both. Each of
// --clients threads runs one transfer after another; --warmup-seconds are run but not counted.
// A transfer counts when it ends within the measured --seconds: committed ones give txn/s and
// the p50/p99 latency (first statement to the commit answer), the others are counted as aborted
// (or unknown, for a Pact commit whose outcome the client was not told).
//
// At the end the bench checks that money was conserved and that pg_prepared_xacts is empty,
// and exits 1 if not. The last line is `pact_vs_manual_2pc=X`: Pact's txn/s over the hand-driven
// txn/s.
#include <fmt/format.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/check.h"
#include "pact/client.h"
#include "pact/rpc/Agent.h"
#include "participant/sdk/rpc_convert.h"
#include "tests/integration/pact_cluster.h"
#include "thrift/rpc_client.h"

namespace pact::bench {
namespace {

using Clock = std::chrono::steady_clock;
using integration::PactCluster;

constexpr const char* kDatabaseA = "bank_a";
constexpr const char* kDatabaseB = "bank_b";
constexpr const char* kUpdateSql = "UPDATE accounts SET balance = balance + $1 WHERE id = $2";
constexpr int kSettleTimeoutSeconds = 60;

struct TransferFlags {
  int clients = 32;
  double seconds = 10;
  double warmup_seconds = 2;
  int accounts = 1000;
  int64_t initial_balance = 1'000'000;
  int amount_max = 100;
  std::vector<std::string> coordinator_flags;
  std::vector<std::string> agent_flags;
  bool pact_only = false;  // for profiling: skip the baseline and the ratio
  int txid_lease = 32;     // ClientOptions::txid_lease of the Pact run's client
};

// One transfer: `amount` leaves the account in one database and arrives in the other.
struct Transfer {
  int account_a = 0;
  int account_b = 0;
  int64_t delta_a = 0;  // added to the account in bank_a; bank_b gets -delta_a
};

Transfer RandomTransfer(std::mt19937_64& random, const TransferFlags& flags) {
  std::uniform_int_distribution<int> account(1, flags.accounts);
  std::uniform_int_distribution<int64_t> amount(1, flags.amount_max);
  Transfer t;
  t.account_a = account(random);
  t.account_b = account(random);
  t.delta_a = (random() & 1) ? amount(random) : -amount(random);
  return t;
}

enum class Result2pc { kCommitted, kAborted, kUnknown };

// What one client thread saw while the clock was running.
struct ThreadTally {
  std::vector<double> latencies_ms;  // committed transfers
  uint64_t aborted = 0;
  uint64_t unknown = 0;
  std::string first_error;
};

struct RunResult {
  std::string name;
  double seconds = 0;
  uint64_t committed = 0;
  uint64_t aborted = 0;
  uint64_t unknown = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  int64_t pg_sessions = 0;  // PostgreSQL sessions (connections) opened during the whole run
  std::string cpu;          // CPU ms per committed transfer, by program
  std::string first_error;

  double txn_per_second() const { return seconds > 0 ? committed / seconds : 0; }
};

// CPU time used by the processes of the run, by program name, from /proc (diagnostics: where a
// transfer's CPU goes). A PostgreSQL backend that exited is counted through its postmaster's
// cutime/cstime; one that exits during the interval counts its whole life there.
using CpuTicks = std::map<std::string, uint64_t>;

CpuTicks SampleCpu(pid_t postmaster) {
  CpuTicks ticks;
  const pid_t self = ::getpid();
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string pid = entry.path().filename().string();
    if (pid.empty() || !std::isdigit(static_cast<unsigned char>(pid[0]))) continue;
    std::ifstream in(entry.path() / "stat");
    std::string line;
    if (!std::getline(in, line)) continue;
    const size_t open = line.find('('), close = line.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    const std::string comm = line.substr(open + 1, close - open - 1);
    std::istringstream fields(line.substr(close + 2));
    std::string field;
    uint64_t total = 0;
    pid_t parent = 0;
    // Fields 3.. of proc(5): ppid is 4, utime 14, stime 15, cutime 16, cstime 17.
    for (int index = 3; index <= 17 && fields >> field; ++index) {
      if (index == 4) parent = static_cast<pid_t>(std::atoi(field.c_str()));
      if (index >= 14) total += std::strtoull(field.c_str(), nullptr, 10);
    }
    // Only this run's processes: the machine may run other PostgreSQL servers and Pacts.
    const pid_t id = static_cast<pid_t>(std::atoi(pid.c_str()));
    const bool ours = id == self || parent == self || id == postmaster || parent == postmaster;
    if (!ours) continue;
    ticks[comm.starts_with("pact-coordinat") ? "pact-coordinator" : comm] += total;
  }
  // Machine-wide busy and total ticks, from the first line of /proc/stat.
  std::ifstream stat("/proc/stat");
  std::string cpu;
  stat >> cpu;
  uint64_t value = 0, all = 0, idle = 0;
  for (int index = 0; index < 8 && stat >> value; ++index) {
    all += value;
    if (index == 3 || index == 4) idle += value;  // idle, iowait
  }
  ticks["#all"] = all;
  ticks["#busy"] = all - idle;
  return ticks;
}

// "postgres=1.10 pact-agent=0.52 ... machine_busy=97%": CPU ms per committed transfer.
std::string CpuReport(const CpuTicks& before, const CpuTicks& after, uint64_t committed) {
  const double ms_per_tick = 1000.0 / static_cast<double>(::sysconf(_SC_CLK_TCK));
  std::string report;
  for (const auto& [name, ticks] : after) {
    if (name.starts_with("#")) continue;
    auto it = before.find(name);
    const uint64_t used = ticks - (it != before.end() ? std::min(it->second, ticks) : 0);
    report += fmt::format("{}={:.2f} ", name, committed > 0 ? used * ms_per_tick / committed : 0.0);
  }
  const double all = static_cast<double>(after.at("#all") - before.at("#all"));
  const double busy = static_cast<double>(after.at("#busy") - before.at("#busy"));
  report += fmt::format("machine_busy={:.0f}%", all > 0 ? 100 * busy / all : 0.0);
  return report;
}

double Percentile(std::vector<double>& sorted_values, double fraction) {
  if (sorted_values.empty()) return 0;
  const size_t index =
      std::min(sorted_values.size() - 1, static_cast<size_t>(fraction * sorted_values.size()));
  return sorted_values[index];
}

// A client thread's work: `setup(thread)` once, before the clock starts (connections), then
// `transfer(thread, random, error)` again and again.
struct Workload {
  std::function<Status(int thread)> setup;
  std::function<Result2pc(int thread, std::mt19937_64& random, std::string* error)> transfer;
};

// Runs `workload` on `flags.clients` threads: warm-up first, then the measured interval.
Result<RunResult> Measure(const std::string& name, const TransferFlags& flags, uint64_t seed,
                          pid_t postmaster, const Workload& workload) {
  for (int thread = 0; thread < flags.clients; ++thread) {
    PACT_RETURN_IF_ERROR(workload.setup(thread).WithContext(fmt::format("{} setup", name)));
  }
  const Clock::time_point start = Clock::now();
  const Clock::time_point measure_from =
      start + std::chrono::duration_cast<Clock::duration>(
                  std::chrono::duration<double>(flags.warmup_seconds));
  const Clock::time_point measure_until =
      measure_from +
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(flags.seconds));
  std::vector<ThreadTally> tallies(flags.clients);
  std::vector<std::thread> threads;
  for (int thread = 0; thread < flags.clients; ++thread) {
    threads.emplace_back([&, thread] {
      std::mt19937_64 random(seed * 1000 + thread);
      ThreadTally& tally = tallies[thread];
      while (true) {
        const Clock::time_point began = Clock::now();
        if (began >= measure_until) break;
        std::string error;
        const Result2pc result = workload.transfer(thread, random, &error);
        const Clock::time_point ended = Clock::now();
        if (ended < measure_from || ended >= measure_until) continue;
        switch (result) {
          case Result2pc::kCommitted:
            tally.latencies_ms.push_back(
                std::chrono::duration<double, std::milli>(ended - began).count());
            break;
          case Result2pc::kAborted:
            ++tally.aborted;
            break;
          case Result2pc::kUnknown:
            ++tally.unknown;
            break;
        }
        if (!error.empty() && tally.first_error.empty()) tally.first_error = error;
      }
    });
  }
  std::this_thread::sleep_until(measure_from);
  const CpuTicks cpu_before = SampleCpu(postmaster);
  std::this_thread::sleep_until(measure_until);
  const CpuTicks cpu_after = SampleCpu(postmaster);
  for (std::thread& thread : threads) thread.join();

  RunResult run;
  run.name = name;
  run.seconds = flags.seconds;
  std::vector<double> latencies;
  for (ThreadTally& tally : tallies) {
    latencies.insert(latencies.end(), tally.latencies_ms.begin(), tally.latencies_ms.end());
    run.aborted += tally.aborted;
    run.unknown += tally.unknown;
    if (run.first_error.empty()) run.first_error = tally.first_error;
  }
  std::sort(latencies.begin(), latencies.end());
  run.committed = latencies.size();
  run.p50_ms = Percentile(latencies, 0.50);
  run.p99_ms = Percentile(latencies, 0.99);
  run.cpu = CpuReport(cpu_before, cpu_after, run.committed);
  return run;
}

void Print(const RunResult& run) {
  std::printf("%s: txn/s=%.1f p50_ms=%.2f p99_ms=%.2f committed=%llu aborted=%llu unknown=%llu\n",
              run.name.c_str(), run.txn_per_second(), run.p50_ms, run.p99_ms,
              static_cast<unsigned long long>(run.committed),
              static_cast<unsigned long long>(run.aborted),
              static_cast<unsigned long long>(run.unknown));
  std::printf("%s: pg_sessions_opened=%lld cpu_ms_per_txn: %s\n", run.name.c_str(),
              static_cast<long long>(run.pg_sessions), run.cpu.c_str());
  if (!run.first_error.empty()) {
    std::printf("%s: first error: %s\n", run.name.c_str(), run.first_error.c_str());
  }
  std::fflush(stdout);
}

// ---------------------------------------------------------------------------------------------
// Through Pact: the SDK client begins and commits, the agents run the UPDATEs.

class PactWorkload {
 public:
  static Result<std::unique_ptr<PactWorkload>> Create(PactCluster& cluster,
                                                      const TransferFlags& flags) {
    ClientOptions options;
    options.coordinators = {cluster.coordinator_address()};
    options.client_name = "pact-bench";
    options.txid_lease = flags.txid_lease;
    PACT_ASSIGN_OR_RETURN(std::unique_ptr<Client> client, Client::Create(options));
    std::unique_ptr<PactWorkload> workload(new PactWorkload(flags, std::move(client)));
    rpc::ClientOptions agent_options;
    // One connection per client thread and agent, kept for the whole run.
    agent_options.idle_connections_max = static_cast<size_t>(flags.clients);
    for (const char* agent : {"agent-a", "agent-b"}) {
      PACT_ASSIGN_OR_RETURN(rpc::Endpoint endpoint, rpc::Endpoint::Parse(cluster.address(agent)));
      workload->agents_.push_back(std::make_unique<rpc::ClientPool<rpc::AgentClient>>(
          std::move(endpoint), "Agent", agent_options));
    }
    return workload;
  }

  Result2pc Transfer(int thread, std::mt19937_64& random, std::string* error) {
    const bench::Transfer t = RandomTransfer(random, flags_);
    StepTimer timer(&steps_[thread]);
    Result<Transaction> txn = client_->Begin();
    timer.Lap(kBegin);
    if (!txn.ok()) {
      *error = "begin: " + txn.status().ToString();
      return Result2pc::kAborted;
    }
    Status worked = Update(0, txn->id(), t.delta_a, t.account_a);
    timer.Lap(kSqlA);
    if (worked.ok()) worked = Update(1, txn->id(), -t.delta_a, t.account_b);
    timer.Lap(kSqlB);
    if (!worked.ok()) {
      *error = worked.ToString();
      Outcome aborted = txn->Abort();
      return aborted.committed() ? Result2pc::kCommitted : Result2pc::kAborted;
    }
    Outcome outcome = txn->Commit();
    timer.Lap(kCommit);
    switch (outcome.kind) {
      case OutcomeKind::kCommitted:
        return Result2pc::kCommitted;
      case OutcomeKind::kAborted:
        *error = "commit: ABORTED: " + outcome.reason;
        return Result2pc::kAborted;
      case OutcomeKind::kUnknown:
        *error = "commit: UNKNOWN: " + outcome.reason;
        return Result2pc::kUnknown;
    }
    return Result2pc::kUnknown;
  }

  // "begin=0.41 sql_a=3.20 ...": the median time of each step of a transfer, in ms, over the
  // whole run (warm-up included), to show where a transfer's latency goes.
  std::string StepMedians() {
    std::string out;
    for (int step = 0; step < kSteps; ++step) {
      std::vector<double> all;
      for (const auto& thread : steps_) {
        all.insert(all.end(), thread.ms[step].begin(), thread.ms[step].end());
      }
      std::sort(all.begin(), all.end());
      out +=
          fmt::format("{}{}={:.2f}", step == 0 ? "" : " ", kStepNames[step], Percentile(all, 0.5));
    }
    return out;
  }

 private:
  enum Step { kBegin, kSqlA, kSqlB, kCommit, kSteps };
  static constexpr const char* kStepNames[kSteps] = {"begin", "sql_a", "sql_b", "commit"};
  struct StepTimes {
    std::vector<double> ms[kSteps];
  };
  class StepTimer {
   public:
    explicit StepTimer(StepTimes* times) : times_(times), last_(Clock::now()) {}
    void Lap(Step step) {
      const Clock::time_point now = Clock::now();
      times_->ms[step].push_back(std::chrono::duration<double, std::milli>(now - last_).count());
      last_ = now;
    }

   private:
    StepTimes* const times_;
    Clock::time_point last_;
  };

  PactWorkload(const TransferFlags& flags, std::unique_ptr<Client> client)
      : flags_(flags), client_(std::move(client)), steps_(flags.clients) {}

  Status Update(size_t agent, const TxnId& txid, int64_t delta, int account) {
    rpc::SqlRequest request;
    request.txid = sdk::ToRpc(txid);
    request.sql = kUpdateSql;
    request.params.resize(2);
    request.params[0].__set_value(std::to_string(delta));
    request.params[1].__set_value(std::to_string(account));
    rpc::SqlReply reply;
    PACT_RETURN_IF_ERROR(agents_[agent]->Call(
        [&](rpc::AgentClient& client) { client.execute_sql(reply, request); }));
    if (reply.affected_rows != 1) {
      return Status::Corruption(
          fmt::format("UPDATE of account {} touched {} rows", account, reply.affected_rows));
    }
    return Status::Ok();
  }

  const TransferFlags flags_;
  std::unique_ptr<Client> client_;
  std::vector<std::unique_ptr<rpc::ClientPool<rpc::AgentClient>>> agents_;
  std::vector<StepTimes> steps_;  // [thread]
};

// ---------------------------------------------------------------------------------------------
// By hand: one libpq connection per client thread and database, no coordinator, no log.

class PgConn {
 public:
  static Result<std::unique_ptr<PgConn>> Connect(const std::string& dsn) {
    PGconn* conn = PQconnectdb(dsn.c_str());
    if (PQstatus(conn) != CONNECTION_OK) {
      Status error = Status::Unavailable(fmt::format("connect: {}", PQerrorMessage(conn)));
      PQfinish(conn);
      return error;
    }
    return std::unique_ptr<PgConn>(new PgConn(conn));
  }
  ~PgConn() { PQfinish(conn_); }

  // Runs one statement with text parameters; the server's error on failure.
  Status Exec(const std::string& sql, const std::vector<std::string>& params = {},
              int64_t* affected = nullptr) {
    std::vector<const char*> values;
    for (const std::string& param : params) values.push_back(param.c_str());
    PGresult* result = PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                                    values.data(), nullptr, nullptr, 0);
    const ExecStatusType status = result != nullptr ? PQresultStatus(result) : PGRES_FATAL_ERROR;
    Status out;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      out = Status::Aborted(fmt::format("{}: {}", sql, PQerrorMessage(conn_)));
    } else if (affected != nullptr) {
      *affected = std::atoll(PQcmdTuples(result));
    }
    PQclear(result);
    return out;
  }

 private:
  explicit PgConn(PGconn* conn) : conn_(conn) {}
  PGconn* const conn_;
};

class ManualWorkload {
 public:
  ManualWorkload(const TransferFlags& flags, std::string dsn_a, std::string dsn_b)
      : flags_(flags),
        dsns_{std::move(dsn_a), std::move(dsn_b)},
        connections_(flags.clients),
        sequences_(flags.clients) {}

  Status Setup(int thread) {
    for (const std::string& dsn : dsns_) {
      PACT_ASSIGN_OR_RETURN(std::unique_ptr<PgConn> conn, PgConn::Connect(dsn));
      connections_[thread].push_back(std::move(conn));
    }
    return Status::Ok();
  }

  Result2pc Transfer(int thread, std::mt19937_64& random, std::string* error) {
    const bench::Transfer t = RandomTransfer(random, flags_);
    PgConn& a = *connections_[thread][0];
    PgConn& b = *connections_[thread][1];
    const uint64_t sequence = ++sequences_[thread].value;
    const std::string gid_a = fmt::format("bench:{}:{}:a", thread, sequence);
    const std::string gid_b = fmt::format("bench:{}:{}:b", thread, sequence);

    Status s = Work(a, t.delta_a, t.account_a);
    if (s.ok()) s = Work(b, -t.delta_a, t.account_b);
    if (!s.ok()) {
      *error = s.ToString();
      (void)a.Exec("ROLLBACK");
      (void)b.Exec("ROLLBACK");
      return Result2pc::kAborted;
    }
    // Phase 1: a failed PREPARE TRANSACTION rolls its transaction back itself.
    if (Status prepared = a.Exec(fmt::format("PREPARE TRANSACTION '{}'", gid_a)); !prepared.ok()) {
      *error = prepared.ToString();
      (void)b.Exec("ROLLBACK");
      return Result2pc::kAborted;
    }
    if (Status prepared = b.Exec(fmt::format("PREPARE TRANSACTION '{}'", gid_b)); !prepared.ok()) {
      *error = prepared.ToString();
      (void)a.Exec(fmt::format("ROLLBACK PREPARED '{}'", gid_a));
      return Result2pc::kAborted;
    }
    // Phase 2: both voted yes; the decision lives only in this thread's memory.
    Status committed = a.Exec(fmt::format("COMMIT PREPARED '{}'", gid_a));
    if (committed.ok()) committed = b.Exec(fmt::format("COMMIT PREPARED '{}'", gid_b));
    if (!committed.ok()) {
      *error = committed.ToString();
      return Result2pc::kUnknown;
    }
    return Result2pc::kCommitted;
  }

 private:
  struct alignas(64) Sequence {  // one cache line per thread
    uint64_t value = 0;
  };

  Status Work(PgConn& conn, int64_t delta, int account) {
    PACT_RETURN_IF_ERROR(conn.Exec("BEGIN"));
    int64_t affected = 0;
    PACT_RETURN_IF_ERROR(
        conn.Exec(kUpdateSql, {std::to_string(delta), std::to_string(account)}, &affected));
    if (affected != 1) {
      return Status::Corruption(
          fmt::format("UPDATE of account {} touched {} rows", account, affected));
    }
    return Status::Ok();
  }

  const TransferFlags flags_;
  const std::string dsns_[2];
  std::vector<std::vector<std::unique_ptr<PgConn>>> connections_;  // [thread][database]
  std::vector<Sequence> sequences_;                                // [thread]
};

// ---------------------------------------------------------------------------------------------

Result<int64_t> QueryInt(PactCluster& cluster, const char* db, const std::string& sql) {
  PACT_ASSIGN_OR_RETURN(auto rows, cluster.postgres().Query(db, sql));
  if (rows.size() != 1 || rows[0].size() != 1) {
    return Status::Corruption(fmt::format("'{}' gave {} rows", sql, rows.size()));
  }
  return std::stoll(rows[0][0].empty() ? "0" : rows[0][0]);
}

// pg_prepared_xacts covers every database of the server.
Result<int64_t> PreparedXacts(PactCluster& cluster) {
  return QueryInt(cluster, kDatabaseA, "SELECT count(*) FROM pg_prepared_xacts");
}

// Sessions opened in both databases so far (a connection pool that churns shows here).
Result<int64_t> PgSessions(PactCluster& cluster) {
  return QueryInt(cluster, kDatabaseA,
                  fmt::format("SELECT sum(sessions) FROM pg_stat_database WHERE datname IN "
                              "('{}', '{}')",
                              kDatabaseA, kDatabaseB));
}

// Waits until no transaction is left prepared (Pact's phase 2 runs after the client is told).
Status WaitForNoPrepared(PactCluster& cluster) {
  const Clock::time_point deadline = Clock::now() + std::chrono::seconds(kSettleTimeoutSeconds);
  while (true) {
    PACT_ASSIGN_OR_RETURN(int64_t prepared, PreparedXacts(cluster));
    if (prepared == 0) return Status::Ok();
    if (Clock::now() >= deadline) {
      return Status::Unavailable(fmt::format("{} transactions still prepared after {} s", prepared,
                                             kSettleTimeoutSeconds));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

Status CreateAccounts(PactCluster& cluster, const TransferFlags& flags) {
  for (const char* db : {kDatabaseA, kDatabaseB}) {
    PACT_RETURN_IF_ERROR(
        cluster.postgres()
            .Query(db,
                   fmt::format("CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT "
                               "NULL CHECK (balance >= 0)); "
                               "INSERT INTO accounts SELECT g, {} FROM generate_series(1, {}) g",
                               flags.initial_balance, flags.accounts))
            .status());
    // Its own statement: VACUUM cannot run in the implicit transaction of a multi-statement query.
    PACT_RETURN_IF_ERROR(cluster.postgres().Query(db, "VACUUM ANALYZE accounts").status());
  }
  return Status::Ok();
}

// Money is conserved and nothing is left prepared; prints what it found.
bool CheckInvariants(PactCluster& cluster, const TransferFlags& flags) {
  const int64_t expected = 2 * static_cast<int64_t>(flags.accounts) * flags.initial_balance;
  Result<int64_t> prepared = PreparedXacts(cluster);
  Result<int64_t> total_a = QueryInt(cluster, kDatabaseA, "SELECT sum(balance) FROM accounts");
  Result<int64_t> total_b = QueryInt(cluster, kDatabaseB, "SELECT sum(balance) FROM accounts");
  for (const Status& s : {prepared.status(), total_a.status(), total_b.status()}) {
    if (!s.ok()) {
      std::printf("check: FAILED: %s\n", s.ToString().c_str());
      return false;
    }
  }
  const int64_t total = *total_a + *total_b;
  std::printf("check: money_conserved=%s total=%lld expected=%lld pg_prepared_xacts=%lld\n",
              total == expected ? "yes" : "NO", static_cast<long long>(total),
              static_cast<long long>(expected), static_cast<long long>(*prepared));
  std::fflush(stdout);
  return total == expected && *prepared == 0;
}

int RunTransfer(const TransferFlags& flags) {
  auto fail = [](const std::string& what, const Status& status) {
    std::fprintf(stderr, "pact-bench transfer: %s: %s\n", what.c_str(), status.ToString().c_str());
    return 2;
  };
  integration::ClusterOptions options;
  options.databases = {kDatabaseA, kDatabaseB};
  options.cluster_name = "bench";
  options.coordinator_flags = flags.coordinator_flags;
  options.agent_flags = flags.agent_flags;
  options.postgres.fsync = true;
  // Pact answers before phase 2, so more branches than clients may sit prepared at once.
  options.postgres.max_prepared_transactions = 8 * flags.clients + 64;
  options.postgres.max_connections = 4 * flags.clients + 100;
  auto cluster = PactCluster::Start(options);
  if (!cluster.ok()) return fail("starting PostgreSQL", cluster.status());
  PactCluster& c = **cluster;
  if (Status s = CreateAccounts(c, flags); !s.ok()) return fail("creating accounts", s);
  std::printf(
      "transfer: clients=%d seconds=%.1f warmup_seconds=%.1f accounts=%d per database, "
      "postgres fsync=on, pg dir=%s\n",
      flags.clients, flags.seconds, flags.warmup_seconds, flags.accounts, c.dir().c_str());
  std::fflush(stdout);

  // Through Pact.
  Status started = c.StartCoordinator();
  if (started.ok()) started = c.StartAgent("agent-a", kDatabaseA);
  if (started.ok()) started = c.StartAgent("agent-b", kDatabaseB);
  if (!started.ok()) return fail("starting Pact", started);
  Result<int64_t> sessions_before = PgSessions(c);
  if (!sessions_before.ok()) return fail("reading pg_stat_database", sessions_before.status());
  auto pact = PactWorkload::Create(c, flags);
  if (!pact.ok()) return fail("connecting to Pact", pact.status());
  Result<RunResult> pact_run =
      Measure("pact", flags, 1, c.postgres().postmaster_pid(),
              Workload{[](int) { return Status::Ok(); },
                       [&](int thread, std::mt19937_64& random, std::string* error) {
                         return (*pact)->Transfer(thread, random, error);
                       }});
  if (!pact_run.ok()) return fail("pact run", pact_run.status());
  Result<int64_t> sessions_after = PgSessions(c);
  if (!sessions_after.ok()) return fail("reading pg_stat_database", sessions_after.status());
  pact_run->pg_sessions = *sessions_after - *sessions_before;
  Print(*pact_run);
  std::printf("pact: step_p50_ms %s\n", (*pact)->StepMedians().c_str());
  if (Status s = WaitForNoPrepared(c); !s.ok()) return fail("waiting for Pact's phase 2", s);
  pact->reset();
  // The baseline runs on a machine without Pact's processes.
  for (const char* name : {"agent-a", "agent-b", "coordinator"}) {
    if (Status s = c.Stop(name); !s.ok()) return fail(fmt::format("stopping {}", name), s);
  }

  if (flags.pact_only) return CheckInvariants(c, flags) ? 0 : 1;

  // By hand.
  ManualWorkload manual(flags, c.postgres().Dsn(kDatabaseA), c.postgres().Dsn(kDatabaseB));
  Result<RunResult> manual_run =
      Measure("manual_2pc", flags, 2, c.postgres().postmaster_pid(),
              Workload{[&](int thread) { return manual.Setup(thread); },
                       [&](int thread, std::mt19937_64& random, std::string* error) {
                         return manual.Transfer(thread, random, error);
                       }});
  if (!manual_run.ok()) return fail("manual run", manual_run.status());
  Result<int64_t> sessions_end = PgSessions(c);
  if (!sessions_end.ok()) return fail("reading pg_stat_database", sessions_end.status());
  manual_run->pg_sessions = *sessions_end - *sessions_after;
  Print(*manual_run);

  const bool invariants_hold = CheckInvariants(c, flags);
  const double ratio = manual_run->txn_per_second() > 0
                           ? pact_run->txn_per_second() / manual_run->txn_per_second()
                           : 0;
  std::printf("pact_vs_manual_2pc=%.2f\n", ratio);
  std::fflush(stdout);
  return invariants_hold ? 0 : 1;
}

}  // namespace
}  // namespace pact::bench

int main(int argc, char** argv) {
  CLI::App app{"pact-bench: end-to-end benchmarks of Pact against baselines in the same run"};
  app.require_subcommand(1);
  pact::bench::TransferFlags transfer;
  CLI::App* sub = app.add_subcommand(
      "transfer", "transfers between two PostgreSQL databases: Pact vs hand-driven 2PC");
  sub->add_option("--clients", transfer.clients, "client threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  sub->add_option("--seconds", transfer.seconds, "measured seconds per run")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub->add_option("--warmup-seconds", transfer.warmup_seconds, "unmeasured seconds first")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--accounts", transfer.accounts, "accounts per database")
      ->capture_default_str()
      ->check(CLI::Range(1, 10'000'000));
  sub->add_option("--txid-lease", transfer.txid_lease,
                  "txids the Pact client leases at a time (0: one begin_transaction each)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  sub->add_option("--coordinator-flag", transfer.coordinator_flags,
                  "extra pact-coordinator flag (repeatable), e.g. --coordinator-flag=--tick-ms=5");
  sub->add_option("--agent-flag", transfer.agent_flags,
                  "extra pact-agent flag (repeatable), e.g. --agent-flag=--store-threads=16");
  sub->add_flag("--pact-only", transfer.pact_only,
                "run only Pact (for profiling); no baseline, no ratio");
  CLI11_PARSE(app, argc, argv);
  return pact::bench::RunTransfer(transfer);
}
