// Runs a program the way a user would, for end-to-end tests of the binaries.

#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace wmeta::testing {

struct RunResult {
  // The exit status, or 128 + signal number when killed by a signal.
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs argv[0] (looked up on PATH when it has no slash) with `args`, feeding
// `input` on stdin, and waits for it to end.
RunResult Run(const std::vector<std::string>& argv,
              const std::string& input = {});

// A child process whose stdout is read line by line, for tests that kill it
// midway.
class Child {
 public:
  // Starts argv (stdin /dev/null; stderr inherited, or appended to the file
  // `stderr_path` when given).
  explicit Child(const std::vector<std::string>& argv,
                 const std::string& stderr_path = {});
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // The next line of stdout without its newline; nullopt at end of output or
  // when no line arrives before `deadline`.
  std::optional<std::string> ReadLine(
      std::chrono::steady_clock::time_point deadline);

  // Sends `signal`, waits for the child and returns its exit code (as
  // RunResult's).
  int Kill(int signal);
  // Waits for the child to end and returns its exit code.
  int Wait();
  // The exit code if the child has ended, without waiting.
  std::optional<int> Poll();

  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string buffer_;
  std::optional<int> exit_code_;
};

}  // namespace wmeta::testing
