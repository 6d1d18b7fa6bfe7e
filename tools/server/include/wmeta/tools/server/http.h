// wmetad's HTTP API (Boost.Beast; loopback by default), the paths of the
// README's HTTP table:
// - GET /healthz: 200 when every collector is healthy, 503 otherwise; JSON
//   per collector.
// - GET /metrics: Prometheus text.
// - GET /v1/entities[?kind=&search=&selector=&owner=KIND/ID]: the merged
//   entities.
// - GET /v1/entities/{kind}/{id}: the entity, its sources and layers.
// - GET /v1/history/{kind}/{id}: its history entries.
// - GET /v1/events?from=...[&kind=&source=&raw=1]: NDJSON, streaming; `from`
//   as for `wmeta watch`: snapshot (default), latest, an offset or a time.
// Each connection is served on a thread of its own; a client that stops
// reading a stream only stalls its own subscription.
//
// Thread-safety: thread-safe.

#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "wmeta/tools/api/backend.h"

namespace wmeta::tools {

struct HttpOptions {
  // "HOST:PORT" (port 0: any free port).
  std::string address;
  // When set, requests must carry "Authorization: Bearer <token>"; a
  // non-loopback address refuses to start without one.
  std::string token;
  size_t max_connections = 64;
  // Reading a request, and writing any part of a response.
  std::chrono::milliseconds io_timeout{30000};
};

struct HttpHooks {
  std::function<std::string()> metrics;
  // Whether the service is healthy, and a JSON object saying why.
  std::function<std::pair<bool, std::string>()> health;
};

class HttpServer {
 public:
  // `backend` must outlive the server. Errors: kInvalidArgument (a bad
  // address, or no token on a non-loopback one), kIoError (cannot bind).
  static Result<std::unique_ptr<HttpServer>> Start(const HttpOptions& options,
                                                   Backend& backend,
                                                   HttpHooks hooks);
  // Closes the listener and every connection, and waits for their threads.
  virtual ~HttpServer() = default;
  // With the actual port.
  virtual std::string address() const = 0;
};

}  // namespace wmeta::tools
