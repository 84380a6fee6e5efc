// pact-transfer-driver: the application of the transfer demo (docs/demo.md). Client threads move
// money between accounts of two banks (pact-bank) through Pact: Begin, debit one bank, credit the
// other, Commit - two-phase commit is the SDK's business, never the driver's.
//
//   pact-transfer-driver run --coordinators HOST:PORT --bank-a HOST:PORT --bank-b HOST:PORT
//                            --transfers N --clients C --out outcomes.txt
//       runs the transfers with a live progress line and records every txid with the outcome
//       Pact gave (outcome_file.h)
//   pact-transfer-driver settle --coordinators HOST:PORT --outcomes outcomes.txt
//       asks Pact again about every UNKNOWN transfer and rewrites the file with the answers
//
// Never a guess: a transfer is COMMITTED or ABORTED only when pact::Client said so.
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/logging.h"
#include "common/random.h"
#include "examples/transfer/outcome_file.h"
#include "pact/bank/Bank.h"
#include "pact/client.h"
#include "thrift/endpoint.h"
#include "thrift/rpc_client.h"

namespace pact::examples {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Logs (Thrift's own diagnostics among them) to stderr at warning level and above: a killed
// coordinator or bank is what the demo is about, every failure already comes back as a Status,
// and lines about each one would only tear the progress line apart.
void InitDriverLogging() { (void)InitLogging("driver", "warn"); }

struct RunFlags {
  std::vector<std::string> coordinators;
  std::string bank_a;
  std::string bank_b;
  int transfers = 2000;
  int clients = 4;
  int accounts = 100;
  int amount_max = 200;
  std::string out;
  uint64_t seed = 1;
  int commit_deadline_ms = 3000;
  int bank_call_timeout_ms = 15000;
  int begin_give_up_ms = 60000;
};

struct SettleFlags {
  std::vector<std::string> coordinators;
  std::string outcomes;
  int deadline_ms = 20000;
};

// What a bank answered to one debit or credit.
enum class BankAnswer {
  kDone,
  kInsufficientFunds,  // the branch is doomed: it will vote NO
  kUnreachable,        // the bank is down or still starting (killed, restarting)
  kFailed,             // the bank refused: txid not joined, lock timeout, ...
};

class Bank {
 public:
  Bank(std::string name, rpc::Endpoint address, const rpc::ClientOptions& options)
      : name_(std::move(name)), pool_(std::move(address), "Bank", options) {}

  const std::string& name() const { return name_; }

  BankAnswer Move(bool debit, const TxnId& txid, int account, int64_t amount) {
    std::optional<bank::ErrorKind> refused;
    // Bank errors are caught inside the call, so that the pool knows the connection is sane.
    Status status = pool_.Call([&](bank::BankClient& client) {
      try {
        if (debit) {
          client.debit(txid.ToString(), account, amount);
        } else {
          client.credit(txid.ToString(), account, amount);
        }
      } catch (const bank::BankError& error) {
        refused = error.kind;
      }
    });
    if (!status.ok()) return BankAnswer::kUnreachable;
    if (!refused.has_value()) return BankAnswer::kDone;
    switch (*refused) {
      case bank::ErrorKind::INSUFFICIENT_FUNDS:
        return BankAnswer::kInsufficientFunds;
      case bank::ErrorKind::STARTING:
        return BankAnswer::kUnreachable;
      default:
        return BankAnswer::kFailed;
    }
  }

 private:
  const std::string name_;
  rpc::ClientPool<bank::BankClient> pool_;
};

struct Counters {
  std::atomic<uint64_t> done{0};
  std::atomic<uint64_t> committed{0};
  std::atomic<uint64_t> aborted{0};
  std::atomic<uint64_t> unknown{0};
  std::atomic<uint64_t> overdrafts{0};
  std::atomic<uint64_t> bank_failures{0};
  std::atomic<uint64_t> begin_retries{0};

  void Count(OutcomeKind kind) {
    switch (kind) {
      case OutcomeKind::kCommitted:
        ++committed;
        break;
      case OutcomeKind::kAborted:
        ++aborted;
        break;
      case OutcomeKind::kUnknown:
        ++unknown;
        break;
    }
    ++done;
  }
};

// Prints the live progress line until Stop(): in place (\r) on a terminal, else a line every few
// seconds so that logs stay readable.
class Progress {
 public:
  Progress(const Counters& counters, int total) : counters_(counters), total_(total) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~Progress() { Stop(); }

  void Stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    changed_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Loop() {
    const bool tty = ::isatty(STDOUT_FILENO) != 0;
    const auto interval = std::chrono::milliseconds(tty ? 250 : 5000);
    uint64_t last_done = 0;
    Clock::time_point last = Clock::now();
    std::unique_lock lock(mutex_);
    while (true) {
      const bool stopping = changed_.wait_for(lock, interval, [&] { return stopping_; });
      const uint64_t done = counters_.done.load();
      const double seconds = SecondsSince(last);
      const double rate = seconds > 0 ? static_cast<double>(done - last_done) / seconds : 0;
      last_done = done;
      last = Clock::now();
      std::string line = fmt::format(
          "transfers {:>6}/{}  {:>6.1f}/s  committed {:>6}  aborted {:>5}  in-doubt {:>4}", done,
          total_, rate, counters_.committed.load(), counters_.aborted.load(),
          counters_.unknown.load());
      std::printf(tty ? "\r%s" : "%s\n", line.c_str());
      std::fflush(stdout);
      if (stopping) break;
    }
    if (tty) std::printf("\n");
  }

  const Counters& counters_;
  const int total_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool stopping_ = false;
  std::thread thread_;
};

// Begins a transaction, retrying while no coordinator answers (it may be restarting).
std::optional<Transaction> BeginWithRetry(Client& client, const RunFlags& flags,
                                          Counters& counters) {
  const Clock::time_point give_up =
      Clock::now() + std::chrono::milliseconds(flags.begin_give_up_ms);
  int backoff_ms = 20;
  while (true) {
    Result<Transaction> txn = client.Begin();
    if (txn.ok()) return *txn;
    if (txn.status().code() == StatusCode::kInvalidArgument || Clock::now() >= give_up) {
      std::fprintf(stderr, "\npact-transfer-driver: cannot begin a transaction: %s\n",
                   txn.status().ToString().c_str());
      return std::nullopt;
    }
    ++counters.begin_retries;
    std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
    backoff_ms = std::min(backoff_ms * 2, 1000);
  }
}

// One transfer: `amount` from a random account of one bank to a random account of the other.
// Returns false when no transaction could be begun at all. Sets *bank_unreachable when a bank
// could not be reached (the caller backs off rather than failing transfers as fast as it can).
bool Transfer(Client& client, Bank& a, Bank& b, Random& random, const RunFlags& flags,
              Counters& counters, TransferOutcome* record, bool* bank_unreachable) {
  const bool a_pays = random.OneIn(2);
  Bank& from = a_pays ? a : b;
  Bank& to = a_pays ? b : a;
  const int from_account = static_cast<int>(random.Range(1, flags.accounts));
  const int to_account = static_cast<int>(random.Range(1, flags.accounts));
  const int64_t amount = static_cast<int64_t>(random.Range(1, flags.amount_max));

  std::optional<Transaction> txn = BeginWithRetry(client, flags, counters);
  if (!txn.has_value()) return false;
  record->txid = txn->id();

  const BankAnswer debit = from.Move(/*debit=*/true, txn->id(), from_account, amount);
  record->overdraft = debit == BankAnswer::kInsufficientFunds;
  const bool debit_went_through =
      debit == BankAnswer::kDone || debit == BankAnswer::kInsufficientFunds;
  BankAnswer credit = BankAnswer::kFailed;
  if (debit_went_through) credit = to.Move(/*debit=*/false, txn->id(), to_account, amount);
  if (!debit_went_through || credit != BankAnswer::kDone) ++counters.bank_failures;
  *bank_unreachable = debit == BankAnswer::kUnreachable || credit == BankAnswer::kUnreachable;
  if (record->overdraft) ++counters.overdrafts;

  // A real service would abort a transfer whose debit was refused. The demo commits it anyway,
  // on purpose: the refused debit doomed that bank's branch in PostgreSQL, so the branch votes
  // NO and Pact must abort the whole transfer - and the checker proves that no half survived.
  // Any other failed call (a bank killed or restarting, a lock timeout) means some work may be
  // missing, so that transfer must never commit: it is aborted.
  record->asked_commit = debit_went_through && credit == BankAnswer::kDone;
  const Outcome outcome = record->asked_commit ? txn->Commit() : txn->Abort();
  record->outcome = outcome.kind;
  counters.Count(outcome.kind);
  return true;
}

int Run(const RunFlags& flags) {
  InitDriverLogging();
  ClientOptions options;
  options.coordinators = flags.coordinators;
  options.commit_deadline_ms = flags.commit_deadline_ms;
  options.client_name = "pact-transfer-driver";
  auto client = Client::Create(options);
  if (!client.ok()) {
    std::fprintf(stderr, "pact-transfer-driver: %s\n", client.status().ToString().c_str());
    return 2;
  }
  Result<rpc::Endpoint> address_a = rpc::Endpoint::Parse(flags.bank_a);
  Result<rpc::Endpoint> address_b = rpc::Endpoint::Parse(flags.bank_b);
  if (!address_a.ok() || !address_b.ok()) {
    std::fprintf(stderr, "pact-transfer-driver: bad bank address\n");
    return 2;
  }
  rpc::ClientOptions bank_rpc;
  bank_rpc.call_timeout_ms = flags.bank_call_timeout_ms;
  bank_rpc.idle_connections_max = static_cast<size_t>(flags.clients);
  Bank a("bank_a", *address_a, bank_rpc);
  Bank b("bank_b", *address_b, bank_rpc);

  std::vector<TransferOutcome> records(static_cast<size_t>(flags.transfers));
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  Counters counters;
  const Clock::time_point start = Clock::now();
  {
    Progress progress(counters, flags.transfers);
    std::vector<std::thread> threads;
    Random seeds(flags.seed);
    for (int i = 0; i < flags.clients; ++i) {
      threads.emplace_back([&, seed = seeds.Fork()] {
        Random random(seed);
        int backoff_ms = 0;
        for (size_t index = next++; index < records.size() && !failed.load(); index = next++) {
          bool bank_unreachable = false;
          if (!Transfer(**client, a, b, random, flags, counters, &records[index],
                        &bank_unreachable)) {
            failed.store(true);
          }
          // While a bank restarts, wait a little between transfers instead of spending them
          // all on aborts.
          backoff_ms = bank_unreachable ? std::clamp(backoff_ms * 2, 50, 1000) : 0;
          std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
  }
  if (failed.load()) return 1;
  const double seconds = SecondsSince(start);
  std::printf(
      "driver: %d transfers in %.1f s (%.1f/s) with %d clients: committed %llu, aborted %llu "
      "(%llu debits refused for want of funds, %llu transfers with a failed bank call), "
      "in doubt %llu; %llu begin retries\n",
      flags.transfers, seconds, flags.transfers / std::max(seconds, 1e-3), flags.clients,
      static_cast<unsigned long long>(counters.committed.load()),
      static_cast<unsigned long long>(counters.aborted.load()),
      static_cast<unsigned long long>(counters.overdrafts.load()),
      static_cast<unsigned long long>(counters.bank_failures.load()),
      static_cast<unsigned long long>(counters.unknown.load()),
      static_cast<unsigned long long>(counters.begin_retries.load()));
  if (Status s = WriteOutcomes(flags.out, records); !s.ok()) {
    std::fprintf(stderr, "pact-transfer-driver: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}

// The current leader's epoch, from a throwaway transaction (begun and aborted at once).
std::optional<uint64_t> CurrentEpoch(Client& client) {
  Result<Transaction> probe = client.Begin();
  if (!probe.ok()) return std::nullopt;
  probe->Abort();
  return probe->id().epoch;
}

int Settle(const SettleFlags& flags) {
  InitDriverLogging();
  ClientOptions options;
  options.coordinators = flags.coordinators;
  // One question per call: the rounds below do the waiting, so that one transfer the coordinator
  // cannot answer about does not hold up the others.
  options.commit_deadline_ms = 1;
  options.client_name = "pact-transfer-driver";
  auto client = Client::Create(options);
  if (!client.ok()) {
    std::fprintf(stderr, "pact-transfer-driver: %s\n", client.status().ToString().c_str());
    return 2;
  }
  Result<std::vector<TransferOutcome>> records = ReadOutcomes(flags.outcomes);
  if (!records.ok()) {
    std::fprintf(stderr, "pact-transfer-driver: %s\n", records.status().ToString().c_str());
    return 1;
  }
  std::vector<TransferOutcome*> pending;
  for (TransferOutcome& t : *records) {
    if (t.outcome == OutcomeKind::kUnknown) pending.push_back(&t);
  }
  const size_t unknown_before = pending.size();
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline = start + std::chrono::milliseconds(flags.deadline_ms);
  size_t forgotten = 0;
  while (!pending.empty() && Clock::now() < deadline) {
    const std::optional<uint64_t> epoch = CurrentEpoch(**client);
    std::vector<TransferOutcome*> still;
    for (TransferOutcome* t : pending) {
      // Ask the same as before: re-asking COMMIT for a transfer that was aborted because a bank
      // call failed could commit half of it.
      const Outcome outcome =
          t->asked_commit ? (*client)->Commit(t->txid) : (*client)->Abort(t->txid);
      if (outcome.kind != OutcomeKind::kUnknown) {
        t->outcome = outcome.kind;
      } else if (epoch.has_value() && t->txid.epoch < *epoch) {
        // A leader of a newer epoch answers COMMITTED for every COMMIT its decision log holds.
        // UNKNOWN from it is final: the transaction ended before that leader began without a
        // COMMIT in the log - aborted, or committed in one phase (a single branch), which
        // leaves none - and only the ledgers can tell which now.
        ++forgotten;
      } else {
        still.push_back(t);
      }
    }
    pending.swap(still);
    if (!pending.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  size_t unknown_after = 0;
  for (const TransferOutcome& t : *records) unknown_after += t.outcome == OutcomeKind::kUnknown;
  std::printf(
      "settle: %zu transfers were in doubt; Pact answered %zu of them in %.1f s; %zu stay unknown "
      "(%zu began under a coordinator that was restarted since and left no COMMIT in its log)\n",
      unknown_before, unknown_before - unknown_after, SecondsSince(start), unknown_after,
      forgotten);
  if (Status s = WriteOutcomes(flags.outcomes, *records); !s.ok()) {
    std::fprintf(stderr, "pact-transfer-driver: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace pact::examples

int main(int argc, char** argv) {
  CLI::App app{"pact-transfer-driver: moves money between two pact-banks through Pact"};
  app.require_subcommand(1);

  pact::examples::RunFlags run_flags;
  CLI::App* run = app.add_subcommand("run", "run the transfers and record their outcomes");
  run->add_option("--coordinators", run_flags.coordinators, "coordinator replicas, HOST:PORT,...")
      ->required()
      ->delimiter(',');
  run->add_option("--bank-a", run_flags.bank_a, "pact-bank A, HOST:PORT")->required();
  run->add_option("--bank-b", run_flags.bank_b, "pact-bank B, HOST:PORT")->required();
  run->add_option("--transfers", run_flags.transfers, "transfers to run")
      ->capture_default_str()
      ->check(CLI::Range(1, 10'000'000));
  run->add_option("--clients", run_flags.clients, "client threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  run->add_option("--accounts", run_flags.accounts, "accounts per bank (as the banks were given)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1'000'000));
  run->add_option("--amount-max", run_flags.amount_max, "largest amount of one transfer")
      ->capture_default_str()
      ->check(CLI::Range(1, 1'000'000'000));
  run->add_option("--out", run_flags.out, "file for every txid and its outcome")->required();
  run->add_option("--seed", run_flags.seed, "seed of the random transfers")->capture_default_str();
  run->add_option("--commit-deadline-ms", run_flags.commit_deadline_ms,
                  "Commit() answers UNKNOWN after this long without a decision")
      ->capture_default_str()
      ->check(CLI::Range(1, 600'000));
  run->add_option("--begin-give-up-ms", run_flags.begin_give_up_ms,
                  "stop when no transaction could be begun for this long")
      ->capture_default_str()
      ->check(CLI::Range(1, 3'600'000));

  pact::examples::SettleFlags settle_flags;
  CLI::App* settle =
      app.add_subcommand("settle", "ask again about every UNKNOWN transfer, rewrite the file");
  settle
      ->add_option("--coordinators", settle_flags.coordinators,
                   "coordinator replicas, HOST:PORT,...")
      ->required()
      ->delimiter(',');
  settle->add_option("--outcomes", settle_flags.outcomes, "the file written by run")->required();
  settle->add_option("--deadline-ms", settle_flags.deadline_ms, "give up asking after this long")
      ->capture_default_str()
      ->check(CLI::Range(1, 3'600'000));

  CLI11_PARSE(app, argc, argv);
  if (run->parsed()) return pact::examples::Run(run_flags);
  return pact::examples::Settle(settle_flags);
}
