// The wmetad binary, run the way an operator runs it, with the wmeta CLI and
// raw protocol clients talking to it over its unix socket, TCP and HTTP.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <thread>

#include "daemon.h"
#include "events.h"
#include "subprocess.h"
#include "temp_dir.h"
#include "wmeta/log/log.h"
#include "wmeta/schema/wire.h"

namespace wmeta {
namespace {

namespace bj = boost::json;
namespace fbw = fb::wire;
using testing::BodyOf;
using testing::Clock;
using testing::ConnectTcp;
using testing::Daemon;
using testing::Eventually;
using testing::In;
using testing::ReadFile;
using testing::ReadToEnd;
using testing::RunResult;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string ContainerJson(const std::string& id, const std::string& name) {
  return R"({"source":"runtime","entity":{"kind":"container","id":")" + id +
         R"(","name":")" + name + R"("}})" + "\n";
}

int ConnectUnix(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof(address.sun_path), "%s", path.c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) !=
      0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// A hand-driven protocol client: sends any bytes, reads frames.
class RawClient {
 public:
  explicit RawClient(int fd) : fd_(fd) {}
  ~RawClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }

  void Send(std::span<const uint8_t> bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
      ssize_t n =
          ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;  // the server may close first: tests read why
      sent += static_cast<size_t>(n);
    }
  }
  void Send(std::string_view bytes) {
    Send(std::span(reinterpret_cast<const uint8_t*>(bytes.data()),
                   bytes.size()));
  }

  void Hello(uint32_t version = wire::kProtocolVersion,
             const std::string& token = {}) {
    auto& fbb = builder_.fbb();
    auto body = fbw::CreateHelloDirect(
        fbb, version, token.empty() ? nullptr : token.c_str(), "wmetad_test");
    Send(builder_.Finish(0, fbw::Body::Hello, body.Union()));
  }

  // The next frame, verified; nullopt when the connection closed (or nothing
  // came before the deadline).
  std::optional<std::vector<uint8_t>> Next(
      Clock::time_point deadline = In(std::chrono::seconds(30))) {
    while (true) {
      if (pending_.size() >= 4) {
        uint32_t length =
            wire::FrameLength(std::span<const uint8_t, 4>(pending_.data(), 4));
        if (pending_.size() >= 4 + size_t{length}) {
          std::vector<uint8_t> frame(pending_.begin(),
                                     pending_.begin() + 4 + length);
          pending_.erase(pending_.begin(), pending_.begin() + 4 + length);
          return frame;
        }
      }
      std::string more = ReadToEnd(
          fd_, deadline, [](const std::string& got) { return !got.empty(); });
      if (more.empty()) return std::nullopt;
      pending_.insert(pending_.end(), more.begin(), more.end());
    }
  }

  // True when the server closed the connection (after any frames).
  bool Closed(Clock::time_point deadline = In(std::chrono::seconds(30))) {
    while (Next(deadline)) {
    }
    char byte;
    return ::recv(fd_, &byte, 1, MSG_DONTWAIT) == 0;
  }

  wire::FrameBuilder& builder() { return builder_; }
  int fd() const { return fd_; }

 private:
  int fd_;
  std::vector<uint8_t> pending_;
  wire::FrameBuilder builder_;
};

const fbw::Frame* FrameOf(const std::vector<uint8_t>& bytes) {
  auto frame = wire::VerifyFrame(bytes);
  return frame ? *frame : nullptr;
}

// The error code name an Error frame carries, or "" for another frame.
std::string ErrorIn(const std::optional<std::vector<uint8_t>>& bytes) {
  if (!bytes) return "(closed)";
  const fbw::Frame* frame = FrameOf(*bytes);
  if (frame == nullptr || frame->body_type() != fbw::Body::Error) return "";
  return std::string(
      ErrorCodeName(wire::ToError(*frame->body_as_Error()).code));
}

class WmetadTest : public ::testing::Test {
 protected:
  testing::TempDir dir_;
};

TEST_F(WmetadTest, PushedEventsReachSubscribersOverTheSocket) {
  Daemon daemon(dir_);
  ASSERT_TRUE(daemon.Start());
  testing::Child watch(daemon.CliArgs({"watch", "--json", "--limit", "3"}));
  auto first = watch.ReadLine(In(std::chrono::seconds(30)));
  ASSERT_TRUE(first) << daemon.log();
  EXPECT_EQ(*first, R"({"snapshot_end":0})");

  RunResult push = daemon.Cli(
      {"push"},
      ContainerJson("c1", "web") + ContainerJson("c2", "db") +
          R"({"source":"runtime","type":"unset","entity":{"kind":"container","id":"c1"}})"
          "\n");
  ASSERT_EQ(push.exit_code, 0) << push.err;
  EXPECT_EQ(push.out,
            "appended 3 events at offsets 1..3 (durability sync: on disk)\n");

  std::vector<std::pair<int64_t, std::string>> seen;
  for (int i = 0; i < 3; ++i) {
    auto line = watch.ReadLine(In(std::chrono::seconds(30)));
    ASSERT_TRUE(line) << daemon.log();
    auto event = bj::parse(*line);
    seen.emplace_back(
        event.at("offset").as_int64(),
        std::string(event.at("type").as_string()) + " " +
            std::string(event.at("event").at("entity").at("id").as_string()));
  }
  EXPECT_EQ(seen, (std::vector<std::pair<int64_t, std::string>>{
                      {1, "set c1"}, {2, "set c2"}, {3, "unset c1"}}));
  EXPECT_EQ(watch.Wait(), 0);
}

