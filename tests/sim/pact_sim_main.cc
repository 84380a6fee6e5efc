// pact-sim: runs the deterministic simulation (tests/sim/simulation.h).
//
//   pact-sim --seeds N [--start-seed S]   runs seeds S..S+N-1; prints every failing seed with
//                                         the command that replays it, and ends with
//                                         "seeds=N violations=V" (V: failing seeds)
//   pact-sim --seed S [--trace]           runs one seed; --trace prints it event by event
//
// Exit status: 0 when no seed failed, 1 otherwise. A broken invariant inside a core (a failed
// PACT_CHECK) aborts the process; the seed running at that moment is printed first.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

#include "tests/sim/simulation.h"

namespace {

// Preformatted so that the signal handler only has to write it.
char g_crash_note[512] = "";

void OnAbort(int signal) {
  const size_t length = std::strlen(g_crash_note);
  if (length > 0 && ::write(STDOUT_FILENO, g_crash_note, length) < 0) {
    // Nothing more can be done inside a signal handler.
  }
  std::signal(signal, SIG_DFL);
  std::raise(signal);
}

std::string g_extra_flags;  // flags that change the run, repeated in replay commands

std::string ReplayCommand(const std::string& program, uint64_t seed) {
  return fmt::format("{} --seed {}{} --trace", program, seed, g_extra_flags);
}

void NoteSeed(const std::string& program, uint64_t seed) {
  const std::string note = fmt::format(
      "\nseed {}: a PACT_CHECK failed (the process aborts)\n"
      "  replay: {}\n",
      seed, ReplayCommand(program, seed));
  std::snprintf(g_crash_note, sizeof(g_crash_note), "%s", note.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"pact-sim: deterministic simulation of Pact's two-phase commit"};
  uint64_t seeds = 0;
  uint64_t start_seed = 1;
  uint64_t seed = 0;
  bool trace = false;
  bool verbose = false;
  bool process_crashes = false;
  auto* seeds_opt = app.add_option("--seeds", seeds, "number of seeds to run");
  app.add_option("--start-seed", start_seed, "first seed of --seeds")->needs(seeds_opt);
  auto* seed_opt = app.add_option("--seed", seed, "run this one seed")->excludes(seeds_opt);
  app.add_flag("--trace", trace, "print the run event by event")->needs(seed_opt);
  app.add_flag("--verbose", verbose, "print a summary line per seed");
  app.add_flag("--process-crashes", process_crashes,
               "also crash processes without a power loss (see tests/sim/README.md)");
  CLI11_PARSE(app, argc, argv);
  if (seeds == 0 && seed_opt->count() == 0) {
    std::fputs("give --seeds N or --seed S (see --help)\n", stderr);
    return 2;
  }
  const std::string program = argv[0];
  if (process_crashes) g_extra_flags = " --process-crashes";
  // The WAL logs its recoveries (torn tails cut off) at warning level: thousands per run.
  spdlog::set_level(spdlog::level::off);
  std::signal(SIGABRT, OnAbort);

  if (seed_opt->count() > 0) {
    NoteSeed(program, seed);
    const pact::sim::SimResult r = pact::sim::RunSimulation(
        {.seed = seed, .trace = trace, .echo_trace = trace, .process_crashes = process_crashes});
    std::printf("seed %llu: %s\n", static_cast<unsigned long long>(seed), r.summary.c_str());
    for (const std::string& v : r.violations) std::printf("  violation: %s\n", v.c_str());
    std::printf("seeds=1 violations=%d\n", r.violations.empty() ? 0 : 1);
    return r.violations.empty() ? 0 : 1;
  }

  uint64_t failing = 0;
  for (uint64_t s = start_seed; s < start_seed + seeds; ++s) {
    NoteSeed(program, s);
    const pact::sim::SimResult r =
        pact::sim::RunSimulation({.seed = s, .process_crashes = process_crashes});
    if (verbose) {
      std::printf("seed %llu: %s\n", static_cast<unsigned long long>(s), r.summary.c_str());
    }
    if (!r.violations.empty()) {
      ++failing;
      std::printf("seed %llu FAILED: %s\n  replay: %s\n", static_cast<unsigned long long>(s),
                  r.violations.front().c_str(), ReplayCommand(program, s).c_str());
      std::fflush(stdout);
    }
  }
  std::printf("seeds=%llu violations=%llu\n", static_cast<unsigned long long>(seeds),
              static_cast<unsigned long long>(failing));
  return failing == 0 ? 0 : 1;
}
