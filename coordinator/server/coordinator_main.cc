// pact-coordinator: a coordinator replica. Serves the Coordinator Thrift service on --listen,
// keeps its decision log in --data-dir, and re-drives every committed but unfinished
// transaction after a restart. See README.md ("Running Pact by hand").
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "common/clock.h"
#include "common/fail_point.h"
#include "common/file_system.h"
#include "common/logging.h"
#include "common/shutdown_signals.h"
#include "coordinator/server/coordinator_driver.h"
#include "coordinator/server/coordinator_service.h"
#include "coordinator/single_replica_decision_log.h"
#include "thrift/endpoint.h"
#include "thrift/rpc_limits.h"
#include "thrift/rpc_server.h"

namespace pact::coordinator {
namespace {

struct Flags {
  int id = 1;
  std::string listen = "127.0.0.1:7000";
  std::string data_dir;
  std::vector<std::string> peers;
  std::string log_level = "info";
  int tick_ms = 10;
  uint32_t inflight_txns_max = 4096;
  int txn_timeout_ms = 10000;
  int txn_timeout_max_ms = 3600 * 1000;
  int prepare_timeout_ms = 3000;
  int commit_wait_ms = 3000;
  int txid_lease_ms = 4000;
  int participant_call_timeout_ms = 2000;
  size_t sender_threads = ParticipantSenderOptions{}.sender_threads;
  size_t participant_calls_in_flight = ParticipantSenderOptions{}.calls_in_flight_per_participant;
};

uint64_t TicksFor(int ms, int tick_ms) {
  return static_cast<uint64_t>(std::max(1, (ms + tick_ms - 1) / tick_ms));
}

Status CheckPeers(const Flags& flags, const rpc::Endpoint& listen) {
  for (const std::string& peer : flags.peers) {
    PACT_ASSIGN_OR_RETURN(rpc::Endpoint endpoint, rpc::Endpoint::Parse(peer));
    if (endpoint != listen) {
      return Status::InvalidArgument(fmt::format(
          "--peers names {}, but this build runs a single replica (the Paxos decision log that "
          "replicates across peers is not part of it yet); give only this replica's address",
          peer));
    }
  }
  return Status::Ok();
}

int Run(const Flags& flags) {
  // Peers may send frames of up to 1 MiB on every connection; their buffers must not stay.
  rpc::ReturnLargeBuffersToTheOs();
  if (Status s = InitLogging(fmt::format("coord{}", flags.id), flags.log_level); !s.ok()) {
    std::fprintf(stderr, "pact-coordinator: %s\n", s.ToString().c_str());
    return 2;
  }
  Result<rpc::Endpoint> listen = rpc::Endpoint::Parse(flags.listen);
  Status config = listen.ok() ? CheckPeers(flags, *listen) : listen.status();
  if (config.ok()) config = ValidateFailPointEnvironment();
  if (config.ok() && flags.tick_ms <= 0) config = Status::InvalidArgument("--tick-ms must be > 0");
  if (config.ok() && flags.txn_timeout_max_ms < flags.txn_timeout_ms) {
    config = Status::InvalidArgument(
        fmt::format("--txn-timeout-max-ms ({}) must be at least --txn-timeout-ms ({})",
                    flags.txn_timeout_max_ms, flags.txn_timeout_ms));
  }
  if (!config.ok()) {
    PACT_LOG_ERROR("bad configuration: {}", config.message());
    return 2;
  }
  ShutdownSignals shutdown;  // before any thread starts, so every thread inherits the mask

  FileSystem* fs = PosixFileSystem::Default();
  if (Status s = fs->CreateDirs(flags.data_dir); !s.ok()) {
    PACT_LOG_ERROR("cannot create --data-dir: {}", s.ToString());
    return 1;
  }
  wal::LogOptions log_options;
  log_options.dir = JoinPath(flags.data_dir, "decisions");
  auto log = SingleReplicaDecisionLog::Open(fs, log_options);
  if (!log.ok()) {
    PACT_LOG_ERROR("cannot open the decision log: {}", log.status().ToString());
    return 1;
  }
  const size_t unended = (*log)->unended().size();

  DriverOptions options;
  options.tick_ms = flags.tick_ms;
  options.core.inflight_txns_max = flags.inflight_txns_max;
  options.core.txn_timeout_ticks = TicksFor(flags.txn_timeout_ms, flags.tick_ms);
  options.core.txn_timeout_ticks_max = TicksFor(flags.txn_timeout_max_ms, flags.tick_ms);
  options.core.prepare_timeout_ticks = TicksFor(flags.prepare_timeout_ms, flags.tick_ms);
  options.core.lease_ticks = TicksFor(flags.txid_lease_ms, flags.tick_ms);
  options.sender.sender_threads = flags.sender_threads;
  options.sender.calls_in_flight_per_participant = flags.participant_calls_in_flight;
  options.sender.rpc.call_timeout_ms = flags.participant_call_timeout_ms;
  auto driver = CoordinatorDriver::Start(options, fmt::format("coord{}", flags.id),
                                         std::move(log).value(), SystemClock::Default());
  if (!driver.ok()) {
    PACT_LOG_ERROR("cannot start: {}", driver.status().ToString());
    return 2;
  }

  CoordinatorServiceOptions service_options;
  service_options.commit_wait_ms = flags.commit_wait_ms;
  service_options.tick_ms = flags.tick_ms;
  service_options.txn_timeout_max_ms = flags.txn_timeout_max_ms;
  auto service = std::make_shared<CoordinatorService>(driver->get(), service_options);
  auto server = rpc::RpcServer::Start(
      *listen, {{"Coordinator", std::make_shared<rpc::CoordinatorProcessor>(service)}});
  if (!server.ok()) {
    PACT_LOG_ERROR("{}", server.status().ToString());
    return 1;
  }
  PACT_LOG_INFO("coordinator {} serving on {}:{} with epoch {} ({} unfinished commits resumed)",
                flags.id, listen->host, (*server)->port(), (*driver)->epoch(), unended);
  // A line scripts can wait for, with the bound port (useful with --listen host:0).
  std::printf("pact-coordinator ready listen=%s:%d epoch=%llu\n", listen->host.c_str(),
              (*server)->port(), static_cast<unsigned long long>((*driver)->epoch()));
  std::fflush(stdout);

  const int signal_number = shutdown.Wait();
  PACT_LOG_INFO("signal {}: shutting down", signal_number);
  (*server)->Stop();
  (*driver)->Stop();
  return 0;
}

}  // namespace
}  // namespace pact::coordinator

