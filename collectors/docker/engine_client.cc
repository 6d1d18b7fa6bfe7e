#include "engine_client.h"

#include <sys/un.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <utility>

namespace wmeta::docker {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Stream = beast::basic_stream<asio::local::stream_protocol>;

// The Host header is required by HTTP/1.1 and ignored by the engines on a
// unix socket.
constexpr const char* kHost = "localhost";
// Beast bounds header lines, not chunk-size lines or trailers: the read
// buffers are bounded themselves, so that a daemon sending an endless one
// fails the read instead of growing it.
constexpr size_t kMaxFraming = 64 << 10;

std::unexpected<Error> Unavailable(std::string message) {
  return MakeError(ErrorCode::kUnavailable, std::move(message));
}

struct StopContext {
  asio::io_context* ioc;
  void operator()() const { ioc->stop(); }
};

}  // namespace

struct EngineClient::Impl {
  Impl(std::string path, std::chrono::milliseconds t, std::stop_token token)
      : socket_path(std::move(path)),
        timeout(t),
        stop(std::move(token)),
        on_stop(stop, StopContext{&ioc}) {}

  // Runs the context (the background stream read included) until `done`.
  // kUnavailable when stopped first: the client is then broken, since its
  // sockets may have work pending that must never run.
  Status RunUntil(const bool& done) {
    if (broken || stop.stop_requested()) return Unavailable("stopped");
    ioc.restart();
    // A stop between the check above and run_one() makes it return at once:
    // stop() is remembered until restart().
    while (!done && !stop.stop_requested()) {
      if (ioc.run_one() == 0) break;
    }
    if (!done) {
      broken = true;
      return Unavailable("stopped");
    }
    return {};
  }

  // Starts an operation through `start(handler)` and runs until it completes;
  // `what` names it in errors.
  template <typename Start>
  Status Await(Start start, std::string_view what) {
    bool done = false;
    beast::error_code ec;
    start([&](beast::error_code e, auto...) {
      ec = e;
      done = true;
    });
    WMETA_RETURN_IF_ERROR(RunUntil(done));
    if (ec) {
      return Unavailable(std::string(what) + " " + socket_path + ": " +
                         ec.message());
    }
    return {};
  }

  // Connects `stream` and sends GET `target`, all within the timeout.
  Status Send(Stream& stream, const std::string& target) {
    if (socket_path.size() >= sizeof(sockaddr_un::sun_path)) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "socket path too long: " + socket_path);
    }
    stream.expires_after(timeout);
    asio::local::stream_protocol::endpoint endpoint(socket_path);
    WMETA_RETURN_IF_ERROR(Await(
        [&](auto handler) {
          stream.async_connect(endpoint, std::move(handler));
        },
        "cannot connect to"));
    http::request<http::empty_body> request{http::verb::get, target, 11};
    request.set(http::field::host, kHost);
    request.set(http::field::user_agent, "wmeta");
    return Await(
        [&](auto handler) {
          http::async_write(stream, request, std::move(handler));
        },
        "cannot send a request to");
  }

  // Reads the stream's body into `pending` until it ends, breaks or
  // overflows; each completion starts the next read.
  void ReadStream() {
    auto& body = events_parser->get().body();
    body.data = chunk;
    body.size = sizeof(chunk);
    http::async_read_some(
        *events, events_buffer, *events_parser,
        [this](beast::error_code ec, size_t) {
          pending.append(chunk,
                         sizeof(chunk) - events_parser->get().body().size);
          if (ec && ec != http::error::need_buffer) {
            stream_error = "the stream broke: " + ec.message();
          } else if (events_parser->is_done()) {
            stream_error = "the daemon ended the stream";
          } else if (pending.size() > kMaxPending) {
            stream_error = "more than " + std::to_string(kMaxPending) +
                           " bytes of events unread";
          } else {
            ReadStream();
          }
        });
  }

  std::string socket_path;
  std::chrono::milliseconds timeout;
  std::stop_token stop;
  // Declared before every socket and timer, so that it outlives them.
  asio::io_context ioc{1};
  std::stop_callback<StopContext> on_stop;
  bool broken = false;

  std::optional<Stream> events;
  beast::flat_buffer events_buffer{kMaxFraming + sizeof(chunk)};
  std::optional<http::response_parser<http::buffer_body>> events_parser;
  char chunk[16384];
  // Stream bytes not yet returned as lines.
  std::string pending;
  // Why the stream stopped being read; "" while it is.
  std::string stream_error;
};

