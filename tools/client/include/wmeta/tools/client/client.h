// The client side of wmetad's protocol: a connection (unix socket or TCP,
// plain POSIX sockets, so the CLI needs no Asio) and the Backend over it. The
// CLI, the end-to-end benchmark and tests use it.
//
// Thread-safety: one thread at a time per Client and per remote Backend.

#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "wmeta/schema/wire.h"
#include "wmeta/tools/api/backend.h"

namespace wmeta::tools {

struct ClientOptions {
  // Exactly one of them.
  std::string socket_path;
  // "HOST:PORT".
  std::string tcp;
  std::string token;
  // For the handshake and each non-streaming request.
  std::chrono::milliseconds timeout{300000};
  // The largest frame accepted from the server.
  uint32_t max_frame = 256u << 20;
};

// A verified frame and the bytes it lives in.
struct ReceivedFrame {
  std::vector<uint8_t> bytes;
  const wire::fbw::Frame* frame = nullptr;
};

class Client {
 public:
  // Connects and does the handshake. Errors: kUnavailable (nothing listens
  // there), kPermissionDenied (token), kUnsupportedFormat (version), and those
  // the server sends.
  static Result<std::unique_ptr<Client>> Connect(const ClientOptions& options);
  ~Client();

  // A fresh request id.
  uint64_t NextRequest() { return ++last_request_; }
  // Sends a whole frame (with its length prefix).
  Status Send(std::span<const uint8_t> frame);
  // The next frame, waiting until `deadline`; nullopt at the deadline or when
  // a signal interrupted the wait (the caller looks at its flags). An Error
  // frame is returned as a frame, not as an error. Errors: kUnavailable when
  // the server closed the connection, kCorruption for a malformed frame.
  Result<std::optional<ReceivedFrame>> Receive(
      std::chrono::steady_clock::time_point deadline);
  // Receive for a reply to a plain request, within the timeout; an Error
  // frame becomes the error it carries.
  Result<ReceivedFrame> Await();

  const std::string& store_id() const { return store_id_; }
  const std::string& address() const { return address_; }

 private:
  Client(int fd, ClientOptions options, std::string address);

  int fd_;
  const ClientOptions options_;
  const std::string address_;
  std::string store_id_;
  uint64_t last_request_ = 0;
  // Bytes received but not yet returned as frames.
  std::vector<uint8_t> pending_;
};

std::unique_ptr<Backend> NewRemoteBackend(std::unique_ptr<Client> client);

}  // namespace wmeta::tools
