#include "wmeta/tools/server/http.h"

#include <fmt/core.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "wmeta/schema/json.h"
#include "wmeta/schema/utf8.h"
#include "wmeta/tools/api/args.h"
#include "wmeta/tools/api/envelopes.h"
#include "wmeta/tools/server/server.h"

namespace wmeta::tools {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;
using Clock = std::chrono::steady_clock;

// How long a stream waits for changes before looking at shutdown.
constexpr auto kPollInterval = std::chrono::milliseconds(100);
// Requests are small: a method, a path and a few headers.
constexpr uint64_t kMaxRequestBytes = 64 * 1024;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding ('+' is a space in query values); nullopt for a bad escape.
std::optional<std::string> Decode(std::string_view text, bool query) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      int hi = HexValue(text[i + 1]), lo = HexValue(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += query && text[i] == '+' ? ' ' : text[i];
    }
  }
  return out;
}

struct Target {
  std::vector<std::string> path;
  std::multimap<std::string, std::string> query;

  std::string Param(const std::string& key) const {
    auto it = query.find(key);
    return it == query.end() ? "" : it->second;
  }
  std::vector<std::string> Params(const std::string& key) const {
    std::vector<std::string> out;
    for (auto [it, end] = query.equal_range(key); it != end; ++it) {
      // Repeated, or comma-separated.
      std::string_view rest = it->second;
      while (!rest.empty()) {
        size_t comma = rest.find(',');
        out.emplace_back(rest.substr(0, comma));
        rest = comma == std::string_view::npos ? "" : rest.substr(comma + 1);
      }
    }
    return out;
  }
};

std::optional<Target> ParseTarget(std::string_view target) {
  Target out;
  size_t question = target.find('?');
  std::string_view path = target.substr(0, question);
  std::string_view query =
      question == std::string_view::npos ? "" : target.substr(question + 1);
  while (!path.empty()) {
    size_t slash = path.find('/');
    std::string_view segment = path.substr(0, slash);
    if (!segment.empty()) {
      auto decoded = Decode(segment, false);
      if (!decoded) return std::nullopt;
      out.path.push_back(std::move(*decoded));
    }
    path = slash == std::string_view::npos ? "" : path.substr(slash + 1);
  }
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    size_t eq = pair.find('=');
    auto key = Decode(pair.substr(0, eq), true);
    auto value =
        Decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1), true);
    if (!key || !value) return std::nullopt;
    if (!key->empty()) out.query.emplace(std::move(*key), std::move(*value));
    query = amp == std::string_view::npos ? "" : query.substr(amp + 1);
  }
  return out;
}

Response Reply(const Request& request, http::status status,
               std::string content_type, std::string body) {
  Response response(status, request.version());
  response.set(http::field::server, "wmetad");
  response.set(http::field::content_type, content_type);
  response.keep_alive(request.keep_alive());
  response.body() = std::move(body);
  response.prepare_payload();
  return response;
}

http::status StatusOf(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kStoreMismatch:
    case ErrorCode::kFutureOffset:
      return http::status::bad_request;
    case ErrorCode::kNotFound:
      return http::status::not_found;
    case ErrorCode::kOutOfRange:
      return http::status::gone;
    case ErrorCode::kPermissionDenied:
      return http::status::unauthorized;
    case ErrorCode::kUnavailable:
    case ErrorCode::kBusy:
      return http::status::service_unavailable;
    default:
      return http::status::internal_server_error;
  }
}

Response ErrorReply(const Request& request, const Error& error) {
  return Reply(request, StatusOf(error.code), "application/json",
               fmt::format("{{\"error\":\"{}\",\"message\":{}}}\n",
                           ErrorCodeName(error.code), Quote(error.message)));
}

class HttpServerImpl final : public HttpServer {
 public:
  HttpServerImpl(const HttpOptions& options, Backend& backend, HttpHooks hooks)
      : options_(options),
        backend_(backend),
        hooks_(std::move(hooks)),
        acceptor_(io_) {}

  ~HttpServerImpl() override;

  Status Listen();
  std::string address() const override { return address_; }

 private:
  void AcceptLoop();
  // Shuts down the connections whose read or write outlived its deadline:
  // Asio's blocking calls have no timeouts of their own.
  void WatchdogLoop();
  // The deadline of what `fd` does next; time_point::max() when idle on
  // purpose (a stream between changes).
  void Arm(int fd, Clock::time_point deadline);
  void Arm(int fd) { Arm(fd, Clock::now() + options_.io_timeout); }
  void Serve(tcp::socket& socket);
  // Handles one request; false when the connection must close.
  bool Handle(tcp::socket& socket, const Request& request);
  void Stream(tcp::socket& socket, const Request& request,
              const Target& target);
  Result<std::string> Entities(const Target& target);
  Result<std::string> Entity(const std::vector<std::string>& path);
  Result<std::string> History(const std::vector<std::string>& path);

