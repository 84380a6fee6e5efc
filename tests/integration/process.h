// Child processes for integration tests: spawn a program (optionally as another user, in its own
// session, with its output appended to a file), wait for it, and watch processes we did not
// start through /proc. Linux only, like the rest of the integration harness.
//
// Thread-safety: every function is safe to call from any thread; Spawn forks, and the child runs
// only async-signal-safe calls before exec, so it is safe in a multi-threaded process.
#ifndef PACT_TESTS_INTEGRATION_PROCESS_H_
#define PACT_TESTS_INTEGRATION_PROCESS_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace pact::integration {

// Who a child runs as. The default runs it as the current user.
struct RunAs {
  bool switch_user = false;
  std::string name;  // for messages
  uid_t uid = 0;
  gid_t gid = 0;              // primary group
  std::vector<gid_t> groups;  // supplementary groups, as initgroups(3) would set them

  // Looks `user` up in the user database. NotFound when there is no such user.
  static Result<RunAs> ForUser(std::string_view user);
};

struct SpawnOptions {
  std::vector<std::string> argv;  // argv[0] is the absolute path of the program
  std::vector<std::string> env;   // "NAME=value": the child's whole environment
  RunAs run_as;
  // stdout and stderr are appended to this file (created mode 0644); stdin is /dev/null.
  std::string output_path;
  // Run the child in a session of its own (setsid), so that signals meant for our process group
  // or terminal do not reach it and it may outlive us.
  bool new_session = false;
};

// Starts the program and returns its pid. The caller must reap it (WaitForChild, PollChild) or
// let it outlive the process. Fails with IoError when fork fails or the output file cannot be
// opened; a failed exec shows up as exit code 127 with the reason in the output file.
Result<pid_t> Spawn(const SpawnOptions& options);

// Waits for a child of ours to end. Returns its exit code; an error when a signal ended it.
Result<int> WaitForChild(pid_t pid);

// Like WaitForChild but does not block: nullopt while the child still runs.
Result<std::optional<int>> PollChild(pid_t pid);

// Spawns and waits. Returns the exit code.
Result<int> RunToCompletion(const SpawnOptions& options);

// True when `pid` no longer runs: no such process, or a zombie that its parent has not reaped
// (a process whose parent died is re-parented to pid 1, which in some containers never reaps).
bool ProcessGone(pid_t pid);

// True when `pid` is stopped (SIGSTOP), so it can no longer fork.
bool ProcessStopped(pid_t pid);

// The pids whose parent is `pid`, from /proc.
std::vector<pid_t> ChildrenOf(pid_t pid);

// True when the user `run_as` can read, write and enter `path` (checked in a child that has
// switched to that user, so every parent folder's permissions count).
Result<bool> CanUseFolderAs(const RunAs& run_as, const std::string& path);

// This process's environment without PG* variables (which would steer PostgreSQL tools to some
// other server) and with the C locale (so server messages are stable), for PostgreSQL tools.
std::vector<std::string> EnvironmentForPostgres();

}  // namespace pact::integration

#endif  // PACT_TESTS_INTEGRATION_PROCESS_H_
