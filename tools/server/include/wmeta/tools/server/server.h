// wmetad's client protocol server: listens on a unix socket (and optionally
// TCP), does the handshake and hands each connection's requests to a Handler
// on a thread of the connection's own, so that a slow request or a long
// subscription holds up nobody else. Replies are written asynchronously; a
// client that stops reading fills its own bounded queue, which pauses its own
// subscription (which then catches up from the log) and, after send_timeout,
// loses the connection. Nothing a client sends can block the store's writer.
//
// Thread-safety: thread-safe.

#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "wmeta/schema/error.h"
#include "wmeta/tools/protocol/handler.h"

namespace wmeta::tools {

struct ServerOptions {
  // A unix socket path (an existing socket file there is replaced); empty:
  // none.
  std::string socket_path;
  // Permissions of the socket file: owner and group may connect.
  uint32_t socket_mode = 0660;
  // "HOST:PORT" (port 0: any free port); empty: none.
  std::string tcp;
  // Checked on TCP connections when set; a TCP listener on a non-loopback
  // address refuses to start without one.
  std::string token;
  uint32_t max_frame = wire::kDefaultMaxFrame;
  // Reply bytes queued for one client before its requests wait.
  size_t max_queued_bytes = size_t{8} << 20;
  std::chrono::milliseconds handshake_timeout{10000};
  // A client that takes none of its queued replies for this long is dropped.
  std::chrono::milliseconds send_timeout{60000};
  size_t max_connections = 256;
};

class Server {
 public:
  // Binds the listeners and starts serving with `handler`, which must outlive
  // the server. Errors: kInvalidArgument (a bad address, a non-loopback TCP
  // address without a token), kIoError (cannot bind).
  static Result<std::unique_ptr<Server>> Start(const ServerOptions& options,
                                               Handler& handler,
                                               std::string store_id);

  // Closes the listeners and every connection, and waits for the requests in
  // progress to end.
  virtual ~Server() = default;

  // The TCP listener's address with its actual port ("127.0.0.1:41234"), or
  // "" without one.
  virtual std::string tcp_address() const = 0;
  virtual size_t connections() const = 0;
};

// Whether a presented token is the configured secret, in time that does not
// depend on where they differ.
bool TokenMatches(std::string_view presented, std::string_view secret);

// Whether `host` is a loopback address (127.0.0.0/8, ::1, "localhost").
bool IsLoopback(const std::string& host);

// Splits "HOST:PORT" ("[::1]:80" for IPv6). kInvalidArgument otherwise.
}  // namespace wmeta::tools
