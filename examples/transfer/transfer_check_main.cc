// pact-transfer-check: the invariants of the transfer demo (docs/demo.md), checked with queries
// against both banks' databases.
//
//   pact-transfer-check total --dsn-a DSN --dsn-b DSN
//       prints the total balance of both banks (before the transfers)
//   pact-transfer-check verify --dsn-a DSN --dsn-b DSN --outcomes F --total-before T
//       waits until neither database holds a prepared transaction (or a deadline), then checks:
//         - the total balance is unchanged and no balance is negative;
//         - every balance is its initial value plus its ledger rows;
//         - every txid's ledger row is in both databases or in neither, and the two rows cancel;
//         - every transfer the driver was told COMMITTED is in both ledgers, every one it was
//           told ABORTED in neither, and no ledger row belongs to a txid the driver never began;
//         - no prepared transaction is left;
//       prints a summary ending with the "demo: ..." line, and exits 1 if any check failed.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "examples/transfer/outcome_file.h"
#include "participant/postgres/pg_connection.h"

namespace pact::examples {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int64_t kReportedMax = 20;  // transfers named one by one when checks fail

struct Flags {
  std::string dsn_a;
  std::string dsn_b;
  std::string outcomes;
  int64_t total_before = -1;
  int prepared_wait_ms = 60000;
};

// One bank's database, read with plain queries outside any global transaction.
class BankDb {
 public:
  static Result<BankDb> Connect(std::string name, const std::string& dsn) {
    PACT_ASSIGN_OR_RETURN(std::unique_ptr<PgConnection> conn, PgConnection::Connect(dsn, {}));
    return BankDb(std::move(name), std::move(conn));
  }

  const std::string& name() const { return name_; }

  Result<int64_t> Number(std::string_view sql) {
    PACT_ASSIGN_OR_RETURN(SqlResult result, conn_->Exec(sql));
    if (result.rows.size() != 1 || result.rows[0].size() != 1 || !result.rows[0][0]) {
      return Status::Corruption(fmt::format("{}: '{}' did not return one number", name_, sql));
    }
    return std::stoll(*result.rows[0][0]);
  }

  Result<int64_t> Total() { return Number("SELECT coalesce(sum(balance), 0) FROM accounts"); }

  // Every transaction prepared in this database, Pact's or anyone's.
  Result<int64_t> Prepared() {
    return Number("SELECT count(*) FROM pg_prepared_xacts WHERE database = current_database()");
  }

  // txid -> amount of its ledger row.
  Result<std::map<std::string, int64_t>> Ledger() {
    PACT_ASSIGN_OR_RETURN(SqlResult result, conn_->Exec("SELECT txid, amount FROM ledger"));
    std::map<std::string, int64_t> ledger;
    for (const auto& row : result.rows) ledger.emplace(*row[0], std::stoll(*row[1]));
    return ledger;
  }

 private:
  BankDb(std::string name, std::unique_ptr<PgConnection> conn)
      : name_(std::move(name)), conn_(std::move(conn)) {}

