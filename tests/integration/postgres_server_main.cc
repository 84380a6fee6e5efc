// pact-test-postgres: starts and stops a throwaway PostgreSQL server with the same logic as the
// tests (PostgresServer), for shell scripts such as the demo.
//
//   pact-test-postgres start --dir D --databases a,b [--max-prepared N] [--no-fsync]
//       prints one line per database: "<name> <dsn>" (read -r name dsn), and leaves the
//       server running in the background
//   pact-test-postgres stop --dir D
//       fast shutdown, then removes D
#include <CLI/CLI.hpp>
#include <iostream>
#include <string>
#include <vector>

#include "tests/integration/postgres_server.h"

namespace pact::integration {
namespace {

int Fail(const Status& status) {
  std::cerr << "pact-test-postgres: " << status.ToString() << "\n";
  return 1;
}

int RunStart(const PostgresServerOptions& options, const std::vector<std::string>& databases) {
  Result<std::unique_ptr<PostgresServer>> server = PostgresServer::Start(options);
  if (!server.ok()) return Fail(server.status());
  // Until Detach(), a failure below stops the server and removes the folder again.
  for (const std::string& db : databases) {
    const Status status = (*server)->CreateDatabase(db);
    if (!status.ok()) return Fail(status.WithContext("creating database " + db));
  }
  for (const std::string& db : databases) std::cout << db << " " << (*server)->Dsn(db) << "\n";
  std::cout.flush();
  (*server)->Detach();
  return 0;
}

int RunStop(const std::string& dir) {
  Result<std::unique_ptr<PostgresServer>> server = PostgresServer::Attach(dir);
  if (!server.ok()) return Fail(server.status());
  const Status status = (*server)->Stop();
  return status.ok() ? 0 : Fail(status);
}

}  // namespace
}  // namespace pact::integration

int main(int argc, char** argv) {
  using pact::integration::PostgresServerOptions;
  CLI::App app{
      "Starts and stops a throwaway PostgreSQL server (loopback only, trust "
      "authentication) for Pact's tests, benchmarks and demo."};
  app.require_subcommand(1);

  PostgresServerOptions options;
  std::vector<std::string> databases;
  bool no_fsync = false;
  CLI::App* start = app.add_subcommand(
      "start",
      "initdb in --dir, start the server on a free port, create the databases and print "
      "'<name> <dsn>' for each");
  start->add_option("--dir", options.dir, "folder for the server (created; must be empty)")
      ->required();
  start->add_option("--databases", databases, "databases to create, comma-separated")
      ->delimiter(',');
  start
      ->add_option("--max-prepared", options.max_prepared_transactions, "max_prepared_transactions")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  start->add_flag("--no-fsync", no_fsync, "turn fsync off (faster; unsafe if the machine dies)");

  std::string stop_dir;
  CLI::App* stop = app.add_subcommand("stop",
                                      "fast shutdown of the server in --dir, then remove "
                                      "the folder");
  stop->add_option("--dir", stop_dir, "folder given to start")->required();

  CLI11_PARSE(app, argc, argv);
  if (start->parsed()) {
    options.fsync = !no_fsync;
    return pact::integration::RunStart(options, databases);
  }
  return pact::integration::RunStop(stop_dir);
}