  const HttpOptions options_;
  Backend& backend_;
  const HttpHooks hooks_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::string address_;
  bool needs_token_ = false;
  std::thread accept_thread_;
  std::thread watchdog_thread_;
  std::atomic<bool> stopping_{false};

  std::mutex mu_;
  std::condition_variable cv_;
  // guarded by mu_: each connection's descriptor and deadline.
  std::map<int, Clock::time_point> connections_;
};

HttpServerImpl::~HttpServerImpl() {
  stopping_ = true;
  ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
  if (accept_thread_.joinable()) accept_thread_.join();
  std::unique_lock lock(mu_);
  cv_.notify_all();
  if (watchdog_thread_.joinable()) {
    lock.unlock();
    watchdog_thread_.join();
    lock.lock();
  }
  // Idle connections end at once; streams see stopping_ within a poll
  // interval and finish their response properly, unless they are stuck.
  for (const auto& [fd, deadline] : connections_) ::shutdown(fd, SHUT_RD);
  cv_.wait_for(lock, 3 * kPollInterval, [&] { return connections_.empty(); });
  for (const auto& [fd, deadline] : connections_) ::shutdown(fd, SHUT_RDWR);
  cv_.wait(lock, [&] { return connections_.empty(); });
}

void HttpServerImpl::Arm(int fd, Clock::time_point deadline) {
  std::lock_guard lock(mu_);
  connections_[fd] = deadline;
}

void HttpServerImpl::WatchdogLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    auto now = Clock::now();
    for (const auto& [fd, deadline] : connections_) {
      if (deadline < now) ::shutdown(fd, SHUT_RDWR);
    }
    cv_.wait_for(lock, std::chrono::milliseconds(250));
  }
}

Status HttpServerImpl::Listen() {
  WMETA_ASSIGN_OR_RETURN(auto host_port, SplitHostPort(options_.address));
  boost::system::error_code ec;
  auto address = asio::ip::make_address(
      host_port.first == "localhost" ? "127.0.0.1" : host_port.first, ec);
  if (ec) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        "invalid HTTP address '" + options_.address + "': expected IP:PORT");
  }
  needs_token_ = !options_.token.empty();
  if (!address.is_loopback() && options_.token.empty()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "refusing to serve HTTP on " + options_.address +
                         " without a token: it is not a loopback address");
  }
  tcp::endpoint endpoint(address, host_port.second);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return MakeError(
        ErrorCode::kIoError,
        "cannot serve HTTP on " + options_.address + ": " + ec.message());
  }
  auto bound = acceptor_.local_endpoint();
  address_ = (bound.address().is_v6() ? "[" + bound.address().to_string() + "]"
                                      : bound.address().to_string()) +
             ":" + std::to_string(bound.port());
  try {
    accept_thread_ = std::thread([this] { AcceptLoop(); });
    watchdog_thread_ = std::thread([this] { WatchdogLoop(); });
  } catch (const std::system_error& e) {
    return MakeError(ErrorCode::kUnavailable,
                     std::string("cannot start HTTP: ") + e.what());
  }
  return {};
}

void HttpServerImpl::AcceptLoop() {
  while (!stopping_) {
    tcp::socket socket(io_);
    boost::system::error_code ec;
    acceptor_.accept(socket, ec);
    if (stopping_) return;
    if (ec) {
      // Out of descriptors, say: wait for some to be released.
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(100));
      continue;
    }
    int fd = socket.native_handle();
    bool full;
    {
      std::lock_guard lock(mu_);
      full = connections_.size() >= options_.max_connections;
      if (!full) connections_[fd] = Clock::now() + options_.io_timeout;
    }
    if (full) {
      // Non-blocking: a client that does not read this loses it.
      socket.non_blocking(true, ec);
      Request none;
      auto busy = Reply(none, http::status::service_unavailable, "text/plain",
                        "too many connections\n");
      busy.keep_alive(false);
      http::write(socket, busy, ec);
      continue;
    }
    auto owned = std::make_shared<tcp::socket>(std::move(socket));
    try {
      std::thread([this, owned, fd]() mutable {
        Serve(*owned);
        // Closed before the destructor can go on: it is bound to io_.
        owned.reset();
        std::lock_guard lock(mu_);
        connections_.erase(fd);
        cv_.notify_all();
      }).detach();
    } catch (const std::system_error&) {
      std::lock_guard lock(mu_);
      connections_.erase(fd);
    }
  }
}