TEST_F(WmetadTest, EveryCommandAnswersTheSameThroughTheDaemon) {
  Daemon daemon(dir_);
  ASSERT_TRUE(daemon.Start());
  std::string events =
      ContainerJson("c1", "web") + ContainerJson("c2", "db") +
      R"({"source":"node_orchestrator","entity":{"kind":"kubernetes_pod","id":"p1","name":"web-0","namespace":"default","labels":{"app":"web"}}})"
      "\n" +
      R"({"source":"runtime","entity":{"kind":"container","id":"c1","name":"web2"}})"
      "\n" +
      R"({"source":"runtime","type":"unset","entity":{"kind":"container","id":"c2"}})"
      "\n";
  ASSERT_EQ(daemon.Cli({"push"}, events).exit_code, 0);

  const std::vector<std::vector<std::string>> commands{
      {"log", "--json"},
      {"log"},
      {"list"},
      {"list", "--json", "--sources"},
      {"list", "--kind", "kubernetes_pod", "--selector", "app=web"},
      {"list", "--at", "2", "--json"},
      {"get", "container/c1", "--json", "--sources"},
      {"get", "container/c1", "--at", "1"},
      {"history", "container/c1"},
      {"history", "container/c2", "--json"},
      {"diff", "--from", "2", "--to", "5"},
      {"diff", "--from", "1", "--json"},
      {"watch", "--json", "--limit", "2"},
      {"watch", "--from", "1", "--raw", "--json", "--limit", "5"},
      {"get", "container/missing"},
      {"history", "container/c1", "--json"},
  };
  for (const auto& command : commands) {
    RunResult remote = daemon.Cli(command);
    std::vector<std::string> local_args{WMETA_CLI, "--data-dir", daemon.data()};
    local_args.insert(local_args.end(), command.begin(), command.end());
    RunResult local = testing::Run(local_args);
    std::string shown;
    for (const auto& word : command) shown += word + " ";
    EXPECT_EQ(remote.exit_code, local.exit_code) << shown << remote.err;
    EXPECT_EQ(remote.out, local.out) << shown;
    EXPECT_EQ(remote.err, local.err) << shown;
  }
  RunResult stats = daemon.Cli({"stats", "--json"});
  ASSERT_EQ(stats.exit_code, 0) << stats.err;
  auto json = bj::parse(stats.out);
  EXPECT_EQ(json.at("records").as_int64(), 5);
  RunResult verify = daemon.Cli({"verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;

  RunResult checkpoint = daemon.Cli({"checkpoint", "--json"});
  ASSERT_EQ(checkpoint.exit_code, 0) << checkpoint.err;
  EXPECT_EQ(bj::parse(checkpoint.out).at("offset").as_int64(), 5);
  ASSERT_EQ(daemon.Cli({"push"}, ContainerJson("c3", "cache")).exit_code, 0);
  RunResult retention =
      daemon.Cli({"retention", "--max-records", "1", "--json"});
  ASSERT_EQ(retention.exit_code, 0) << retention.err;
  EXPECT_EQ(bj::parse(retention.out),
            bj::parse(R"({"old_first_offset":1,"new_first_offset":6,)"
                      R"("records_removed":5})"));
  RunResult old = daemon.Cli({"list", "--at", "2"});
  EXPECT_EQ(old.exit_code, 1);
  EXPECT_NE(old.err.find("out_of_range"), std::string::npos) << old.err;
}

TEST_F(WmetadTest, AResumingClientGetsEveryEventOnceInOrderAcrossAKill9) {
  Daemon daemon(dir_);
  ASSERT_TRUE(daemon.Start());

  // Acknowledged pushes, 10 events each, until the daemon dies under them.
  std::atomic<int> acknowledged{0};
  std::atomic<bool> stop{false};
  auto pusher = [&](int first_batch) {
    for (int batch = first_batch; !stop; ++batch) {
      std::string events;
      for (int i = 0; i < 10; ++i) {
        events += ContainerJson("c" + std::to_string(batch * 10 + i),
                                "n" + std::to_string(batch));
      }
      if (daemon.Cli({"push"}, events).exit_code != 0) return;
      acknowledged += 10;
    }
  };
  std::thread first_pusher(pusher, 0);

  // The watcher records raw offsets and ids as they come.
  std::vector<std::pair<int64_t, std::string>> received;
  auto follow = [&](uint64_t from, size_t until_count) {
    testing::Child watch(daemon.CliArgs(
        {"watch", "--from", std::to_string(from), "--raw", "--json"}));
    while (received.size() < until_count) {
      auto line = watch.ReadLine(In(std::chrono::seconds(30)));
      if (!line) break;
      auto event = bj::parse(*line);
      received.emplace_back(
          event.at("offset").as_int64(),
          std::string(event.at("event").at("entity").at("id").as_string()));
    }
  };
  follow(1, 200);
  ASSERT_GE(received.size(), 200u) << daemon.log();
  // A watcher sees a push before its client hears the acknowledgement: wait
  // for the acknowledgements, then kill while the next push is in flight.
  ASSERT_TRUE(Eventually([&] { return acknowledged >= 200; })) << daemon.log();
  EXPECT_EQ(daemon.Stop(SIGKILL), 128 + SIGKILL);
  stop = true;
  first_pusher.join();
  int before_kill = acknowledged;

  ASSERT_TRUE(daemon.Start());
  stop = false;
  std::thread second_pusher(pusher, 100'000);
  bool pushed_after =
      Eventually([&] { return acknowledged >= before_kill + 100; });
  stop = true;
  second_pusher.join();
  ASSERT_TRUE(pushed_after) << daemon.log();
  RunResult stats = daemon.Cli({"stats", "--json"});
  ASSERT_EQ(stats.exit_code, 0);
  auto last = bj::parse(stats.out).at("last_offset").as_int64();
  // Every acknowledged push survived (more may have: the one in flight).
  EXPECT_GE(last, acknowledged.load());
  follow(static_cast<uint64_t>(received.back().first) + 1,
         static_cast<size_t>(last));

  ASSERT_EQ(received.size(), static_cast<size_t>(last));
  for (size_t i = 0; i < received.size(); ++i) {
    ASSERT_EQ(received[i].first, static_cast<int64_t>(i) + 1);
  }
  // The log holds the same records in the same order.
  RunResult log = daemon.Cli({"log", "--json"});
  auto lines = Lines(log.out);
  ASSERT_EQ(lines.size(), received.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(bj::parse(lines[i]).at("entity").at("id").as_string(),
              received[i].second);
  }
}

TEST_F(WmetadTest, AChildProcessAppearsAndDisappears) {
  Daemon daemon(dir_,
                {"--collectors", "process", "--process-interval", "100ms"});
  ASSERT_TRUE(daemon.Start());
  auto child = std::make_unique<testing::Child>(
      std::vector<std::string>{"/bin/sleep", "1000"});
  std::string id = "process/" + std::to_string(child->pid());
  RunResult got;
  ASSERT_TRUE(Eventually([&] {
    got = daemon.Cli({"get", id, "--json"});
    return got.exit_code == 0;
  })) << got.err
      << daemon.log();
  auto entity = bj::parse(got.out).at("entity");
  EXPECT_EQ(entity.at("pid").as_int64(), child->pid());
  EXPECT_EQ(entity.at("ppid").as_int64(), getpid());
  EXPECT_EQ(entity.at("comm").as_string(), "sleep");
  EXPECT_EQ(entity.at("cmdline"), bj::parse(R"(["/bin/sleep","1000"])"));
  EXPECT_EQ(got.out.find("process_collector") != std::string::npos, true);

  child.reset();  // killed and reaped
  ASSERT_TRUE(Eventually([&] {
    got = daemon.Cli({"get", id});
    return got.exit_code != 0;
  })) << daemon.log();
  EXPECT_NE(got.err.find("not_found"), std::string::npos) << got.err;
  RunResult history = daemon.Cli({"history", id, "--json"});
  auto entries = Lines(history.out);
  ASSERT_EQ(entries.size(), 2u) << history.out;
  EXPECT_NE(entries[1].find("\"unset\""), std::string::npos) << entries[1];

  std::string health = daemon.Cli({"stats"}).out;
  EXPECT_NE(health.find("collector process: running"), std::string::npos)
      << health;
}

TEST_F(WmetadTest, BadFramesGetAnErrorAndACloseAndHurtNobody) {
  Daemon daemon(dir_, {"--config", dir_.Sub("config.json")});
  std::ofstream(dir_.Sub("config.json")) << R"({"max_frame":"64KiB"})";
  ASSERT_TRUE(daemon.Start());
  auto connect = [&] { return RawClient(ConnectUnix(daemon.socket())); };

  {
    RawClient garbage = connect();
    garbage.Send(std::string("\x10\x00\x00\x00this is no frame", 20));
    EXPECT_EQ(ErrorIn(garbage.Next()), "corruption");
    EXPECT_TRUE(garbage.Closed());
  }
  {
    RawClient huge = connect();
    huge.Send(std::string("\x01\x00\x01\x00", 4));  // 64 KiB + 1
    EXPECT_EQ(ErrorIn(huge.Next()), "invalid_argument");
    EXPECT_TRUE(huge.Closed());
  }
  {
    RawClient zero = connect();
    zero.Send(std::string("\x00\x00\x00\x00", 4));
    EXPECT_EQ(ErrorIn(zero.Next()), "invalid_argument");
    EXPECT_TRUE(zero.Closed());
  }
  {
    RawClient future = connect();
    future.Hello(wire::kProtocolVersion + 1);
    EXPECT_EQ(ErrorIn(future.Next()), "unsupported_format");
    EXPECT_TRUE(future.Closed());
  }
  {
    RawClient eager = connect();
    auto& fbb = eager.builder().fbb();
    auto body = fbw::CreateStatsRequest(fbb);
    eager.Send(
        eager.builder().Finish(1, fbw::Body::StatsRequest, body.Union()));
    EXPECT_EQ(ErrorIn(eager.Next()), "invalid_argument");
    EXPECT_TRUE(eager.Closed());
  }
  {
    // A frame cut short, then silence: the handshake times out or the
    // close ends it; either way nothing is appended and nobody waits.
    RawClient cut = connect();
    cut.Send(std::string("\x40\x00\x00\x00\x01\x02", 6));
  }
  auto welcome = [](RawClient& client) {
    client.Hello();
    auto reply = client.Next();
    return reply && FrameOf(*reply)->body_type() == fbw::Body::Welcome;
  };
  auto push_record = [](RawClient& client, uint64_t request,
                        const std::vector<uint8_t>& record) {
    auto& fbb = client.builder().fbb();
    fbb.ForceVectorAlignment(record.size(), 1, 8);
    auto bytes = fbw::CreateRecordBytesDirect(fbb, &record);
    std::vector<flatbuffers::Offset<fbw::RecordBytes>> records{bytes};
    auto body = fbw::CreatePushRequestDirect(fbb, &records);
    client.Send(
        client.builder().Finish(request, fbw::Body::PushRequest, body.Union()));
  };
  {
    // A push whose record is not one fails the frame's verification.
    RawClient client = connect();
    ASSERT_TRUE(welcome(client));
    push_record(client, 7, std::vector<uint8_t>(64, 0xab));
    EXPECT_EQ(ErrorIn(client.Next()), "corruption");
    EXPECT_TRUE(client.Closed());
  }
  {
    // A well-formed record with text that is not UTF-8: refused, nothing
    // appended, and the connection still serves.
    RawClient client = connect();
    ASSERT_TRUE(welcome(client));
    Event bad = testing::ContainerEvent("c1", "\xff\xfeweb");
    auto bytes = bad.view().bytes();
    push_record(client, 7, std::vector<uint8_t>(bytes.begin(), bytes.end()));
    auto reply = client.Next();
    EXPECT_EQ(ErrorIn(reply), "invalid_argument");
    EXPECT_EQ(FrameOf(*reply)->request(), 7u);
    auto& fbb = client.builder().fbb();
    auto stats = fbw::CreateStatsRequest(fbb);
    client.Send(
        client.builder().Finish(8, fbw::Body::StatsRequest, stats.Union()));
    auto answer = client.Next();
    ASSERT_TRUE(answer);
    ASSERT_EQ(FrameOf(*answer)->body_type(), fbw::Body::StatsReply);
    EXPECT_EQ(FrameOf(*answer)->request(), 8u);
    EXPECT_EQ(FrameOf(*answer)->body_as_StatsReply()->record_count(), 0u);
  }
  // After all of it the daemon serves as before.
  RunResult push = daemon.Cli({"push"}, ContainerJson("c1", "web"));
  EXPECT_EQ(push.exit_code, 0) << push.err << daemon.log();
  EXPECT_EQ(daemon.Cli({"list"}).exit_code, 0);
}

TEST_F(WmetadTest, AClientThatStopsReadingBlocksNobodyAndIsDropped) {
  // First with a send timeout far beyond the test's: the stalled client stays
  // connected, unread, while the others are served, so that their being
  // served at all shows that nobody waited for it.
  std::string config = dir_.Sub("config.json");
  std::ofstream(config) << R"({"client_send_timeout":"1h"})";
  Daemon daemon(dir_, {"--config", config});
  ASSERT_TRUE(daemon.Start());

  // A subscriber from offset 1 with a small socket buffer, that reads
  // nothing until told.
  auto stall = [&] {
    auto client = std::make_unique<RawClient>(ConnectUnix(daemon.socket()));
    int small = 4096;
    ::setsockopt(client->fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    client->Hello();
    EXPECT_TRUE(client->Next());
    auto& fbb = client->builder().fbb();
    auto subscribe =
        fbw::CreateSubscribeRequest(fbb, fbw::StartFrom::offset, 1);
    client->Send(client->builder().Finish(1, fbw::Body::SubscribeRequest,
                                          subscribe.Union()));
    return client;
  };
  // The offset after the last event in order `client` gets before it is
  // closed or `until` arrived.
  auto read_events = [](RawClient& client, uint64_t until) {
    uint64_t expected = 1;
    while (expected <= until) {
      auto frame = client.Next();
      if (!frame) break;
      const fbw::Frame* f = FrameOf(*frame);
      EXPECT_NE(f, nullptr);
      if (f == nullptr) break;
      if (f->body_type() != fbw::Body::Bundle) continue;
      for (const fbw::Message* m : *f->body_as_Bundle()->messages()) {
        if (m->type() == fbw::MessageType::event) {
          EXPECT_EQ(m->offset(), expected);
          if (m->offset() != expected) return expected;
          ++expected;
        }
      }
    }
    return expected;
  };

  {
    std::unique_ptr<RawClient> stalled = stall();
    // A healthy subscriber, read as fast as it writes.
    testing::Child healthy(
        daemon.CliArgs({"watch", "--from", "1", "--raw", "--json"}));
    std::vector<int64_t> offsets;
    std::thread reader([&] {
      while (offsets.size() < 3000) {
        auto line = healthy.ReadLine(In(std::chrono::seconds(30)));
        if (!line) return;
        offsets.push_back(bj::parse(*line).at("offset").as_int64());
      }
    });
    // ~3 MB of events: far more than the stalled client's socket can hold.
    std::string padding(1000, 'x');
    for (int batch = 0; batch < 30; ++batch) {
      std::string events;
      for (int i = 0; i < 100; ++i) {
        events +=
            R"({"source":"runtime","entity":{"kind":"container","id":"c)" +
            std::to_string(batch * 100 + i) + R"(","name":")" + padding +
            R"("}})" + "\n";
      }
      RunResult push = daemon.Cli({"push"}, events);
      if (push.exit_code != 0) {
        ADD_FAILURE() << push.err;
        break;
      }
    }
    reader.join();
    ASSERT_EQ(offsets.size(), 3000u);
    for (size_t i = 0; i < offsets.size(); ++i) {
      ASSERT_EQ(offsets[i], static_cast<int64_t>(i) + 1);
    }
    // Every push was acknowledged and watched while the stalled client took
    // nothing and stayed connected: it gets all of it now, in order (its
    // subscription paused and catches up), which a dropped client could not.
    EXPECT_EQ(daemon.log().find("took none of its replies"), std::string::npos)
        << daemon.log();
    EXPECT_EQ(read_events(*stalled, 3000), 3001u) << daemon.log();
  }

  // Then with a short send timeout: a client that takes nothing is
  // disconnected; what it got before is in order.
  EXPECT_EQ(daemon.Stop(SIGTERM), 0) << daemon.log();
  std::ofstream(config) << R"({"client_send_timeout":"1s"})";
  ASSERT_TRUE(daemon.Start());
  std::unique_ptr<RawClient> dropped = stall();
  EXPECT_TRUE(Eventually([&] {
    return daemon.log().find("took none of its replies") != std::string::npos;
  })) << daemon.log();
  EXPECT_LT(read_events(*dropped, 3000), 3001u);
}

