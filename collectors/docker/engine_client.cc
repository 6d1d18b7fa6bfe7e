#include "engine_client.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <optional>
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

  // Starts an operation through `start(handler)` and runs the context until
  // it completes; `what` names it in errors. An operation cut short by the
  // stop leaves the client broken: its sockets may have work pending.
  template <typename Start>
  Result<size_t> Await(Start start, std::string_view what) {
    if (broken || stop.stop_requested()) return Unavailable("stopped");
    bool done = false;
    beast::error_code ec;
    size_t bytes = 0;
    start([&](beast::error_code e, auto... n) {
      ec = e;
      if constexpr (sizeof...(n) > 0) bytes = (n, ...);
      done = true;
    });
    ioc.restart();
    // A stop between the check above and run() stops run() at once: stop()
    // is remembered until restart().
    if (!stop.stop_requested()) ioc.run();
    if (!done) {
      broken = true;
      return Unavailable("stopped");
    }
    if (ec && ec != http::error::need_buffer) {
      return Unavailable(std::string(what) + " " + socket_path + ": " +
                         ec.message());
    }
    return bytes;
  }

  // Connects `stream` and sends GET `target`, all within the timeout.
  Status Send(Stream& stream, const std::string& target) {
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
    WMETA_RETURN_IF_ERROR(Await(
        [&](auto handler) {
          http::async_write(stream, request, std::move(handler));
        },
        "cannot send a request to"));
    return {};
  }

  std::string socket_path;
  std::chrono::milliseconds timeout;
  std::stop_token stop;
  // Declared before every socket, so that it outlives them.
  asio::io_context ioc{1};
  std::stop_callback<StopContext> on_stop;
  bool broken = false;

  std::optional<Stream> events;
  beast::flat_buffer events_buffer;
  std::optional<http::response_parser<http::buffer_body>> events_parser;
  // Stream bytes not yet returned as lines.
  std::string pending;
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
  beast::flat_buffer buffer;
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
  impl.events_buffer.clear();
  impl.pending.clear();
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
  return {};
}

bool EngineClient::LineReady() const {
  return impl_->pending.find('\n') != std::string::npos;
}

Result<std::string> EngineClient::NextLine() {
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
    if (impl.events_parser->is_done()) {
      return Unavailable("the daemon ended the stream");
    }
    char chunk[16384];
    auto& body = impl.events_parser->get().body();
    body.data = chunk;
    body.size = sizeof(chunk);
    WMETA_RETURN_IF_ERROR(impl.Await(
        [&](auto handler) {
          http::async_read_some(*impl.events, impl.events_buffer,
                                *impl.events_parser, std::move(handler));
        },
        "the stream broke:"));
    impl.pending.append(chunk, sizeof(chunk) - body.size);
  }
}

}  // namespace wmeta::docker
