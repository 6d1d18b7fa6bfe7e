// The server side of the client protocol (schema/wire.fbs), without the
// sockets: decodes a request, runs it on a Backend and sends the replies.
//
// Thread-safety: a Handler serves one request at a time per call; several
// connections may share one (it holds no per-request state). The registry is
// thread-safe.

#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "wmeta/schema/wire.h"
#include "wmeta/tools/api/backend.h"

namespace wmeta::tools {

// One client's outgoing frames.
class FrameSink {
 public:
  virtual ~FrameSink() = default;
  // Queues `frame` (copied) for the client, in order. Blocks while too much is
  // queued for a client that reads slowly; false once the connection is gone
  // (the caller stops).
  virtual bool Send(std::span<const uint8_t> frame) = 0;
  // Whether the client cancelled the running subscription (or went away).
  virtual bool cancelled() const = 0;
};

// The daemon's running subscriptions, for stats and metrics.
class SubscriberRegistry {
 public:
  struct Entry {
    uint64_t id = 0;
    std::string peer;
    uint64_t next_offset = 0;
    bool catching_up = false;
    uint64_t delivered = 0;
  };

  uint64_t Add(std::string peer);
  void Update(uint64_t id, uint64_t next_offset, bool catching_up,
              uint64_t delivered);
  void Remove(uint64_t id);

  std::vector<Entry> List() const;
  size_t size() const;

 private:
  mutable std::mutex mu_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, Entry> live_;
};

// Hooks of the daemon around requests.
struct HandlerHooks {
  // After each push: the events' count and how long Apply took.
  std::function<void(const Result<store::ApplyResult>&,
                     std::chrono::steady_clock::duration)>
      pushed;
};

class Handler {
 public:
  Handler(Backend& backend, SubscriberRegistry& subscribers,
          HandlerHooks hooks = {});

  // Serves one request (a verified frame other than Hello). Replies and
  // errors go to `out`; false when the connection must close (the client went
  // away, or sent something that is not a request).
  bool Serve(const wire::fbw::Frame& frame, const std::string& peer,
             FrameSink& out);

 private:
  bool Push(uint64_t request, const wire::fbw::PushRequest& push,
            FrameSink& out);
  bool List(uint64_t request, const wire::fbw::ListRequest& list,
            FrameSink& out);
  bool Get(uint64_t request, const wire::fbw::GetRequest& get, FrameSink& out);
  bool History(uint64_t request, const wire::fbw::HistoryRequest& history,
               FrameSink& out);
  bool Diff(uint64_t request, const wire::fbw::DiffRequest& diff,
            FrameSink& out);
  bool Subscribe(uint64_t request, const wire::fbw::SubscribeRequest& sub,
                 const std::string& peer, FrameSink& out);
  bool Stats(uint64_t request, FrameSink& out);
  bool Verify(uint64_t request, FrameSink& out);
  bool Fail(uint64_t request, const Error& error, FrameSink& out);

  Backend& backend_;
  SubscriberRegistry& subscribers_;
  HandlerHooks hooks_;
};

}  // namespace wmeta::tools
