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
  auto start = Clock::now();
  Result<HttpResponse> r = client.Get("/version");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(3));
  EXPECT_NE(r.error().message.find("no answer to GET /version"),
            std::string::npos)
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
  auto soon = [] { return Clock::now() + std::chrono::seconds(5); };
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
  auto r = a.NextLine(Clock::now() + std::chrono::seconds(10));
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
  auto line = b.NextLine(Clock::now() + std::chrono::seconds(10));
  ASSERT_FALSE(line);
  EXPECT_NE(line.error().message.find("exceeds"), std::string::npos)
      << line.error().message;
}

TEST_F(EngineClientTest, StopEndsAWaitAtOnce) {
  FakeEngine engine(Socket(), [](int fd, const std::string&) {
    SendAll(fd, kStreamHeaders);
  });
  EngineClient client(engine.path(), milliseconds(2000), stop_.get_token());
  ASSERT_TRUE(client.OpenStream("/events"));
  // Most likely while NextLine waits; a stop before it began must end it
  // just as well.
  std::jthread stopper([&] {
    std::this_thread::sleep_for(milliseconds(100));
    stop_.request_stop();
  });
  auto start = Clock::now();
  auto r = client.NextLine(Clock::now() + std::chrono::hours(1));
  EXPECT_FALSE(r);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));
  EXPECT_FALSE(client.Get("/version"));
}

// What the collector reports to its supervisor.
class Reports final : public collectors::Reporter {
 public:
  void Pulled(const Status& status, Clock::duration) override {
    std::lock_guard lock(mu_);
    statuses_.push_back(status);
  }
  std::vector<Status> statuses() const {
    std::lock_guard lock(mu_);
    return statuses_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<Status> statuses_;
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
  auto deadline = Clock::now() + std::chrono::seconds(10);
  while (reports.statuses().size() < 2 && Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  auto statuses = reports.statuses();
  ASSERT_GE(statuses.size(), 2u);
  EXPECT_FALSE(statuses[0]);
  EXPECT_NE(statuses[0].error().message.find("/version"), std::string::npos)
      << statuses[0].error().message;
  auto start = Clock::now();
  run.request_stop();
  run.join();
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));
  EXPECT_TRUE(sink.Emits().empty());
}

}  // namespace
}  // namespace wmeta::docker