int main(int argc, char** argv) {
  pact::coordinator::Flags flags;
  CLI::App app{"pact-coordinator: a Pact coordinator replica (two-phase commit over Thrift)"};
  app.set_config("--config", "", "read flags from this TOML/INI file", false);
  app.add_option("--id", flags.id, "replica id")->capture_default_str()->check(CLI::Range(1, 255));
  app.add_option("--listen", flags.listen, "address to serve on, HOST:PORT (PORT 0: any free)")
      ->capture_default_str();
  app.add_option("--data-dir", flags.data_dir, "directory of the decision log")->required();
  app.add_option("--peers", flags.peers, "every replica's HOST:PORT (one replica for now)")
      ->delimiter(',');
  app.add_option("--log-level", flags.log_level, "trace|debug|info|warn|error|off")
      ->capture_default_str();
  app.add_option("--tick-ms", flags.tick_ms, "length of one protocol tick")->capture_default_str();
  app.add_option("--inflight-txns-max", flags.inflight_txns_max,
                 "open transactions before begin answers Overloaded")
      ->capture_default_str();
  app.add_option("--txn-timeout-ms", flags.txn_timeout_ms,
                 "abort a transaction not committed this long after begin, unless its client "
                 "asked for another timeout")
      ->check(CLI::Range(1, 24 * 3600 * 1000))
      ->capture_default_str();
  app.add_option("--txn-timeout-max-ms", flags.txn_timeout_max_ms,
                 "the longest timeout a client may ask for (begin_transaction timeout_ms)")
      ->check(CLI::Range(1, 24 * 3600 * 1000))
      ->capture_default_str();
  app.add_option("--prepare-timeout-ms", flags.prepare_timeout_ms,
                 "abort a transaction whose branches did not all vote in this time")
      ->capture_default_str();
  app.add_option("--commit-wait-ms", flags.commit_wait_ms,
                 "how long commit waits for a decision before answering UNKNOWN")
      ->capture_default_str();
  app.add_option("--txid-lease-ms", flags.txid_lease_ms,
                 "how long a client may use txids it leased (begin_transaction lease_txids)")
      ->check(CLI::Range(1, 3600 * 1000))
      ->capture_default_str();
  app.add_option("--participant-call-timeout-ms", flags.participant_call_timeout_ms,
                 "timeout of one call to a participant")
      ->capture_default_str();
  app.add_option("--sender-threads", flags.sender_threads,
                 "threads sending PREPARE/COMMIT/ABORT to participants")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--participant-calls-in-flight", flags.participant_calls_in_flight,
                 "calls in flight to one participant; what queues meanwhile leaves in one batch")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  CLI11_PARSE(app, argc, argv);
  return pact::coordinator::Run(flags);
}