void HttpServerImpl::Serve(tcp::socket& socket) {
  beast::flat_buffer buffer;
  while (!stopping_) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(kMaxRequestBytes);
    parser.body_limit(kMaxRequestBytes);
    boost::system::error_code ec;
    Arm(socket.native_handle());
    http::read(socket, buffer, parser, ec);
    if (ec) {
      if (ec != http::error::end_of_stream && !stopping_) {
        Request none;
        auto bad = Reply(none, http::status::bad_request, "text/plain",
                         "malformed request: " + ec.message() + "\n");
        bad.keep_alive(false);
        http::write(socket, bad, ec);
      }
      break;
    }
    if (!Handle(socket, parser.get())) break;
  }
  boost::system::error_code ignored;
  socket.shutdown(tcp::socket::shutdown_both, ignored);
}

bool HttpServerImpl::Handle(tcp::socket& socket, const Request& request) {
  boost::system::error_code ec;
  auto send = [&](Response response) {
    Arm(socket.native_handle());
    http::write(socket, response, ec);
    return !ec && response.keep_alive();
  };
  if (needs_token_) {
    auto header = request[http::field::authorization];
    std::string_view presented(header.data(), header.size());
    if (!presented.starts_with("Bearer ") ||
        !TokenMatches(presented.substr(7), options_.token)) {
      auto denied = ErrorReply(request, {ErrorCode::kPermissionDenied,
                                         "a bearer token is required"});
      denied.set(http::field::www_authenticate, "Bearer");
      return send(std::move(denied));
    }
  }
  if (request.method() != http::verb::get) {
    auto response = Reply(request, http::status::method_not_allowed,
                          "text/plain", "only GET\n");
    response.set(http::field::allow, "GET");
    return send(std::move(response));
  }
  auto target = ParseTarget(
      std::string_view(request.target().data(), request.target().size()));
  if (!target) {
    return send(ErrorReply(
        request, {ErrorCode::kInvalidArgument, "malformed percent-encoding"}));
  }
  const auto& path = target->path;
  auto json = [&](Result<std::string> body) {
    if (!body) return send(ErrorReply(request, body.error()));
    return send(Reply(request, http::status::ok, "application/json",
                      std::move(*body) + "\n"));
  };
  if (path == std::vector<std::string>{"healthz"}) {
    auto [healthy, body] = hooks_.health();
    return send(Reply(
        request, healthy ? http::status::ok : http::status::service_unavailable,
        "application/json", body + "\n"));
  }
  if (path == std::vector<std::string>{"metrics"}) {
    return send(Reply(request, http::status::ok,
                      "text/plain; version=0.0.4; charset=utf-8",
                      hooks_.metrics()));
  }
  if (path.size() >= 2 && path[0] == "v1") {
    if (path[1] == "entities" && path.size() == 2) {
      return json(Entities(*target));
    }
    if (path[1] == "entities" && path.size() >= 4) return json(Entity(path));
    if (path[1] == "history" && path.size() >= 4) return json(History(path));
    if (path[1] == "events" && path.size() == 2) {
      Stream(socket, request, *target);
      return false;  // a stream ends its connection
    }
  }
  return send(ErrorReply(request, {ErrorCode::kNotFound,
                                   "no such endpoint; see /v1/entities, "
                                   "/v1/history, /v1/events, /metrics, "
                                   "/healthz"}));
}

// {kind}/{id}: the id may contain slashes (it is the rest of the path).
Result<EntityId> EntityFromPath(const std::vector<std::string>& path) {
  auto kind = KindFromName(path[2]);
  if (!kind) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "unknown kind '" + path[2] + "'");
  }
  std::string id = path[3];
  for (size_t i = 4; i < path.size(); ++i) id += "/" + path[i];
  return EntityId{*kind, id};
}

Result<std::string> HttpServerImpl::Entities(const Target& target) {
  ListRequest request;
  if (std::string kind = target.Param("kind"); !kind.empty()) {
    request.kind = KindFromName(kind);
    if (!request.kind) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "unknown kind '" + kind + "'");
    }
  }
  request.search = target.Param("search");
  request.selector = target.Param("selector");
  request.owner = target.Param("owner");
  WMETA_ASSIGN_OR_RETURN(EntitiesResult result, backend_.List(request));
  JsonCodec codec;
  // The offset lets a client list, then stream /v1/events from offset + 1
  // without a gap or a repeat.
  std::string out =
      fmt::format("{{\"offset\":{},\"entities\":[", result.at_offset);
  // An entity that JSON cannot show (text that is not UTF-8, from a store
  // older than the checks on the way in) is named in "errors"; it hides
  // nothing else.
  std::string errors;
  bool first = true;
  for (const EntityInfo& entity : result.entities) {
    auto json = EntityInfoJson(codec, entity, /*details=*/false);
    if (!json) {
      errors += fmt::format("{}{{\"entity\":{},\"message\":{}}}",
                            errors.empty() ? "" : ",",
                            Quote(SanitizeUtf8(entity.id().ToString())),
                            Quote(json.error().message));
      continue;
    }
    out += (first ? "" : ",") + *json;
    first = false;
  }
  out += "]";
  if (!errors.empty()) out += ",\"errors\":[" + errors + "]";
  return out + "}";
}