TEST_F(WmetadTest, TokensGuardTcpAndHttp) {
  RunResult open =
      testing::Run({WMETAD, "--data-dir", dir_.Sub("a"), "--tcp", "0.0.0.0:0",
                    "--http", "", "--collectors", ""});
  EXPECT_EQ(open.exit_code, 1);
  EXPECT_NE(open.err.find("token"), std::string::npos) << open.err;
  RunResult http = testing::Run({WMETAD, "--data-dir", dir_.Sub("b"), "--http",
                                 "0.0.0.0:0", "--collectors", ""});
  EXPECT_EQ(http.exit_code, 1);
  EXPECT_NE(http.err.find("token"), std::string::npos) << http.err;

  Daemon daemon(dir_, {"--tcp", "127.0.0.1:0", "--token", "s3cret"});
  ASSERT_TRUE(daemon.Start());
  ASSERT_FALSE(daemon.tcp().empty()) << daemon.log();
  RunResult anonymous =
      testing::Run({WMETA_CLI, "--tcp", daemon.tcp(), "stats"});
  EXPECT_EQ(anonymous.exit_code, 1);
  EXPECT_NE(anonymous.err.find("permission_denied"), std::string::npos)
      << anonymous.err;
  RunResult wrong = testing::Run(
      {WMETA_CLI, "--tcp", daemon.tcp(), "--token", "s3cre", "stats"});
  EXPECT_EQ(wrong.exit_code, 1);
  RunResult right = testing::Run(
      {WMETA_CLI, "--tcp", daemon.tcp(), "--token", "s3cret", "push"},
      ContainerJson("c1", "web"));
  EXPECT_EQ(right.exit_code, 0) << right.err;
  // The unix socket is guarded by its file mode instead.
  EXPECT_EQ(daemon.Cli({"get", "container/c1"}).exit_code, 0);
  EXPECT_EQ(std::filesystem::status(daemon.socket()).permissions() &
                std::filesystem::perms::all,
            std::filesystem::perms(0660));

  auto get = [&](const std::string& path, const std::string& auth) {
    int fd = ConnectTcp(daemon.http_port());
    std::string request = "GET " + path + " HTTP/1.1\r\nHost: x\r\n" + auth +
                          "Connection: close\r\n\r\n";
    ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    std::string response = ReadToEnd(fd, In(std::chrono::seconds(30)));
    ::close(fd);
    return response;
  };
  EXPECT_TRUE(get("/v1/entities", "").starts_with("HTTP/1.1 401"));
  EXPECT_TRUE(get("/v1/entities", "Authorization: Bearer nope\r\n")
                  .starts_with("HTTP/1.1 401"));
  std::string ok = get("/v1/entities", "Authorization: Bearer s3cret\r\n");
  EXPECT_TRUE(ok.starts_with("HTTP/1.1 200")) << ok;
  EXPECT_NE(ok.find("\"c1\""), std::string::npos) << ok;
}