EngineClient::EngineClient(std::string socket_path,
                           std::chrono::milliseconds timeout,
                           std::stop_token stop)
    : impl_(std::make_unique<Impl>(std::move(socket_path), timeout,
                                   std::move(stop))) {}

EngineClient::~EngineClient() = default;

Result<HttpResponse> EngineClient::Get(const std::string& target) {
  Stream stream(impl_->ioc);
  WMETA_RETURN_IF_ERROR(impl_->Send(stream, target));
  beast::flat_buffer buffer{kMaxFraming + kMaxBody};
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxBody);
  WMETA_RETURN_IF_ERROR(impl_->Await(
      [&](auto handler) {
        http::async_read(stream, buffer, parser, std::move(handler));
      },
      "no answer to GET " + target + " from"));
  return HttpResponse{static_cast<int>(parser.get().result_int()),
                      std::move(parser.get().body())};
}

Status EngineClient::OpenStream(const std::string& target) {
  Impl& impl = *impl_;
  impl.events.emplace(impl.ioc);
  impl.events_parser.emplace();
  // The stream lasts as long as the daemon does.
  impl.events_parser->body_limit(boost::none);
  WMETA_RETURN_IF_ERROR(impl.Send(*impl.events, target));
  WMETA_RETURN_IF_ERROR(impl.Await(
      [&](auto handler) {
        http::async_read_header(*impl.events, impl.events_buffer,
                                *impl.events_parser, std::move(handler));
      },
      "no answer to GET " + target + " from"));
  int status = static_cast<int>(impl.events_parser->get().result_int());
  if (status != 200) {
    return Unavailable("GET " + target + " answered " + std::to_string(status));
  }
  impl.events->expires_never();
  impl.ReadStream();
  return {};
}

bool EngineClient::LineReady() {
  return impl_->pending.find('\n') != std::string::npos;
}

Result<std::optional<std::string>> EngineClient::NextLine(
    std::chrono::steady_clock::time_point deadline) {
  Impl& impl = *impl_;
  if (!impl.events_parser) return Unavailable("no stream is open");
  while (true) {
    size_t eol;
    while ((eol = impl.pending.find('\n')) != std::string::npos) {
      std::string line = impl.pending.substr(0, eol);
      impl.pending.erase(0, eol + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!line.empty()) return line;
    }
    if (impl.pending.size() > kMaxLine) {
      return Unavailable("a line of the stream exceeds " +
                         std::to_string(kMaxLine) + " bytes");
    }
    if (!impl.stream_error.empty()) return Unavailable(impl.stream_error);
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    // Until more of the stream arrives or the deadline.
    size_t had = impl.pending.size();
    bool fired = false;
    asio::steady_timer timer(impl.ioc, deadline);
    timer.async_wait([&](beast::error_code) { fired = true; });
    impl.ioc.restart();
    while (!fired && impl.pending.size() == had && impl.stream_error.empty() &&
           !impl.stop.stop_requested() && !impl.broken) {
      if (impl.ioc.run_one() == 0) break;
    }
    timer.cancel();
    // The cancelled wait completes (it refers to `fired`) before the timer
    // goes: run it now unless stopped, in which case nothing runs again.
    WMETA_RETURN_IF_ERROR(impl.RunUntil(fired));
  }
}

}  // namespace wmeta::docker
