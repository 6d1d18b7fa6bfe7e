// The engine client and the collector against a fake engine on a unix socket
// in a temp dir, for what a real daemon does not do on demand: hang, send an
// endless chunk header or line, end the stream; and for stop and deadlines.

#include "engine_client.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "temp_dir.h"
#include "test_sink.h"
#include "wmeta/docker/collector.h"

namespace wmeta::docker {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// How long a test waits for what must happen: a deadline for a loaded
// machine, not an expectation of how long it takes.
constexpr auto kPatience = std::chrono::seconds(30);

void SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return;
    data.remove_prefix(static_cast<size_t>(n));
  }
}

std::string Chunk(std::string_view data) {
  char size[32];
  std::snprintf(size, sizeof(size), "%zx\r\n", data.size());
  return size + std::string(data) + "\r\n";
}

constexpr std::string_view kStreamHeaders =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    "Transfer-Encoding: chunked\r\n\r\n";

// Serves each connection on a thread of its own with `serve(fd, request
// line)`; connections stay open until `serve` returns or the engine goes.
class FakeEngine {
 public:
  using Serve = std::function<void(int fd, const std::string& request)>;

  FakeEngine(std::string path, Serve serve)
      : path_(std::move(path)), serve_(std::move(serve)) {
    listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::snprintf(address.sun_path, sizeof(address.sun_path), "%s",
                  path_.c_str());
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address),
                     sizeof(address)),
              0);
    EXPECT_EQ(::listen(listen_fd_, 16), 0);
    acceptor_ = std::thread([this] { Accept(); });
  }

  ~FakeEngine() {
    ::shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    {
      std::lock_guard lock(mu_);
      for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : threads_) t.join();
    for (int fd : fds_) ::close(fd);
    ::close(listen_fd_);
  }

  const std::string& path() const { return path_; }

 private:
  void Accept() {
    while (true) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      std::lock_guard lock(mu_);
      fds_.push_back(fd);
      threads_.emplace_back([this, fd] {
        std::string request;
        char c;
        // The request line and headers, up to the blank line.
        while (request.find("\r\n\r\n") == std::string::npos &&
               ::recv(fd, &c, 1, 0) == 1) {
          request += c;
        }
        serve_(fd, request.substr(0, request.find("\r\n")));
        // Hold the connection until the client or the engine closes it.
        while (::recv(fd, &c, 1, 0) > 0) {
        }
      });
    }
  }

  std::string path_;
  Serve serve_;
  int listen_fd_ = -1;
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<int> fds_;
  std::vector<std::thread> threads_;
};

class EngineClientTest : public ::testing::Test {
 protected:
  std::string Socket() const { return dir_.Sub("engine.sock"); }
  testing::TempDir dir_;
  std::stop_source stop_;
};

TEST_F(EngineClientTest, AHungDaemonMissesTheDeadline) {
  FakeEngine engine(Socket(), [](int, const std::string&) {});
  EngineClient client(engine.path(), milliseconds(200), stop_.get_token());
  // The engine neither answers nor closes, and nothing stops the client:
  // only its own timeout can end the call, so that the call returning at all
  // (after the timeout, for the timeout) is the deadline working.
  auto start = Clock::now();
  Result<HttpResponse> r = client.Get("/version");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_GE(Clock::now() - start, milliseconds(200));
  EXPECT_NE(r.error().message.find("no answer to GET /version"),
            std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("timeout"), std::string::npos)
      << r.error().message;
}

TEST_F(EngineClientTest, NoDaemonIsAClearError) {
  EngineClient client(Socket(), milliseconds(200), stop_.get_token());
  Result<HttpResponse> r = client.Get("/version");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("cannot connect to " + Socket()),
            std::string::npos)
      << r.error().message;
  EngineClient too_long(std::string(200, 'x'), milliseconds(200),
                        stop_.get_token());
  EXPECT_EQ(too_long.Get("/version").error().code, ErrorCode::kInvalidArgument);
}

TEST_F(EngineClientTest, LinesSplitAcrossChunksAndIdleDeadlines) {
  std::atomic<bool> more{false};
  FakeEngine engine(Socket(), [&](int fd, const std::string&) {
    SendAll(fd, std::string(kStreamHeaders) + Chunk("{\"a\"") +
                    Chunk(":1}\n\n{\"b\":2}\r\n{\"c\""));
    while (!more) std::this_thread::yield();
    SendAll(fd, Chunk(":3}\n") + "0\r\n\r\n");
  });
  EngineClient client(engine.path(), milliseconds(2000), stop_.get_token());
  ASSERT_TRUE(client.OpenStream("/events"));
  auto soon = [] { return Clock::now() + kPatience; };
  EXPECT_EQ(client.NextLine(soon()).value(), "{\"a\":1}");
  EXPECT_TRUE(client.LineReady());
  EXPECT_EQ(client.NextLine(soon()).value(), "{\"b\":2}");
  EXPECT_FALSE(client.LineReady());
  // Half a line, then nothing: an idle stream is not an error.
  auto start = Clock::now();
  auto idle = client.NextLine(Clock::now() + milliseconds(100));
  ASSERT_TRUE(idle) << idle.error().message;
  EXPECT_EQ(*idle, std::nullopt);
  EXPECT_GE(Clock::now() - start, milliseconds(100));
  more = true;
  EXPECT_EQ(client.NextLine(soon()).value(), "{\"c\":3}");
  auto end = client.NextLine(soon());
  ASSERT_FALSE(end);
  EXPECT_NE(end.error().message.find("ended the stream"), std::string::npos)
      << end.error().message;
}

