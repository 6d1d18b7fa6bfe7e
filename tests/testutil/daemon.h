// Helpers for tests that run the wmetad binary: wait with a deadline, start a
// daemon on a temp dir and find its ports, talk HTTP to it. Header-only: the
// including test target defines WMETAD and WMETA_CLI (the binaries' paths).
//
// Thread-safety: none needed; one test thread.

#pragma once

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "subprocess.h"
#include "temp_dir.h"

namespace wmeta::testing {

using Clock = std::chrono::steady_clock;

inline Clock::time_point In(std::chrono::seconds seconds) {
  return Clock::now() + seconds;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Waits for `condition` with a deadline, checking every few milliseconds.
template <typename F>
bool Eventually(F condition,
                std::chrono::seconds limit = std::chrono::seconds(30)) {
  auto deadline = In(limit);
  while (!condition()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// One wmetad on a temp dir: socket in the dir, HTTP on a free loopback port,
// its log in a file (shown when a test fails).
class Daemon {
 public:
  // The socket is beside the data dir, or in it (wmetad's default) with
  // `default_socket`.
  Daemon(const testing::TempDir& dir, std::vector<std::string> extra = {},
         bool default_socket = false)
      : data_(dir.Sub("data")),
        socket_(default_socket ? data_ + "/wmetad.sock"
                               : dir.Sub("wmetad.sock")),
        log_(dir.Sub("wmetad.log")),
        extra_(std::move(extra)) {}

  // Starts it and waits until it serves.
  ::testing::AssertionResult Start() {
    std::vector<std::string> argv{WMETAD,        "--data-dir",   data_,
                                  "--socket",    socket_,        "--http",
                                  "127.0.0.1:0", "--collectors", ""};
    argv.insert(argv.end(), extra_.begin(), extra_.end());
    size_t seen = ReadFile(log_).size();
    child_ = std::make_unique<Child>(argv, log_);
    std::string line;
    bool up = Eventually([&] {
      std::string text = ReadFile(log_).substr(seen);
      auto at = text.find("serving on ");
      if (at == std::string::npos) return false;
      auto end = text.find('\n', at);
      if (end == std::string::npos) return false;
      line = text.substr(at, end - at);
      return true;
    });
    if (!up) {
      return ::testing::AssertionFailure() << "wmetad did not start:\n"
                                           << ReadFile(log_);
    }
    if (auto at = line.find("http 127.0.0.1:"); at != std::string::npos) {
      http_port_ = std::stoi(line.substr(at + 15));
    }
    if (auto at = line.find("tcp "); at != std::string::npos) {
      tcp_ = line.substr(at + 4, line.find_first_of(", ", at + 4) - at - 4);
    }
    return ::testing::AssertionSuccess();
  }

  int Stop(int signal) {
    int code = child_->Kill(signal);
    child_.reset();
    return code;
  }

  // The wmeta CLI against this daemon's socket.
  RunResult Cli(std::vector<std::string> args, const std::string& input = {}) {
    args.insert(args.begin(), {WMETA_CLI, "--socket", socket_});
    return Run(args, input);
  }

  std::vector<std::string> CliArgs(std::vector<std::string> args) const {
    args.insert(args.begin(), {WMETA_CLI, "--socket", socket_});
    return args;
  }

  const std::string& data() const { return data_; }
  const std::string& socket() const { return socket_; }
  const std::string& tcp() const { return tcp_; }
  int http_port() const { return http_port_; }
  std::string log() const { return ReadFile(log_); }

 private:
  std::string data_;
  std::string socket_;
  std::string log_;
  std::vector<std::string> extra_;
  std::unique_ptr<Child> child_;
  int http_port_ = 0;
  std::string tcp_;
};

inline int ConnectTcp(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) !=
      0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Reads whatever arrives until the peer closes, `deadline`, or `done` says
// what came is enough.
inline std::string ReadToEnd(
    int fd, Clock::time_point deadline,
    const std::function<bool(const std::string&)>& done = nullptr) {
  std::string out;
  while (!done || !done(out)) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - Clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char buffer[65536];
    ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) break;
    out.append(buffer, static_cast<size_t>(n));
  }
  return out;
}

// The body of an HTTP response (de-chunked when chunked).
inline std::string BodyOf(const std::string& response) {
  auto at = response.find("\r\n\r\n");
  if (at == std::string::npos) return "";
  std::string body = response.substr(at + 4);
  if (response.substr(0, at).find("chunked") == std::string::npos) return body;
  std::string out;
  size_t pos = 0;
  while (pos < body.size()) {
    auto end = body.find("\r\n", pos);
    if (end == std::string::npos) break;
    size_t size = std::stoul(body.substr(pos, end - pos), nullptr, 16);
    if (size == 0) break;
    out += body.substr(end + 2, size);
    pos = end + 2 + size + 2;
  }
  return out;
}

// GET `path` from the HTTP server on loopback `port`; the whole response,
// headers included ("" when nothing answered within 30 s).
inline std::string HttpGet(int port, const std::string& path) {
  int fd = ConnectTcp(port);
  if (fd < 0) return "";
  std::string request =
      "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string response = ReadToEnd(fd, In(std::chrono::seconds(30)));
  ::close(fd);
  return response;
}

}  // namespace wmeta::testing
