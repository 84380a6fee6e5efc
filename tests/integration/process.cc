#include "tests/integration/process.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <fstream>
#include <sstream>

extern char** environ;

namespace pact::integration {
namespace {

// Exit code of a child that could not become the program (by convention of shells).
constexpr int kExecFailedExitCode = 127;
constexpr size_t kUserRecordBytesMax = 1 << 16;
constexpr int kGroupsMax = 256;

std::string ErrnoText(int err) { return std::string(strerror(err)); }

// Writes "<what>: errno <n>" to fd 2 and exits, without allocating or locking: used only
// between fork and exec, where strerror and fmt are not async-signal-safe.
[[noreturn]] void ChildFail(const char* what) {
  unsigned err = static_cast<unsigned>(errno);
  char digits[16];
  size_t start = sizeof(digits);
  do {
    digits[--start] = static_cast<char>('0' + err % 10);
    err /= 10;
  } while (err != 0 && start > 0);
  (void)!write(2, what, strlen(what));
  (void)!write(2, ": errno ", 8);
  (void)!write(2, digits + start, sizeof(digits) - start);
  (void)!write(2, "\n", 1);
  _exit(kExecFailedExitCode);
}

// In the child: become `run_as`. Groups first, then gid, then uid, since dropping the uid
// first would take away the right to change the others.
void ChildSwitchUser(const RunAs& run_as, const gid_t* groups, size_t group_count) {
  if (!run_as.switch_user) return;
  if (setgroups(group_count, groups) != 0) ChildFail("setgroups");
  if (setgid(run_as.gid) != 0) ChildFail("setgid");
  if (setuid(run_as.uid) != 0) ChildFail("setuid");
}

// Parses /proc/<pid>/stat: "pid (comm) state ppid ...". comm may hold spaces and parentheses,
// so the fields start after the last ')'.
struct ProcStat {
  char state = '?';
  pid_t ppid = 0;
};

std::optional<ProcStat> ReadProcStat(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  if (!in) return std::nullopt;
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  const size_t paren = text.rfind(')');
  if (paren == std::string::npos) return std::nullopt;
  std::istringstream fields(text.substr(paren + 1));
  ProcStat stat;
  if (!(fields >> stat.state >> stat.ppid)) return std::nullopt;
  return stat;
}

Result<std::optional<int>> DecodeWaitStatus(pid_t pid, int wait_status) {
  if (WIFEXITED(wait_status)) return std::optional<int>(WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) {
    return Status::Aborted(fmt::format("process {} was ended by signal {} ({})", pid,
                                       WTERMSIG(wait_status), strsignal(WTERMSIG(wait_status))));
  }
  return Status::IoError(fmt::format("process {}: unexpected wait status {}", pid, wait_status));
}

}  // namespace

Result<RunAs> RunAs::ForUser(std::string_view user) {
  const std::string name(user);
  passwd entry{};
  passwd* found = nullptr;
  std::vector<char> buffer(kUserRecordBytesMax);
  const int err = getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
  if (err != 0) {
    return Status::IoError(fmt::format("looking up user '{}': {}", name, ErrnoText(err)));
  }
  if (found == nullptr) return Status::NotFound(fmt::format("there is no user '{}'", name));
  RunAs run_as;
  run_as.switch_user = true;
  run_as.name = name;
  run_as.uid = entry.pw_uid;
  run_as.gid = entry.pw_gid;
  int group_count = kGroupsMax;
  run_as.groups.resize(kGroupsMax);
  if (getgrouplist(name.c_str(), entry.pw_gid, run_as.groups.data(), &group_count) < 0) {
    return Status::IoError(fmt::format("user '{}' is in more than {} groups", name, kGroupsMax));
  }
  run_as.groups.resize(group_count);
  return run_as;
}

Result<pid_t> Spawn(const SpawnOptions& options) {
  PACT_CHECK(!options.argv.empty(), "Spawn needs a program");
  // Everything the child needs is prepared before fork: after fork only async-signal-safe
  // calls are allowed (another thread may hold the allocator's lock).
  std::vector<char*> argv;
  for (const std::string& arg : options.argv) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const std::string& var : options.env) envp.push_back(const_cast<char*>(var.c_str()));
  envp.push_back(nullptr);

