#include "wmeta/tools/server/server.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <future>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "wmeta/tools/api/args.h"

namespace wmeta::tools {
namespace {

namespace asio = boost::asio;
namespace fbw = wire::fbw;
using Socket = asio::generic::stream_protocol::socket;
using Bytes = std::vector<uint8_t>;

// Requests a client may queue while one runs, in number and bytes; beyond
// that its socket is not read until the queue drains.
constexpr size_t kMaxPendingRequests = 64;
constexpr size_t kMaxPendingBytes = size_t{32} << 20;
// The largest frame before the handshake: a Hello is a few dozen bytes, and
// nobody unauthenticated gets to make the server allocate more.
constexpr uint32_t kMaxHelloFrame = 4096;
// A frame's buffer grows by at most this much per read, so that announcing a
// large frame costs memory only as its bytes arrive.
constexpr size_t kReadChunk = size_t{1} << 20;

class ServerImpl;

// One client. Socket operations run on the server's I/O thread; requests run
// on the connection's worker thread, which talks back through Send().
class Connection final : public FrameSink,
                         public std::enable_shared_from_this<Connection> {
 public:
  Connection(ServerImpl& server, Socket socket, std::string peer,
             bool needs_token);

  // I/O thread.
  void Start();
  void Reject(const Error& error);
  void CloseNow();

  // Worker thread.
  bool Send(std::span<const uint8_t> frame) override;
  bool cancelled() const override {
    return closed_ || (running_ && cancelled_request_ == running_request_ + 1);
  }

 private:
  void ReadPrefix();
  // Reads the rest of a frame of `length` bytes into body_, which holds
  // `have` of them after the prefix.
  void ReadBody(uint32_t length, size_t have);
  void OnFrame(Bytes bytes);
  void OnHello(const fbw::Frame& frame);
  // `counted`: queued_bytes_ includes it already.
  void Enqueue(std::shared_ptr<Bytes> bytes, bool counted = false);
  void WriteNext();
  void WorkerLoop();

  ServerImpl& server_;
  Socket socket_;
  const std::string peer_;
  const bool needs_token_;
  asio::steady_timer handshake_timer_;
  asio::steady_timer send_timer_;

  // I/O thread only.
  std::array<uint8_t, 4> prefix_{};
  Bytes body_;
  bool welcomed_ = false;
  bool reading_paused_ = false;
  bool close_after_flush_ = false;
  bool writing_ = false;
  std::deque<std::shared_ptr<Bytes>> writes_;

  // Shared with the worker.
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Bytes> requests_;  // guarded by mu_
  size_t request_bytes_ = 0;    // guarded by mu_: in requests_
  size_t queued_bytes_ = 0;     // guarded by mu_: replies not yet written
  std::atomic<bool> closed_{false};
  std::atomic<bool> running_{false};
  std::atomic<uint64_t> running_request_{0};
  // The id of the request to cancel + 1; 0: none.
  std::atomic<uint64_t> cancelled_request_{0};
};

class ServerImpl final : public Server {
 public:
  ServerImpl(const ServerOptions& options, Handler& handler,
             std::string store_id)
      : options_(options), handler_(handler), store_id_(std::move(store_id)) {}

  ~ServerImpl() override;

  Status Listen();

  std::string tcp_address() const override { return tcp_address_; }
  size_t connections() const override {
    std::lock_guard lock(mu_);
    return connections_.size();
  }

  const ServerOptions& options() const { return options_; }
  Handler& handler() { return handler_; }
  const std::string& store_id() const { return store_id_; }
  asio::io_context& io() { return io_; }

  // I/O thread.
  void Remove(const std::shared_ptr<Connection>& connection) {
    std::lock_guard lock(mu_);
    connections_.erase(connection);
  }
  // I/O thread: a connection's worker is about to start; false when the
  // server is stopping and it must not.
  bool WorkerStarting() {
    std::lock_guard lock(mu_);
    if (stopping_) return false;
    ++workers_;
    return true;
  }
  void WorkerDone() {
    std::lock_guard lock(mu_);
    --workers_;
    workers_cv_.notify_all();
  }

