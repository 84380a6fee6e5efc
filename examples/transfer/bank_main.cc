// pact-bank: one bank of the transfer demo (docs/demo.md). A service that embeds the participant
// SDK: it owns accounts in one PostgreSQL database, serves the Bank service (bank.thrift) to the
// transfer driver and the Participant service to the coordinator, both on --listen, and does
// every debit and credit inside the global transaction the request names.
//
//   pact-bank --name bank_a --dsn 'host=127.0.0.1 port=5432 dbname=bank_a user=postgres'
//             --listen 127.0.0.1:7101 --data-dir /var/lib/pact/bank_a
//             --coordinators 127.0.0.1:7000
//
// Prints "pact-bank ready listen=HOST:PORT name=NAME" on stdout once it serves. Keep --listen
// fixed across restarts: the address names this participant in the coordinator's decision log.
#include <fmt/format.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "common/file_system.h"
#include "common/logging.h"
#include "examples/transfer/bank_service.h"
#include "pact/participant.h"
#include "participant/postgres/postgres_resource.h"

namespace pact::examples {
namespace {

struct Flags {
  std::string name;
  std::string dsn;
  std::string data_dir;
  std::string cluster = "demo";
  std::vector<std::string> coordinators;
  std::string listen = "127.0.0.1:0";
  int accounts = 100;
  int64_t initial_balance = 1000;
  int lock_timeout_ms = 2000;
  std::string log_level = "info";
};

// Blocks SIGINT and SIGTERM in every thread (spawned threads inherit the mask), so that the
// main thread alone receives them through sigwait and shuts down in order.
sigset_t BlockShutdownSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

int Run(const Flags& flags) {
  if (Status s = InitLogging(flags.name, flags.log_level); !s.ok()) {
    std::fprintf(stderr, "pact-bank: %s\n", s.ToString().c_str());
    return 2;
  }
  const sigset_t signals = BlockShutdownSignals();

  if (Status s = CreateBankSchema(flags.dsn, flags.accounts, flags.initial_balance); !s.ok()) {
    PACT_LOG_ERROR("cannot set up the bank's tables: {}", s.ToString());
    return 1;
  }
  auto opened = PostgresResource::Open(flags.dsn, flags.cluster);
  if (!opened.ok()) {
    PACT_LOG_ERROR("cannot open the PostgreSQL store: {}", opened.status().ToString());
    return 1;
  }
  PostgresResource* postgres = opened->get();
  std::shared_ptr<Resource> resource = std::move(opened).value();

  auto bank = std::make_shared<BankService>(postgres,
                                            BankOptions{.lock_timeout_ms = flags.lock_timeout_ms});
  ParticipantConfig config;
  config.coordinators = flags.coordinators;
  config.listen = flags.listen;
  config.data_dir = JoinPath(flags.data_dir, "participant");
  // The Bank service shares the participant's port: one address per bank, for both roles.
  config.extra_services.push_back({"Bank", std::make_shared<bank::BankProcessor>(bank)});
  auto participant = Participant::Start(config, resource);
  if (!participant.ok()) {
    PACT_LOG_ERROR("cannot start the participant: {}", participant.status().ToString());
    return 1;
  }
  bank->SetParticipant(participant->get());
  PACT_LOG_INFO("bank {} serving {} on {}", flags.name, resource->name(),
                (*participant)->address());
  std::printf("pact-bank ready listen=%s name=%s\n", (*participant)->address().c_str(),
              flags.name.c_str());
  std::fflush(stdout);

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  PACT_LOG_INFO("signal {}: shutting down", signal_number);
  bank->SetParticipant(nullptr);
  (*participant)->Stop();
  return 0;
}

}  // namespace
}  // namespace pact::examples

int main(int argc, char** argv) {
  pact::examples::Flags flags;
  CLI::App app{"pact-bank: a bank of the transfer demo, embedding the Pact participant SDK"};
  app.add_option("--name", flags.name, "the bank's name in logs (bank_a)")->required();
  app.add_option("--dsn", flags.dsn, "libpq connection string of the bank's database")->required();
  app.add_option("--data-dir", flags.data_dir, "the participant's WAL")->required();
  app.add_option("--coordinators", flags.coordinators, "coordinator replicas, HOST:PORT,...")
      ->required()
      ->delimiter(',');
  app.add_option("--listen", flags.listen,
                 "address of the Bank and Participant services, HOST:PORT (PORT 0: any free; "
                 "keep it fixed across restarts)")
      ->capture_default_str();
  app.add_option("--cluster", flags.cluster, "cluster name in PostgreSQL gids")
      ->capture_default_str();
  app.add_option("--accounts", flags.accounts, "accounts 1..N created at first start")
      ->capture_default_str()
      ->check(CLI::Range(1, 1'000'000));
  app.add_option("--initial-balance", flags.initial_balance, "balance of a new account")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--lock-timeout-ms", flags.lock_timeout_ms,
                 "a debit or credit waiting this long for a row lock fails")
      ->capture_default_str()
      ->check(CLI::Range(1, 600'000));
  app.add_option("--log-level", flags.log_level, "trace|debug|info|warn|error|off")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  return pact::examples::Run(flags);
}