  const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) return Status::IoError("opening /dev/null: " + ErrnoText(errno));
  int out_fd = -1;
  if (!options.output_path.empty()) {
    out_fd = open(options.output_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out_fd < 0) {
      const int err = errno;
      close(null_fd);
      return Status::IoError(fmt::format("opening {} for the output of {}: {}", options.output_path,
                                         options.argv[0], ErrnoText(err)));
    }
  }

  const pid_t pid = fork();
  if (pid == 0) {
    // dup2 clears close-on-exec on the copies, so exactly fds 0-2 reach the program.
    if (dup2(null_fd, 0) < 0) ChildFail("dup2 stdin");
    if (out_fd >= 0 && (dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0)) ChildFail("dup2 output");
    // Descriptors that the parent opened without close-on-exec (sockets of the test, pipes of
    // ctest) must not leak into a server that outlives us: a leaked pipe would keep ctest
    // waiting for the end of the test's output.
    close_range(3, ~0U, 0);
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, nullptr);
    if (options.new_session && setsid() < 0) ChildFail("setsid");
    ChildSwitchUser(options.run_as, options.run_as.groups.data(), options.run_as.groups.size());
    execve(argv[0], argv.data(), envp.data());
    ChildFail(argv[0]);
  }
  const int fork_errno = errno;
  close(null_fd);
  if (out_fd >= 0) close(out_fd);
  if (pid < 0) {
    return Status::IoError(fmt::format("fork for {}: {}", options.argv[0], ErrnoText(fork_errno)));
  }
  return pid;
}

Result<int> WaitForChild(pid_t pid) {
  int wait_status = 0;
  pid_t done;
  do {
    done = waitpid(pid, &wait_status, 0);
  } while (done < 0 && errno == EINTR);
  if (done < 0) {
    return Status::IoError(fmt::format("waiting for process {}: {}", pid, ErrnoText(errno)));
  }
  PACT_ASSIGN_OR_RETURN(std::optional<int> code, DecodeWaitStatus(pid, wait_status));
  return *code;
}

Result<std::optional<int>> PollChild(pid_t pid) {
  int wait_status = 0;
  const pid_t done = waitpid(pid, &wait_status, WNOHANG);
  if (done == 0) return std::optional<int>();
  if (done < 0) {
    return Status::IoError(fmt::format("waiting for process {}: {}", pid, ErrnoText(errno)));
  }
  return DecodeWaitStatus(pid, wait_status);
}

Result<int> RunToCompletion(const SpawnOptions& options) {
  PACT_ASSIGN_OR_RETURN(pid_t pid, Spawn(options));
  return WaitForChild(pid);
}

bool ProcessGone(pid_t pid) {
  const std::optional<ProcStat> stat = ReadProcStat(pid);
  return !stat.has_value() || stat->state == 'Z' || stat->state == 'X';
}

bool ProcessStopped(pid_t pid) {
  const std::optional<ProcStat> stat = ReadProcStat(pid);
  return stat.has_value() && (stat->state == 'T' || stat->state == 't');
}

std::vector<pid_t> ChildrenOf(pid_t pid) {
  std::vector<pid_t> children;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return children;
  while (const dirent* entry = readdir(proc)) {
    const std::string_view name(entry->d_name);
    pid_t candidate = 0;
    auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), candidate);
    if (ec != std::errc() || end != name.data() + name.size()) continue;
    const std::optional<ProcStat> stat = ReadProcStat(candidate);
    if (stat.has_value() && stat->ppid == pid) children.push_back(candidate);
  }
  closedir(proc);
  return children;
}

Result<bool> CanUseFolderAs(const RunAs& run_as, const std::string& path) {
  const pid_t pid = fork();
  if (pid == 0) {
    ChildSwitchUser(run_as, run_as.groups.data(), run_as.groups.size());
    _exit(access(path.c_str(), R_OK | W_OK | X_OK) == 0 ? 0 : 1);
  }
  if (pid < 0) return Status::IoError("fork: " + ErrnoText(errno));
  PACT_ASSIGN_OR_RETURN(int code, WaitForChild(pid));
  if (code == kExecFailedExitCode) {
    return Status::IoError(fmt::format("could not switch to user '{}'", run_as.name));
  }
  return code == 0;
}

std::vector<std::string> EnvironmentForPostgres() {
  std::vector<std::string> env;
  for (char** var = environ; *var != nullptr; ++var) {
    const std::string_view text(*var);
    if (text.starts_with("PG") || text.starts_with("LC_") || text.starts_with("LANG")) continue;
    env.emplace_back(text);
  }
  env.emplace_back("LC_ALL=C");
  env.emplace_back("LANG=C");
  return env;
}

}  // namespace pact::integration
