// pact-agent: a ready participant for services that do not embed the SDK. It fronts one store
// (PostgreSQL or the embedded KV store), serves the Participant service to the coordinator and
// the Agent service to applications, and runs each operation inside the global transaction
// the request names. See README.md ("Running Pact by hand").
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "common/fail_point.h"
#include "common/file_system.h"
#include "common/logging.h"
#include "common/shutdown_signals.h"
#include "participant/agent/agent_service.h"
#include "thrift/rpc_limits.h"

namespace pact::agent {
namespace {

struct Flags {
  std::string store;
  std::string dsn;
  std::string data_dir;
  std::string cluster = "pact";
  std::vector<std::string> coordinators;
  std::string listen = "127.0.0.1:0";
  std::string advertise;
  std::string log_level = "info";
  int tick_ms = 10;
  // Store operations (PREPARE TRANSACTION, COMMIT PREPARED) each wait for a PostgreSQL WAL
  // flush; with 8 threads they queued under 32 concurrent transfers in pact-bench.
  size_t store_threads = 32;
  size_t pg_branches_max = 64;
  // Signed, so that CLI11 refuses a negative value instead of wrapping it around.
  int pg_statement_cache = 64;
};

Status CheckFlags(const Flags& flags) {
  PACT_RETURN_IF_ERROR(ValidateFailPointEnvironment());
  PACT_RETURN_IF_ERROR(ValidateClusterName(flags.cluster));
  if (flags.store == "postgres" && flags.dsn.empty()) {
    return Status::InvalidArgument("--store postgres needs --dsn");
  }
  if (flags.store == "kv" && !flags.dsn.empty()) {
    return Status::InvalidArgument("--dsn is for --store postgres only");
  }
  return Status::Ok();
}

int Run(const Flags& flags) {
  // Peers may send frames of up to 1 MiB on every connection; their buffers must not stay.
  rpc::ReturnLargeBuffersToTheOs();
  if (Status s = InitLogging("agent", flags.log_level); !s.ok()) {
    std::fprintf(stderr, "pact-agent: %s\n", s.ToString().c_str());
    return 2;
  }
  if (Status s = CheckFlags(flags); !s.ok()) {
    PACT_LOG_ERROR("bad configuration: {}", s.message());
    return 2;
  }
  ShutdownSignals shutdown;  // before any thread starts, so every thread inherits the mask

  std::shared_ptr<Resource> resource;
  PostgresResource* postgres = nullptr;
  KvStore* kv = nullptr;
  if (flags.store == "postgres") {
    PostgresResourceOptions options;
    options.active_branches_max = flags.pg_branches_max;
    // Keep as many idle connections as branches may be open: a smaller pool closes connections
    // at every peak and reopens them a moment later, and a new PostgreSQL session costs the
    // server a process start (it tripled the server's CPU per transfer in pact-bench).
    options.idle_connections_max = flags.pg_branches_max;
    options.statement_cache_size = static_cast<size_t>(flags.pg_statement_cache);
    auto opened = PostgresResource::Open(flags.dsn, flags.cluster, options);
    if (!opened.ok()) {
      PACT_LOG_ERROR("cannot open the PostgreSQL store: {}", opened.status().ToString());
      return 1;
    }
    postgres = opened->get();
    resource = std::move(opened).value();
  } else {
    KvOptions options;
    options.dir = JoinPath(flags.data_dir, "kv");
    auto opened = KvStore::Open(PosixFileSystem::Default(), options);
    if (!opened.ok()) {
      PACT_LOG_ERROR("cannot open the KV store: {}", opened.status().ToString());
      return 1;
    }
    kv = opened->get();
    resource = std::move(opened).value();
  }

  auto agent = std::make_shared<AgentService>(postgres, kv);
  ParticipantConfig config;
  config.coordinators = flags.coordinators;
  config.listen = flags.listen;
  config.advertise = flags.advertise;
  config.data_dir = JoinPath(flags.data_dir, "participant");
  config.tick_ms = flags.tick_ms;
  config.store_threads = flags.store_threads;
  config.extra_services.push_back({"Agent", std::make_shared<rpc::AgentProcessor>(agent)});
  auto participant = Participant::Start(config, resource);
  if (!participant.ok()) {
    PACT_LOG_ERROR("cannot start: {}", participant.status().ToString());
    return 1;
  }
  agent->SetParticipant(participant->get());
  PACT_LOG_INFO("agent serving {} on {}", resource->name(), (*participant)->address());
  std::printf("pact-agent ready listen=%s store=%s\n", (*participant)->address().c_str(),
              std::string(resource->name()).c_str());
  std::fflush(stdout);

  const int signal_number = shutdown.Wait();
  PACT_LOG_INFO("signal {}: shutting down", signal_number);
  agent->SetParticipant(nullptr);
  (*participant)->Stop();
  return 0;
}

}  // namespace
}  // namespace pact::agent

int main(int argc, char** argv) {
  pact::agent::Flags flags;
  CLI::App app{"pact-agent: a Pact participant fronting one PostgreSQL database or KV store"};
  app.set_config("--config", "", "read flags from this TOML/INI file", false);
  app.add_option("--store", flags.store, "the store to front")
      ->required()
      ->check(CLI::IsMember({"postgres", "kv"}));
  app.add_option("--dsn", flags.dsn, "libpq connection string (--store postgres)");
  app.add_option("--data-dir", flags.data_dir, "the agent's WAL (and KV data)")->required();
  app.add_option("--cluster", flags.cluster, "cluster name in PostgreSQL gids")
      ->capture_default_str();
  app.add_option("--coordinators", flags.coordinators, "coordinator replicas, HOST:PORT,...")
      ->required()
      ->delimiter(',');
  app.add_option("--listen", flags.listen, "address to serve on, HOST:PORT (PORT 0: any free)")
      ->capture_default_str();
  app.add_option("--advertise", flags.advertise,
                 "address the coordinator reaches this agent at (default: the bound --listen); "
                 "it names the agent in the decision log, keep it stable across restarts");
  app.add_option("--log-level", flags.log_level, "trace|debug|info|warn|error|off")
      ->capture_default_str();
  app.add_option("--tick-ms", flags.tick_ms, "length of one protocol tick")->capture_default_str();
  app.add_option("--store-threads", flags.store_threads, "concurrent store operations")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--pg-branches-max", flags.pg_branches_max,
                 "PostgreSQL branches open at once (--store postgres); as many connections are "
                 "kept open between branches")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  app.add_option("--pg-statement-cache", flags.pg_statement_cache,
                 "statements kept prepared on the server per PostgreSQL connection, so that it "
                 "parses and plans them once (--store postgres); 0 turns the cache off")
      ->capture_default_str()
      ->check(CLI::Range(0, 10000));
  CLI11_PARSE(app, argc, argv);
  return pact::agent::Run(flags);
}