TEST_F(EngineClientTest, EndlessFramingOrLinesFailTheStreamBounded) {
  FakeEngine endless_chunk(Socket(), [](int fd, const std::string&) {
    SendAll(fd, std::string(kStreamHeaders) + "1");
    SendAll(fd, std::string(8 << 20, 'f'));
  });
  EngineClient a(endless_chunk.path(), milliseconds(2000), stop_.get_token());
  ASSERT_TRUE(a.OpenStream("/events"));
  auto r = a.NextLine(Clock::now() + kPatience);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("the stream broke"), std::string::npos)
      << r.error().message;

  testing::TempDir other;
  FakeEngine endless_line(other.Sub("e.sock"), [](int fd, const std::string&) {
    SendAll(fd, kStreamHeaders);
    std::string piece(64 << 10, 'x');
    for (int i = 0; i < 40; ++i) SendAll(fd, Chunk(piece));
  });
  EngineClient b(endless_line.path(), milliseconds(2000), stop_.get_token());
  ASSERT_TRUE(b.OpenStream("/events"));
  auto line = b.NextLine(Clock::now() + kPatience);
  ASSERT_FALSE(line);
  EXPECT_NE(line.error().message.find("exceeds"), std::string::npos)
      << line.error().message;
}

TEST_F(EngineClientTest, StopEndsAWaitAtOnce) {
  // Half a line far larger than the engine's small send buffer, then the
  // stop: sending it ends once the client has read nearly all of it, which it
  // does only inside NextLine (OpenStream reads ahead far less), so the stop
  // comes while NextLine waits for the rest of the line. Were the buffers
  // larger than asked, the stop could come before NextLine began, which
  // must end it just as well.
  FakeEngine engine(Socket(), [this](int fd, const std::string&) {
    int small = 4096;
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    SendAll(fd, std::string(kStreamHeaders) +
                    Chunk(std::string(EngineClient::kMaxLine / 2, 'x')));
    stop_.request_stop();
  });
  EngineClient client(engine.path(), milliseconds(2000), stop_.get_token());
  ASSERT_TRUE(client.OpenStream("/events"));
  // Its deadline is an hour away and the stream stays open: only the stop
  // can end this wait.
  auto r = client.NextLine(Clock::now() + std::chrono::hours(1));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(r.error().message.find("stopped"), std::string::npos)
      << r.error().message;
  EXPECT_FALSE(client.Get("/version"));
}

// What the collector reports to its supervisor.
class Reports final : public collectors::Reporter {
 public:
  void Pulled(const Status& status, Clock::duration) override {
    std::lock_guard lock(mu_);
    statuses_.push_back(status);
    changed_.notify_all();
  }
  std::vector<Status> statuses() const {
    std::lock_guard lock(mu_);
    return statuses_;
  }
  // Waits until `n` pulls were reported; false after kPatience.
  bool WaitFor(size_t n) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, kPatience,
                             [&] { return statuses_.size() >= n; });
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::vector<Status> statuses_;
};

// Counts the requests a FakeEngine was sent.
class Requests {
 public:
  void Add() {
    std::lock_guard lock(mu_);
    ++count_;
    changed_.notify_all();
  }
  // Waits until `n` requests arrived; false after kPatience.
  bool WaitFor(int n) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, kPatience, [&] { return count_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  int count_ = 0;
};

TEST_F(EngineClientTest, AHungDaemonMakesTheCollectorUnhealthyNotStuck) {
  FakeEngine engine(Socket(), [](int, const std::string&) {});
  DockerOptions options;
  options.socket = engine.path();
  options.timeout = milliseconds(100);
  options.reconnect = milliseconds(10);
  auto collector = NewDockerCollector(options);
  testing::TestSink sink;
  Reports reports;
  std::jthread run([&](std::stop_token stop) {
    EXPECT_TRUE(collector->Run(sink, reports, stop));
  });
  ASSERT_TRUE(reports.WaitFor(2));
  auto statuses = reports.statuses();
  ASSERT_GE(statuses.size(), 2u);
  EXPECT_FALSE(statuses[0]);
  EXPECT_NE(statuses[0].error().message.find("/version"), std::string::npos)
      << statuses[0].error().message;
  // The stop ends the run (which would otherwise go on forever).
  run.request_stop();
  run.join();

  // Nor does a stop wait for a request the daemon never answers: with a
  // timeout far beyond the test's, only the stop can end this run once its
  // first request reached the engine.
  testing::TempDir other;
  Requests requests;
  FakeEngine hung(other.Sub("e.sock"),
                  [&](int, const std::string&) { requests.Add(); });
  options.socket = hung.path();
  options.timeout = std::chrono::hours(1);
  auto patient = NewDockerCollector(options);
  Reports unanswered;
  std::jthread waiting([&](std::stop_token stop) {
    EXPECT_TRUE(patient->Run(sink, unanswered, stop));
  });
  ASSERT_TRUE(requests.WaitFor(1));
  waiting.request_stop();
  waiting.join();
  // Stopped, not failed: the request never ended by itself.
  EXPECT_TRUE(unanswered.statuses().empty());
  EXPECT_TRUE(sink.Emits().empty());
}

}  // namespace
}  // namespace wmeta::docker