Result<std::string> HttpServerImpl::Entity(
    const std::vector<std::string>& path) {
  WMETA_ASSIGN_OR_RETURN(EntityId id, EntityFromPath(path));
  WMETA_ASSIGN_OR_RETURN(EntityInfo entity, backend_.Get(id, {}, true));
  JsonCodec codec;
  return EntityInfoJson(codec, entity, /*details=*/true);
}

Result<std::string> HttpServerImpl::History(
    const std::vector<std::string>& path) {
  WMETA_ASSIGN_OR_RETURN(EntityId id, EntityFromPath(path));
  WMETA_ASSIGN_OR_RETURN(auto history, backend_.History(id));
  std::string out = fmt::format("{{\"kind\":\"{}\",\"id\":{},\"entries\":[",
                                KindName(id.kind), Quote(id.id));
  for (size_t i = 0; i < history.size(); ++i) {
    out += (i > 0 ? "," : "") + HistoryEntryJson(history[i]);
  }
  return out + "]}";
}

void HttpServerImpl::Stream(tcp::socket& socket, const Request& request,
                            const Target& target) {
  boost::system::error_code ec;
  WatchRequest watch;
  std::string from = target.Param("from");
  Status parsed = ParseWatchFrom(from.empty() ? "snapshot" : from, watch);
  for (const std::string& name : target.Params("kind")) {
    if (!parsed) break;
    auto kind = KindFromName(name);
    if (!kind) {
      parsed =
          MakeError(ErrorCode::kInvalidArgument, "unknown kind '" + name + "'");
    } else {
      watch.kinds.push_back(*kind);
    }
  }
  watch.sources = target.Params("source");
  std::string raw = target.Param("raw");
  watch.raw = raw == "1" || raw == "true";
  Result<std::unique_ptr<tools::Stream>> stream =
      parsed ? backend_.Watch(watch)
             : Result<std::unique_ptr<tools::Stream>>(
                   std::unexpected(parsed.error()));
  if (!stream) {
    auto response = ErrorReply(request, stream.error());
    response.keep_alive(false);
    http::write(socket, response, ec);
    return;
  }
  http::response<http::empty_body> head(http::status::ok, request.version());
  head.set(http::field::server, "wmetad");
  head.set(http::field::content_type, "application/x-ndjson");
  head.set(http::field::cache_control, "no-store");
  head.chunked(true);
  head.keep_alive(false);
  http::response_serializer<http::empty_body> serializer(head);
  Arm(socket.native_handle());
  http::write_header(socket, serializer, ec);
  Arm(socket.native_handle(), Clock::time_point::max());
  JsonCodec codec;
  while (!ec && !stopping_) {
    auto next =
        (*stream)->Next(std::chrono::steady_clock::now() + kPollInterval);
    std::string lines;
    if (!next) {
      lines = fmt::format("{{\"error\":\"{}\",\"message\":{}}}\n",
                          ErrorCodeName(next.error().code),
                          Quote(next.error().message));
    } else if (*next) {
      for (const store::Message& m : **next) {
        auto line = MessageJson(codec, m);
        lines += line ? *line + "\n"
                      : fmt::format("{{\"error\":\"{}\",\"message\":{}}}\n",
                                    ErrorCodeName(line.error().code),
                                    Quote(line.error().message));
      }
    }
    if (!lines.empty()) {
      Arm(socket.native_handle());
      asio::write(socket, http::make_chunk(asio::buffer(lines)), ec);
      Arm(socket.native_handle(), Clock::time_point::max());
    }
    if (!next || !*next) break;
  }
  Arm(socket.native_handle());
  if (!ec) asio::write(socket, http::make_chunk_last(), ec);
}

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::Start(
    const HttpOptions& options, Backend& backend, HttpHooks hooks) {
  auto server =
      std::make_unique<HttpServerImpl>(options, backend, std::move(hooks));
  WMETA_RETURN_IF_ERROR(server->Listen());
  return server;
}

}  // namespace wmeta::tools