TEST_F(WmetadTest, HttpClientsThatStallAreCutOff) {
  std::ofstream(dir_.Sub("config.json")) << R"({"http_io_timeout":"1s"})";
  Daemon daemon(dir_, {"--config", dir_.Sub("config.json")});
  ASSERT_TRUE(daemon.Start());
  // Half a request, then nothing: the connection is closed, not kept.
  int fd = ConnectTcp(daemon.http_port());
  std::string half = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
  ::send(fd, half.data(), half.size(), MSG_NOSIGNAL);
  auto start = Clock::now();
  std::string got = ReadToEnd(fd, In(std::chrono::seconds(30)));
  auto took = Clock::now() - start;
  // The daemon closed it (this wait did not just end), after the timeout.
  char byte;
  ssize_t more = ::recv(fd, &byte, 1, MSG_DONTWAIT);
  EXPECT_TRUE(more == 0 || (more < 0 && errno == ECONNRESET))
      << more << " " << std::strerror(errno);
  EXPECT_GE(took, std::chrono::milliseconds(900));
  // That it was the configured 1 s and not the default 30 s only a bound can
  // tell: 20 times the configured timeout, for a loaded machine, and still
  // short of the default.
  EXPECT_LT(took, std::chrono::seconds(20));
  ::close(fd);
  // The request never completed, so it was never answered.
  EXPECT_FALSE(got.starts_with("HTTP/1.1 200")) << got;
  // Others are served meanwhile and after.
  int other = ConnectTcp(daemon.http_port());
  std::string request =
      "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  ::send(other, request.data(), request.size(), MSG_NOSIGNAL);
  EXPECT_TRUE(ReadToEnd(other, In(std::chrono::seconds(30)))
                  .starts_with("HTTP/1.1 200"));
  ::close(other);
}