 private:
  template <typename Acceptor>
  void Accept(Acceptor& acceptor, bool tcp);

  // Declared first: destroyed last, after everything bound to it.
  asio::io_context io_;
  const ServerOptions options_;
  Handler& handler_;
  const std::string store_id_;
  std::optional<asio::local::stream_protocol::acceptor> unix_;
  std::optional<asio::ip::tcp::acceptor> tcp_;
  std::string tcp_address_;
  bool tcp_needs_token_ = false;
  uint64_t accepted_ = 0;  // I/O thread only
  std::thread io_thread_;

  mutable std::mutex mu_;
  std::set<std::shared_ptr<Connection>> connections_;  // guarded by mu_
  size_t workers_ = 0;                                 // guarded by mu_
  bool stopping_ = false;                              // guarded by mu_
  std::condition_variable workers_cv_;
};

Connection::Connection(ServerImpl& server, Socket socket, std::string peer,
                       bool needs_token)
    : server_(server),
      socket_(std::move(socket)),
      peer_(std::move(peer)),
      needs_token_(needs_token),
      handshake_timer_(server.io()),
      send_timer_(server.io()) {}

void Connection::Start() {
  handshake_timer_.expires_after(server_.options().handshake_timeout);
  handshake_timer_.async_wait(
      [self = shared_from_this()](const boost::system::error_code& ec) {
        if (ec || self->welcomed_) return;
        spdlog::info("client {} sent no Hello in time; closing", self->peer_);
        self->CloseNow();
      });
  ReadPrefix();
}

void Connection::ReadPrefix() {
  asio::async_read(
      socket_, asio::buffer(prefix_),
      [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
        if (ec) {
          self->CloseNow();  // closed by the client, or by us
          return;
        }
        uint32_t length = wire::FrameLength(self->prefix_);
        uint32_t max = self->welcomed_ ? self->server_.options().max_frame
                                       : kMaxHelloFrame;
        if (length == 0 || length > max) {
          self->Reject({ErrorCode::kInvalidArgument,
                        "a frame of " + std::to_string(length) +
                            " bytes; frames are 1 to " + std::to_string(max) +
                            " bytes"});
          return;
        }
        // The prefix stays in front: frame fields are aligned relative to
        // it.
        self->body_.assign(self->prefix_.begin(), self->prefix_.end());
        self->ReadBody(length, 0);
      });
}

void Connection::ReadBody(uint32_t length, size_t have) {
  size_t chunk = std::min<size_t>(length - have, std::max(kReadChunk, have));
  body_.resize(prefix_.size() + have + chunk);
  asio::async_read(socket_,
                   asio::buffer(body_.data() + prefix_.size() + have, chunk),
                   [self = shared_from_this(), length, have, chunk](
                       const boost::system::error_code& ec, size_t) {
                     if (ec) {
                       self->CloseNow();
                       return;
                     }
                     if (have + chunk < length) {
                       self->ReadBody(length, have + chunk);
                       return;
                     }
                     self->OnFrame(std::move(self->body_));
                   });
}

void Connection::OnFrame(Bytes bytes) {
  auto frame = wire::VerifyFrame(bytes);
  if (!frame) {
    Reject(frame.error());
    return;
  }
  if (!welcomed_) {
    OnHello(**frame);
    return;
  }
  switch ((*frame)->body_type()) {
    case fbw::Body::Hello:
      Reject({ErrorCode::kInvalidArgument, "a second Hello"});
      return;
    case fbw::Body::Cancel:
      cancelled_request_ = (*frame)->request() + 1;
      break;
    default: {
      std::lock_guard lock(mu_);
      request_bytes_ += bytes.size();
      requests_.push_back(std::move(bytes));
      cv_.notify_all();
      if (requests_.size() >= kMaxPendingRequests ||
          request_bytes_ >= kMaxPendingBytes) {
        reading_paused_ = true;
        return;
      }
    }
  }
  ReadPrefix();
}

void Connection::OnHello(const fbw::Frame& frame) {
  const fbw::Hello* hello = frame.body_as_Hello();
  if (hello == nullptr) {
    Reject({ErrorCode::kInvalidArgument, "expected Hello first"});
    return;
  }
  if (hello->version() != wire::kProtocolVersion) {
    Reject({ErrorCode::kUnsupportedFormat,
            "protocol version " + std::to_string(hello->version()) +
                " is not supported; this server speaks version " +
                std::to_string(wire::kProtocolVersion)});
    return;
  }
  if (needs_token_) {
    std::string_view token =
        hello->token() != nullptr ? hello->token()->string_view() : "";
    if (!TokenMatches(token, server_.options().token)) {
      Reject(
          {ErrorCode::kPermissionDenied,
           token.empty() ? "this listener requires a token" : "wrong token"});
      return;
    }
  }
  welcomed_ = true;
  handshake_timer_.cancel();
  wire::FrameBuilder b;
  auto body = fbw::CreateWelcomeDirect(b.fbb(), wire::kProtocolVersion,
                                       server_.store_id().c_str(),
                                       server_.options().max_frame, "wmetad");
  auto welcome = b.Finish(frame.request(), fbw::Body::Welcome, body.Union());
  Enqueue(std::make_shared<Bytes>(welcome.begin(), welcome.end()));
  if (!server_.WorkerStarting()) {
    CloseNow();
    return;
  }
  try {
    std::thread([self = shared_from_this()]() mutable {
      ServerImpl& server = self->server_;
      self->WorkerLoop();
      // Dropped before the server hears of it: the server may be waiting to
      // destroy what the connection is bound to.
      self.reset();
      server.WorkerDone();
    }).detach();
  } catch (const std::system_error& e) {
    server_.WorkerDone();
    Reject({ErrorCode::kUnavailable,
            std::string("cannot serve this connection: ") + e.what()});
    return;
  }
  ReadPrefix();
}

void Connection::Reject(const Error& error) {
  spdlog::info("client {}: {}; closing", peer_, error.ToString());
  wire::FrameBuilder b;
  auto frame = b.FinishError(0, error);
  close_after_flush_ = true;
  Enqueue(std::make_shared<Bytes>(frame.begin(), frame.end()));
}

void Connection::Enqueue(std::shared_ptr<Bytes> bytes, bool counted) {
  if (closed_) return;
  {
    std::lock_guard lock(mu_);
    if (!counted) queued_bytes_ += bytes->size();
  }
  writes_.push_back(std::move(bytes));
  if (!writing_) WriteNext();
}

void Connection::WriteNext() {
  if (writes_.empty()) {
    writing_ = false;
    send_timer_.cancel();
    if (close_after_flush_) CloseNow();
    return;
  }
  writing_ = true;
  send_timer_.expires_after(server_.options().send_timeout);
  send_timer_.async_wait(
      [self = shared_from_this()](const boost::system::error_code& ec) {
        if (ec) return;
        spdlog::warn(
            "client {} took none of its replies for {} ms; "
            "disconnected",
            self->peer_, self->server_.options().send_timeout.count());
        self->CloseNow();
      });
  std::shared_ptr<Bytes> bytes = writes_.front();
  asio::async_write(socket_, asio::buffer(*bytes),
                    [self = shared_from_this(), bytes](
                        const boost::system::error_code& ec, size_t) {
                      if (ec) {
                        self->CloseNow();
                        return;
                      }
                      self->writes_.pop_front();
                      {
                        std::lock_guard lock(self->mu_);
                        self->queued_bytes_ -=
                            std::min(self->queued_bytes_, bytes->size());
                        self->cv_.notify_all();
                      }
                      self->WriteNext();
                    });
}

void Connection::CloseNow() {
  if (closed_.exchange(true)) return;
  {
    std::lock_guard lock(mu_);
    cv_.notify_all();
  }
  boost::system::error_code ignored;
  socket_.shutdown(Socket::shutdown_both, ignored);
  socket_.close(ignored);
  handshake_timer_.cancel();
  send_timer_.cancel();
  server_.Remove(shared_from_this());
}

bool Connection::Send(std::span<const uint8_t> frame) {
  auto bytes = std::make_shared<Bytes>(frame.begin(), frame.end());
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] {
      return closed_ || queued_bytes_ < server_.options().max_queued_bytes;
    });
    if (closed_) return false;
    queued_bytes_ += bytes->size();
  }
  asio::post(server_.io(), [self = shared_from_this(), bytes] {
    self->Enqueue(bytes, /*counted=*/true);
  });
  return true;
}