  std::string name_;
  std::unique_ptr<PgConnection> conn_;
};

int Fail(const Status& status) {
  std::fprintf(stderr, "pact-transfer-check: %s\n", status.ToString().c_str());
  return 2;
}

int RunTotal(const Flags& flags) {
  int64_t total = 0;
  for (auto [name, dsn] : {std::pair{"bank_a", &flags.dsn_a}, std::pair{"bank_b", &flags.dsn_b}}) {
    Result<BankDb> db = BankDb::Connect(name, *dsn);
    if (!db.ok()) return Fail(db.status());
    Result<int64_t> sum = db->Total();
    if (!sum.ok()) return Fail(sum.status());
    total += *sum;
  }
  std::printf("%lld\n", static_cast<long long>(total));
  return 0;
}

// Waits until no prepared transaction is left in either database, or the deadline. Returns the
// number left and how long it waited.
Result<int64_t> WaitForPrepared(BankDb& a, BankDb& b, int wait_ms, double* waited_seconds) {
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline = start + std::chrono::milliseconds(wait_ms);
  while (true) {
    PACT_ASSIGN_OR_RETURN(int64_t left_a, a.Prepared());
    PACT_ASSIGN_OR_RETURN(int64_t left_b, b.Prepared());
    *waited_seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (left_a + left_b == 0 || Clock::now() >= deadline) return left_a + left_b;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

// Runs every check and prints the summary and the final line; *all_ok tells whether every check
// passed. An error means a check could not be run at all.
Status Verify(const Flags& flags, bool* all_ok) {
  PACT_ASSIGN_OR_RETURN(BankDb a, BankDb::Connect("bank_a", flags.dsn_a));
  PACT_ASSIGN_OR_RETURN(BankDb b, BankDb::Connect("bank_b", flags.dsn_b));
  PACT_ASSIGN_OR_RETURN(std::vector<TransferOutcome> outcomes, ReadOutcomes(flags.outcomes));

  // In-doubt branches are resolved by the banks (asking the coordinator) and by the coordinator
  // (driving COMMIT); nothing below is final until they are done.
  double waited = 0;
  PACT_ASSIGN_OR_RETURN(int64_t prepared_left,
                        WaitForPrepared(a, b, flags.prepared_wait_ms, &waited));

  PACT_ASSIGN_OR_RETURN(int64_t total_a, a.Total());
  PACT_ASSIGN_OR_RETURN(int64_t total_b, b.Total());
  const int64_t total_after = total_a + total_b;
  int64_t negative = 0;
  int64_t off_ledger = 0;  // accounts whose balance is not initial + their ledger rows
  int64_t accounts = 0;
  for (BankDb* db : {&a, &b}) {
    PACT_ASSIGN_OR_RETURN(int64_t n, db->Number("SELECT count(*) FROM accounts WHERE balance < 0"));
    negative += n;
    PACT_ASSIGN_OR_RETURN(
        n, db->Number("SELECT count(*) FROM accounts AS a LEFT JOIN "
                      "(SELECT account, sum(amount) AS moved FROM ledger GROUP BY account) AS l "
                      "ON l.account = a.id WHERE a.balance <> a.initial + coalesce(l.moved, 0)"));
    off_ledger += n;
    PACT_ASSIGN_OR_RETURN(n, db->Number("SELECT count(*) FROM accounts"));
    accounts += n;
  }

  PACT_ASSIGN_OR_RETURN(auto ledger_a, a.Ledger());
  PACT_ASSIGN_OR_RETURN(auto ledger_b, b.Ledger());
  // A transfer is atomic when its rows are in both ledgers and cancel out, or in neither.
  int64_t atomicity_violations = 0;
  int64_t reported = 0;  // per-transfer lines printed; the counts below are always complete
  auto report = [&reported](const std::string& line) {
    if (++reported <= kReportedMax) std::printf("  %s\n", line.c_str());
  };
  int64_t in_both = 0;
  std::set<std::string> in_any;
  for (const auto& [txid, amount] : ledger_a) {
    in_any.insert(txid);
    auto other = ledger_b.find(txid);
    if (other == ledger_b.end() || other->second != -amount) {
      ++atomicity_violations;
      report(fmt::format("VIOLATION: transfer {}: bank_a row {}, bank_b row {}", txid, amount,
                         other == ledger_b.end() ? "missing" : std::to_string(other->second)));
    } else {
      ++in_both;
    }
  }
  for (const auto& [txid, amount] : ledger_b) {
    if (in_any.insert(txid).second) {
      ++atomicity_violations;
      report(
          fmt::format("VIOLATION: transfer {}: bank_a row missing, bank_b row {}", txid, amount));
    }
  }

  int64_t committed = 0, aborted = 0, unknown = 0, overdrafts = 0, in_neither = 0;
  int64_t lost_commits = 0;     // told COMMITTED, not in both ledgers
  int64_t phantom_commits = 0;  // told ABORTED, yet in a ledger
  int64_t unknown_applied = 0;  // told UNKNOWN: in both ledgers (it did commit)
  std::set<std::string> begun;
  for (const TransferOutcome& t : outcomes) {
    const std::string txid = t.txid.ToString();
    begun.insert(txid);
    const bool in_a = ledger_a.contains(txid);
    const bool in_b = ledger_b.contains(txid);
    overdrafts += t.overdraft ? 1 : 0;
    in_neither += !in_a && !in_b ? 1 : 0;
    switch (t.outcome) {
      case OutcomeKind::kCommitted:
        ++committed;
        if (!in_a || !in_b) {
          ++lost_commits;
          report(fmt::format("LOST COMMIT: transfer {} was told COMMITTED; in bank_a {}, bank_b {}",
                             txid, in_a, in_b));
        }
        break;
      case OutcomeKind::kAborted:
        ++aborted;
        if (in_a || in_b) {
          ++phantom_commits;
          report(fmt::format("PHANTOM: transfer {} was told ABORTED; in bank_a {}, bank_b {}", txid,
                             in_a, in_b));
        }
        break;
      case OutcomeKind::kUnknown:
        ++unknown;
        unknown_applied += in_a && in_b ? 1 : 0;
        break;
    }
  }
  int64_t untracked = 0;  // ledger rows of txids the driver never began
  for (const std::string& txid : in_any) untracked += begun.contains(txid) ? 0 : 1;

  const bool money_ok = total_after == flags.total_before && negative == 0 && off_ledger == 0;
  *all_ok = money_ok && atomicity_violations == 0 && lost_commits == 0 && phantom_commits == 0 &&
            untracked == 0 && prepared_left == 0;
  auto mark = [](bool ok) { return ok ? "ok  " : "FAIL"; };
  std::printf("\nPact transfer demo: what the databases say\n");
  std::printf(
      "  transfers     %zu: committed %lld, aborted %lld (%lld of them on purpose, a debit "
      "refused for want of funds), unknown %lld\n",
      outcomes.size(), static_cast<long long>(committed), static_cast<long long>(aborted),
      static_cast<long long>(overdrafts), static_cast<long long>(unknown));
  if (unknown > 0) {
    std::printf(
        "                the ledgers show that %lld of the unknown committed and %lld "
        "aborted\n",
        static_cast<long long>(unknown_applied), static_cast<long long>(unknown - unknown_applied));
  }
  std::printf(
      "  %s money   total before %lld, after %lld (bank_a %lld + bank_b %lld); %lld "
      "negative balances; %lld of %lld accounts differ from initial + ledger\n",
      mark(money_ok), static_cast<long long>(flags.total_before),
      static_cast<long long>(total_after), static_cast<long long>(total_a),
      static_cast<long long>(total_b), static_cast<long long>(negative),
      static_cast<long long>(off_ledger), static_cast<long long>(accounts));
  std::printf(
      "  %s atomic  %lld transfers in both ledgers, %lld in neither, %lld in only one "
      "(or with rows that do not cancel)\n",
      mark(atomicity_violations == 0), static_cast<long long>(in_both),
      static_cast<long long>(in_neither), static_cast<long long>(atomicity_violations));
  std::printf(
      "  %s durable every COMMITTED transfer in both ledgers (%lld lost), every ABORTED "
      "one in neither (%lld found), %lld ledger rows of txids never begun\n",
      mark(lost_commits == 0 && phantom_commits == 0 && untracked == 0),
      static_cast<long long>(lost_commits), static_cast<long long>(phantom_commits),
      static_cast<long long>(untracked));
  std::printf(
      "  %s settled %lld prepared transactions left (waited %.1f s for in-doubt "
      "branches to resolve)\n",
      mark(prepared_left == 0), static_cast<long long>(prepared_left), waited);
  std::printf(
      "demo: transfers=%zu committed=%lld aborted=%lld unknown=%lld total_before=%lld "
      "total_after=%lld atomicity_violations=%lld lost_commits=%lld prepared_left=%lld\n",
      outcomes.size(), static_cast<long long>(committed), static_cast<long long>(aborted),
      static_cast<long long>(unknown), static_cast<long long>(flags.total_before),
      static_cast<long long>(total_after), static_cast<long long>(atomicity_violations),
      static_cast<long long>(lost_commits), static_cast<long long>(prepared_left));
  return Status::Ok();
}

}  // namespace
}  // namespace pact::examples

int main(int argc, char** argv) {
  pact::examples::Flags flags;
  CLI::App app{"pact-transfer-check: the transfer demo's invariants, from both databases"};
  app.require_subcommand(1);
  auto add_dsns = [&](CLI::App* command) {
    command->add_option("--dsn-a", flags.dsn_a, "libpq connection string of bank_a")->required();
    command->add_option("--dsn-b", flags.dsn_b, "libpq connection string of bank_b")->required();
  };
  CLI::App* total = app.add_subcommand("total", "print the total balance of both banks");
  add_dsns(total);
  CLI::App* verify = app.add_subcommand("verify", "check every invariant after the transfers");
  add_dsns(verify);
  verify->add_option("--outcomes", flags.outcomes, "the driver's outcome file")->required();
  verify->add_option("--total-before", flags.total_before, "the total before the transfers")
      ->required()
      ->check(CLI::NonNegativeNumber);
  verify
      ->add_option("--prepared-wait-ms", flags.prepared_wait_ms,
                   "how long to wait for prepared transactions to resolve")
      ->capture_default_str()
      ->check(CLI::Range(0, 3'600'000));
  CLI11_PARSE(app, argc, argv);
  if (total->parsed()) return pact::examples::RunTotal(flags);
  bool all_ok = false;
  if (pact::Status s = pact::examples::Verify(flags, &all_ok); !s.ok()) {
    return pact::examples::Fail(s);
  }
  return all_ok ? 0 : 1;
}