TEST_F(WmetadTest, HttpServesHealthMetricsEntitiesHistoryAndEvents) {
  Daemon daemon(dir_, {"--collectors", "process"});
  ASSERT_TRUE(daemon.Start());
  ASSERT_EQ(daemon
                .Cli({"push"}, ContainerJson("c1", "web") +
                                   ContainerJson("c1", "web2") +
                                   ContainerJson("c2", "db"))
                .exit_code,
            0);
  auto get = [&](const std::string& path,
                 std::function<bool(const std::string&)> done = nullptr) {
    int fd = ConnectTcp(daemon.http_port());
    std::string request =
        "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    std::string response = ReadToEnd(fd, In(std::chrono::seconds(30)), done);
    ::close(fd);
    return response;
  };

  std::string health = get("/healthz");
  ASSERT_TRUE(health.starts_with("HTTP/1.1 200")) << health;
  auto health_json = bj::parse(BodyOf(health));
  EXPECT_EQ(health_json.at("healthy").as_bool(), true);
  EXPECT_EQ(health_json.at("collectors").at("process").at("state").as_string(),
            "running");

  testing::Child watch(daemon.CliArgs({"watch", "--from", "latest"}));
  std::string metrics;
  ASSERT_TRUE(Eventually([&] {
    metrics = BodyOf(get("/metrics"));
    return metrics.find("wmeta_subscribers 1\n") != std::string::npos;
  })) << metrics;
  EXPECT_NE(metrics.find("wmeta_subscriber_lag_records{id=\"1\",peer=\"#"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("wmeta_subscriber_catching_up{id=\"1\""),
            std::string::npos);
  EXPECT_NE(metrics.find("wmeta_records_appended_total{kind=\"container\","
                         "source=\"runtime\",type=\"set\"} 3"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("wmeta_append_seconds_bucket{le=\"+Inf\"}"),
            std::string::npos);
  EXPECT_NE(metrics.find("wmeta_collector_pulls_total{collector=\"process\"}"),
            std::string::npos);
  EXPECT_NE(metrics.find("wmeta_log_bytes "), std::string::npos);

  auto list = bj::parse(BodyOf(get("/v1/entities?kind=container&search=c1")));
  EXPECT_GE(list.at("offset").as_int64(), 3);
  ASSERT_EQ(list.at("entities").as_array().size(), 1u) << list;
  EXPECT_EQ(list.at("entities").at(0).at("entity").at("name").as_string(),
            "web2");
  auto one = bj::parse(BodyOf(get("/v1/entities/container/c2")));
  EXPECT_EQ(one.at("entity").at("name").as_string(), "db");
  std::string missing = get("/v1/entities/container/nope");
  EXPECT_TRUE(missing.starts_with("HTTP/1.1 404")) << missing;
  EXPECT_TRUE(get("/v1/entities/nokind/x").starts_with("HTTP/1.1 400"));
  EXPECT_TRUE(get("/nowhere").starts_with("HTTP/1.1 404"));
  auto history = bj::parse(BodyOf(get("/v1/history/container/c1")));
  ASSERT_EQ(history.at("entries").as_array().size(), 2u) << history;

  // A stream: the first lines arrive while it stays open.
  std::string stream = get("/v1/events?from=1&raw=true&kind=container",
                           [](const std::string& got) {
                             return got.find("\"db\"") != std::string::npos;
                           });
  ASSERT_TRUE(stream.starts_with("HTTP/1.1 200")) << stream;
  std::vector<std::string> names;
  for (const std::string& line : Lines(BodyOf(stream))) {
    auto message = bj::parse(line);
    if (message.as_object().contains("event")) {
      names.emplace_back(
          message.at("event").at("entity").at("name").as_string());
    }
  }
  EXPECT_EQ(names, (std::vector<std::string>{"web", "web2", "db"}));
}

// The next `n` events a `watch --json` child prints (bookmarks skipped);
// fewer when one does not come within 30 s.
std::vector<bj::value> NextEvents(testing::Child& watch, size_t n) {
  std::vector<bj::value> events;
  while (events.size() < n) {
    auto line = watch.ReadLine(In(std::chrono::seconds(30)));
    if (!line) break;
    bj::value message = bj::parse(*line);
    if (const bj::value* event = message.as_object().if_contains("event")) {
      events.push_back(*event);
    }
  }
  return events;
}

TEST_F(WmetadTest, ACaptureReplaysIntoTheDaemonWhileAWatcherFollows) {
  // A capture of another store: 50 containers.
  std::string source = dir_.Sub("source");
  std::string events;
  for (int i = 0; i < 50; ++i) {
    events += ContainerJson("c" + std::to_string(i), "web");
  }
  ASSERT_EQ(
      testing::Run({WMETA_CLI, "--data-dir", source, "push"}, events).exit_code,
      0);
  std::string file = dir_.Sub("c.wcap");
  ASSERT_EQ(
      testing::Run({WMETA_CLI, "--data-dir", source, "capture", "-o", file})
          .exit_code,
      0);

  Daemon daemon(dir_);
  ASSERT_TRUE(daemon.Start());
  testing::Child watch(
      daemon.CliArgs({"watch", "--from", "latest", "--raw", "--json"}));
  // The watcher is subscribed once a bookmark (sent every second when idle)
  // arrives.
  ASSERT_TRUE(watch.ReadLine(In(std::chrono::seconds(30))));
  RunResult replay = daemon.Cli({"replay", file, "--batch", "7"});
  ASSERT_EQ(replay.exit_code, 0) << replay.err;
  EXPECT_NE(replay.out.find("replayed 50 records"), std::string::npos)
      << replay.out;
  std::vector<bj::value> watched = NextEvents(watch, 50);
  ASSERT_EQ(watched.size(), 50u);
  std::vector<std::string> ids;
  for (const bj::value& event : watched) {
    ids.emplace_back(event.at("entity").at("id").as_string());
    EXPECT_EQ(event.at("origin").at("offset").as_int64(),
              static_cast<int64_t>(ids.size()));
  }
  EXPECT_EQ(ids.front(), "c0");
  EXPECT_EQ(ids.back(), "c49");
}

TEST_F(WmetadTest, ARecordedCollectorReplaysIntoTheDaemonWhileAWatcherFollows) {
  // The Docker collector, run from a real recording, into a running wmetad:
  // the watcher sees the lifecycle as the live store had it, 14 records.
  Daemon daemon(dir_);
  ASSERT_TRUE(daemon.Start());
  testing::Child watch(
      daemon.CliArgs({"watch", "--from", "latest", "--raw", "--json"}));
  ASSERT_TRUE(watch.ReadLine(In(std::chrono::seconds(30))));
  RunResult replay = daemon.Cli({"replay", std::string(WMETA_DOCKER_TESTDATA) +
                                               "/docker-lifecycle.wrec"});
  ASSERT_EQ(replay.exit_code, 0) << replay.err;
  EXPECT_NE(replay.out.find("replayed 18 events"), std::string::npos)
      << replay.out;
  std::vector<std::string> seen;
  for (const bj::value& event : NextEvents(watch, 14)) {
    seen.push_back(std::string(event.at("type").as_string()) + " " +
                   std::string(event.at("entity").at("kind").as_string()));
  }
  ASSERT_EQ(seen.size(), 14u);
  EXPECT_EQ(seen.front(), "set container_image_metadata");
  EXPECT_EQ(seen.back(), "unset container_image_metadata");
  EXPECT_EQ(std::count(seen.begin(), seen.end(), "unset container"), 2);
}

TEST_F(WmetadTest, WritesToItsDataDirGoThroughIt) {
  Daemon daemon(dir_, {}, /*default_socket=*/true);
  ASSERT_TRUE(daemon.Start());
  auto on_dir = [&](std::vector<std::string> args, const std::string& input) {
    args.insert(args.begin(), {WMETA_CLI, "--data-dir", daemon.data()});
    return testing::Run(args, input);
  };
  RunResult push = on_dir({"push"}, ContainerJson("c1", "web"));
  ASSERT_EQ(push.exit_code, 0) << push.err;
  EXPECT_EQ(push.out,
            "appended 1 event at offsets 1..1 (durability sync: on disk)\n");
  EXPECT_EQ(on_dir({"checkpoint", "--json"}, "").exit_code, 0);
  EXPECT_EQ(daemon.Cli({"get", "container/c1"}).exit_code, 0);
}

TEST_F(WmetadTest, GracefulShutdownCheckpointsAndExitsZero) {
  Daemon daemon(dir_);
  ASSERT_TRUE(daemon.Start());
  ASSERT_EQ(
      daemon
          .Cli({"push"}, ContainerJson("c1", "web") + ContainerJson("c2", "db"))
          .exit_code,
      0);
  testing::Child watch(daemon.CliArgs({"watch", "--from", "latest"}));
  EXPECT_EQ(daemon.Stop(SIGTERM), 0) << daemon.log();
  // The watcher is told the daemon went away.
  EXPECT_EQ(watch.Wait(), 1);
  std::vector<std::string> checkpoints;
  for (const auto& entry :
       std::filesystem::directory_iterator(daemon.data() + "/checkpoints")) {
    checkpoints.push_back(entry.path().filename());
  }
  EXPECT_EQ(checkpoints,
            std::vector<std::string>{"view-00000000000000000002.wcp"});
  EXPECT_FALSE(std::filesystem::exists(daemon.socket()));

  // It opens from there, and again serves what it had.
  ASSERT_TRUE(daemon.Start());
  EXPECT_NE(daemon.log().find("2 records, view at offset 2"), std::string::npos)
      << daemon.log();
  EXPECT_EQ(daemon.Cli({"get", "container/c2"}).exit_code, 0);
  EXPECT_EQ(daemon.Stop(SIGINT), 0);
}

// A byte of the WAL flipped after a kill -9: wmetad refuses the data dir,
// saying what is lost, instead of handing the acknowledged offsets out again;
// readers refuse it too. `wmeta recover --accept-loss` keeps what can be read
// under a new store id, and a consumer holding the old one is told so.
TEST_F(WmetadTest, ADamagedWalIsRefusedUntilTheLossIsAccepted) {
  Daemon daemon(dir_);
  ASSERT_TRUE(daemon.Start());
  std::string first, second;
  for (int i = 0; i < 50; ++i)
    first += ContainerJson("a" + std::to_string(i), "a");
  for (int i = 0; i < 50; ++i)
    second += ContainerJson("b" + std::to_string(i), "b");
  ASSERT_EQ(daemon.Cli({"push", "--batch", "10"}, first).exit_code, 0);
  ASSERT_EQ(daemon.Cli({"checkpoint"}).exit_code, 0);
  ASSERT_EQ(daemon.Cli({"push", "--batch", "10"}, second).exit_code, 0);
  RunResult stats = daemon.Cli({"stats", "--json"});
  ASSERT_EQ(stats.exit_code, 0);
  std::string old_id(bj::parse(stats.out).at("store_id").as_string());
  EXPECT_EQ(daemon.Stop(SIGKILL), 128 + SIGKILL);

  std::string wal;
  for (const auto& entry : std::filesystem::directory_iterator(daemon.data())) {
    if (entry.path().extension() == ".log" &&
        std::filesystem::file_size(entry.path()) > 0) {
      wal = entry.path();
    }
  }
  ASSERT_FALSE(wal.empty());
  {
    std::fstream file(wal, std::ios::in | std::ios::out | std::ios::binary);
    auto at = static_cast<std::streamoff>(std::filesystem::file_size(wal) / 2);
    file.seekg(at);
    char c = 0;
    file.read(&c, 1);
    file.seekp(at);
    file.put(static_cast<char>(c ^ 0x40));
  }

  RunResult refused =
      testing::Run({WMETAD, "--data-dir", daemon.data(), "--socket",
                    daemon.socket(), "--http", "", "--collectors", ""});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find(".log) is damaged"), std::string::npos)
      << refused.err;
  EXPECT_NE(refused.err.find("acknowledged"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("wmeta recover --accept-loss"), std::string::npos)
      << refused.err;
  RunResult read =
      testing::Run({WMETA_CLI, "--data-dir", daemon.data(), "log"});
  EXPECT_EQ(read.exit_code, 1);
  EXPECT_NE(read.err.find("corruption"), std::string::npos) << read.err;
  RunResult verify =
      testing::Run({WMETA_CLI, "--data-dir", daemon.data(), "verify"});
  EXPECT_EQ(verify.exit_code, 1) << verify.out;

  RunResult unasked =
      testing::Run({WMETA_CLI, "--data-dir", daemon.data(), "recover"});
  EXPECT_EQ(unasked.exit_code, 2);
  RunResult recover = testing::Run({WMETA_CLI, "--data-dir", daemon.data(),
                                    "recover", "--accept-loss", "--json"});
  ASSERT_EQ(recover.exit_code, 0) << recover.err;
  auto report = bj::parse(recover.out);
  EXPECT_EQ(report.at("accepted"), true);
  EXPECT_EQ(report.at("old_store_id"), old_id.c_str());
  EXPECT_EQ(report.at("acknowledged"), 100);
  int64_t kept = report.at("last_offset").as_int64();
  // The records before the flipped byte (the WAL holds all 100).
  EXPECT_GT(kept, 0);
  EXPECT_LT(kept, 100);
  std::string new_id(report.at("new_store_id").as_string());
  EXPECT_NE(new_id, old_id);

  ASSERT_TRUE(daemon.Start());
  EXPECT_NE(daemon.log().find("was recovered"), std::string::npos)
      << daemon.log();
  RunResult next = daemon.Cli({"push", "--json"}, ContainerJson("c", "c"));
  ASSERT_EQ(next.exit_code, 0) << next.err;
  EXPECT_EQ(bj::parse(next.out).at("first_offset").as_int64(), kept + 1);
  stats = daemon.Cli({"stats", "--json"});
  ASSERT_EQ(stats.exit_code, 0);
  EXPECT_EQ(bj::parse(stats.out).at("store_id"), new_id.c_str());
  EXPECT_TRUE(bj::parse(stats.out).at("recovered").is_string()) << stats.out;

  // A consumer resuming with the old store's offsets is told, not misled.
  RawClient client(ConnectUnix(daemon.socket()));
  client.Hello();
  ASSERT_TRUE(client.Next());
  auto& fbb = client.builder().fbb();
  auto subscribe = fbw::CreateSubscribeRequestDirect(
      fbb, fbw::StartFrom::offset, static_cast<uint64_t>(kept + 1), 0, nullptr,
      nullptr, fbw::TypeFilter::any, true, old_id.c_str());
  client.Send(client.builder().Finish(1, fbw::Body::SubscribeRequest,
                                      subscribe.Union()));
  EXPECT_EQ(ErrorIn(client.Next()), "store_mismatch");
  EXPECT_EQ(daemon.Stop(SIGTERM), 0) << daemon.log();
}

// An entity JSON cannot show (text that is not UTF-8, written before pushes
// and captures were checked for it) is named in the list's "errors"; the rest
// is listed.
TEST_F(WmetadTest, HttpListsAroundAnEntityItCannotShow) {
  Daemon daemon(dir_);
  {
    auto log = log::Log::Open(daemon.data(), {});
    ASSERT_TRUE(log) << log.error().ToString();
    std::vector<Event> events{testing::ContainerEvent("good", "web"),
                              testing::ContainerEvent("bad", "w\xff")};
    ASSERT_TRUE((*log)->Append(events));
  }
  ASSERT_TRUE(daemon.Start());
  std::string response =
      testing::HttpGet(daemon.http_port(), "/v1/entities?kind=container");
  ASSERT_TRUE(response.starts_with("HTTP/1.1 200")) << response;
  auto body = bj::parse(BodyOf(response));
  ASSERT_EQ(body.at("entities").as_array().size(), 1u) << body;
  EXPECT_EQ(body.at("entities").at(0).at("entity").at("id"), "good");
  ASSERT_EQ(body.at("errors").as_array().size(), 1u) << body;
  EXPECT_EQ(body.at("errors").at(0).at("entity"), "container/bad");
  EXPECT_EQ(daemon.Stop(SIGTERM), 0) << daemon.log();
}

}  // namespace
}  // namespace wmeta