void Connection::WorkerLoop() {
  while (true) {
    Bytes bytes;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return closed_ || !requests_.empty(); });
      if (closed_) return;
      bytes = std::move(requests_.front());
      requests_.pop_front();
      request_bytes_ -= bytes.size();
    }
    asio::post(server_.io(), [self = shared_from_this()] {
      if (self->reading_paused_ && !self->closed_) {
        self->reading_paused_ = false;
        self->ReadPrefix();
      }
    });
    // Verified on arrival.
    const fbw::Frame* frame = wire::FrameOf(bytes);
    running_request_ = frame->request();
    running_ = true;
    bool keep = server_.handler().Serve(*frame, peer_, *this);
    running_ = false;
    if (!keep) {
      asio::post(server_.io(), [self = shared_from_this()] {
        self->close_after_flush_ = true;
        if (!self->writing_) self->CloseNow();
      });
      return;
    }
  }
}

ServerImpl::~ServerImpl() {
  {
    // No worker starts from here on.
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  auto close_all = [this] {
    boost::system::error_code ignored;
    if (unix_) unix_->close(ignored);
    if (tcp_) tcp_->close(ignored);
    std::set<std::shared_ptr<Connection>> all;
    {
      std::lock_guard lock(mu_);
      all = connections_;
    }
    for (const auto& connection : all) connection->CloseNow();
  };
  if (io_thread_.joinable()) {
    // On the I/O thread, which owns the sockets; waited for, so that nothing
    // is left for io_.stop() to skip.
    std::promise<void> closed;
    asio::post(io_, [&] {
      close_all();
      closed.set_value();
    });
    closed.get_future().wait();
  } else {
    close_all();  // Listen failed: nothing runs
  }
  {
    std::unique_lock lock(mu_);
    workers_cv_.wait(lock, [&] { return workers_ == 0; });
  }
  io_.stop();
  if (io_thread_.joinable()) io_thread_.join();
  {
    std::lock_guard lock(mu_);
    connections_.clear();
  }
  if (!options_.socket_path.empty()) {
    std::error_code ignored;
    std::filesystem::remove(options_.socket_path, ignored);
  }
}

template <typename Acceptor>
void ServerImpl::Accept(Acceptor& acceptor, bool tcp) {
  acceptor.async_accept(
      [this, &acceptor, tcp](const boost::system::error_code& ec,
                             typename Acceptor::protocol_type::socket socket) {
        if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
        if (!ec) {
          // Numbered, so that the log can tell connections apart.
          std::string peer = "#" + std::to_string(++accepted_) + " unix";
          if constexpr (std::is_same_v<typename Acceptor::protocol_type,
                                       asio::ip::tcp>) {
            boost::system::error_code endpoint_ec;
            auto remote = socket.remote_endpoint(endpoint_ec);
            peer = "#" + std::to_string(accepted_) +
                   (endpoint_ec ? " tcp"
                                : " tcp " + remote.address().to_string() + ":" +
                                      std::to_string(remote.port()));
          }
          auto connection = std::make_shared<Connection>(
              *this, Socket(std::move(socket)), std::move(peer),
              tcp && (tcp_needs_token_ || !options_.token.empty()));
          bool full;
          {
            std::lock_guard lock(mu_);
            full = connections_.size() >= options_.max_connections;
            connections_.insert(connection);
          }
          if (full) {
            connection->Reject({ErrorCode::kUnavailable,
                                "too many connections (" +
                                    std::to_string(options_.max_connections) +
                                    ")"});
          } else {
            connection->Start();
          }
        }
        if (ec) {
          // Out of descriptors, say: the listener goes on once some are freed,
          // without spinning meanwhile.
          auto timer = std::make_shared<asio::steady_timer>(
              io_, std::chrono::milliseconds(100));
          timer->async_wait([this, &acceptor, tcp,
                             timer](const boost::system::error_code& wait_ec) {
            if (!wait_ec && acceptor.is_open()) Accept(acceptor, tcp);
          });
          return;
        }
        Accept(acceptor, tcp);
      });
}

Status ServerImpl::Listen() {
  boost::system::error_code ec;
  if (!options_.socket_path.empty()) {
    namespace fs = std::filesystem;
    std::error_code fs_ec;
    auto status = fs::symlink_status(options_.socket_path, fs_ec);
    if (!fs_ec && fs::exists(status)) {
      if (!fs::is_socket(status)) {
        return MakeError(ErrorCode::kInvalidArgument,
                         options_.socket_path +
                             " exists and is not a socket; not replacing it");
      }
      fs::remove(options_.socket_path, fs_ec);
    }
    unix_.emplace(io_);
    asio::local::stream_protocol::endpoint endpoint(options_.socket_path);
    unix_->open(endpoint.protocol(), ec);
    if (!ec) unix_->bind(endpoint, ec);
    if (!ec) {
      if (::chmod(options_.socket_path.c_str(), options_.socket_mode) != 0) {
        ec.assign(errno, boost::system::system_category());
      }
    }
    if (!ec) unix_->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return MakeError(
          ErrorCode::kIoError,
          "cannot listen on " + options_.socket_path + ": " + ec.message());
    }
    Accept(*unix_, false);
  }
  if (!options_.tcp.empty()) {
    WMETA_ASSIGN_OR_RETURN(auto host_port, SplitHostPort(options_.tcp));
    auto [host, port] = host_port;
    auto address =
        asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
    if (ec) {
      return MakeError(
          ErrorCode::kInvalidArgument,
          "invalid listen address '" + host + "': expected an IP address");
    }
    tcp_needs_token_ = !address.is_loopback();
    if (tcp_needs_token_ && options_.token.empty()) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "refusing to listen on " + options_.tcp +
                           " without a token: it is not a loopback address");
    }
    tcp_.emplace(io_);
    asio::ip::tcp::endpoint endpoint(address, port);
    tcp_->open(endpoint.protocol(), ec);
    if (!ec) tcp_->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) tcp_->bind(endpoint, ec);
    if (!ec) tcp_->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return MakeError(ErrorCode::kIoError, "cannot listen on " + options_.tcp +
                                                ": " + ec.message());
    }
    auto bound = tcp_->local_endpoint();
    tcp_address_ =
        bound.address().is_v6()
            ? "[" + bound.address().to_string() +
                  "]:" + std::to_string(bound.port())
            : bound.address().to_string() + ":" + std::to_string(bound.port());
    Accept(*tcp_, true);
  }
  try {
    io_thread_ = std::thread([this] { io_.run(); });
  } catch (const std::system_error& e) {
    return MakeError(ErrorCode::kUnavailable,
                     std::string("cannot start the server: ") + e.what());
  }
  return {};
}

}  // namespace

bool TokenMatches(std::string_view presented, std::string_view secret) {
  // Like Go's subtle.ConstantTimeCompare: the length may show, where the two
  // differ may not.
  if (presented.size() != secret.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < secret.size(); ++i) {
    diff |= static_cast<unsigned char>(presented[i] ^ secret[i]);
  }
  return diff == 0;
}

bool IsLoopback(const std::string& host) {
  if (host == "localhost") return true;
  boost::system::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  return !ec && address.is_loopback();
}

Result<std::unique_ptr<Server>> Server::Start(const ServerOptions& options,
                                              Handler& handler,
                                              std::string store_id) {
  auto server =
      std::make_unique<ServerImpl>(options, handler, std::move(store_id));
  WMETA_RETURN_IF_ERROR(server->Listen());
  return server;
}

}  // namespace wmeta::tools
