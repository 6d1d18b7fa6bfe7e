// HTTP/1.1 to a container engine's API on a unix socket (Docker's, podman's
// Docker-compatible one): GET requests with a deadline, and one long-lived
// GET whose body is a stream of lines (/events). Beast and Asio stay in
// engine_client.cc.
//
// Once the stream is open it is read continuously, also while a Get or a
// NextLine waits, into a bounded buffer: an engine that drops events for a
// subscriber that does not read (Docker gives each 100 ms) never waits on
// this one.
//
// Thread-safety: not thread-safe; one thread uses a client. A stop requested
// on the token given at construction (from any thread) ends the call in
// progress with kUnavailable, and every later one.

#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>

#include "engine_io.h"
#include "wmeta/schema/error.h"

namespace wmeta::docker {

class EngineClient final : public EngineConnection {
 public:
  // The largest response body Get accepts, and the longest line of a stream.
  static constexpr size_t kMaxBody = size_t{64} << 20;
  static constexpr size_t kMaxLine = size_t{1} << 20;
  // Stream bytes read ahead of NextLine, at most: past it the stream counts
  // as broken (the collector lists everything again).
  static constexpr size_t kMaxPending = size_t{64} << 20;

  // Connects lazily. `timeout` bounds each Get and the opening of the stream,
  // connect to last byte.
  EngineClient(std::string socket_path, std::chrono::milliseconds timeout,
               std::stop_token stop);
  ~EngineClient() override;
  EngineClient(const EngineClient&) = delete;
  EngineClient& operator=(const EngineClient&) = delete;

  // GET `target` on a connection of its own. Any status is a response;
  // kUnavailable when the daemon cannot be reached, does not answer in time
  // or answers what is not HTTP, or a body over kMaxBody; kInvalidArgument
  // for a socket path too long for a unix socket.
  Result<HttpResponse> Get(const std::string& target) override;

  // Sends GET `target` on the stream connection and returns once the response
  // headers arrived; from then on the body is read in the background. A
  // status other than 200 is kUnavailable.
  Status OpenStream(const std::string& target) override;

  // The next non-empty line of the stream, waiting until `deadline` at most
  // (nullopt then: an idle stream is normal). kUnavailable when the stream
  // ended or broke, a line exceeds kMaxLine or the read-ahead kMaxPending.
  Result<std::optional<std::string>> NextLine(
      std::chrono::steady_clock::time_point deadline) override;

  // Whether a whole line has arrived already, so that NextLine returns it at
  // once.
  bool LineReady() override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wmeta::docker
