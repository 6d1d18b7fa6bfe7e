// Everything the Docker collector takes from outside: connections to the
// engine, the files it reads (a container process's cgroup), the time, and
// the waits between sessions. Three implementations: the live one, one that
// also records each exchange (collectors/recording.h), and one that answers
// from such a recording, so that a collector runs again on recorded input
// exactly as it ran on the live engine.
//
// Thread-safety: not thread-safe; the collector's thread uses an EngineIo and
// its connections. Stops are requested from any thread through the token.

#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "wmeta/collectors/collector.h"
#include "wmeta/collectors/recording.h"
#include "wmeta/schema/error.h"
#include "wmeta/schema/kind.h"
#include "wmeta/schema/time.h"

namespace wmeta::docker {

struct HttpResponse {
  int status = 0;
  std::string body;
};

// One session's connection to the engine (see EngineClient for the live
// contract).
class EngineConnection {
 public:
  virtual ~EngineConnection() = default;
  virtual Result<HttpResponse> Get(const std::string& target) = 0;
  virtual Status OpenStream(const std::string& target) = 0;
  virtual Result<std::optional<std::string>> NextLine(
      std::chrono::steady_clock::time_point deadline) = 0;
  virtual bool LineReady() = 0;
};

// The clock gives the events' observation times and the stream's `since`.
class EngineIo : public Clock {
 public:
  // A session's connection. A replay past its last session requests a stop
  // and answers kUnavailable.
  virtual Result<std::unique_ptr<EngineConnection>> Connect(
      std::stop_token stop) = 0;
  // A file's text; nullopt when it cannot be read.
  virtual std::optional<std::string> ReadFile(const std::string& path) = 0;
  // What `sink` holds from `source` (Sink::Known): recorded, so that a
  // replay reconciles with what the live store held.
  virtual Result<std::vector<std::string>> Known(collectors::Sink& sink,
                                                 Kind kind,
                                                 std::string_view source) = 0;
  // Waits until `deadline` or the stop; a replay does not wait.
  virtual void Pause(std::stop_token stop,
                     std::chrono::steady_clock::time_point deadline) = 0;
};

// The engine on the unix socket `socket`, each request bounded by `timeout`.
std::unique_ptr<EngineIo> LiveEngineIo(std::string socket,
                                       std::chrono::milliseconds timeout);

// `io`, with every exchange also written to `recorder`. A failed write ends
// the recording (the file stays readable up to it) and fails, once, the
// call that made it or the next one that can fail, so that the collector
// reports it.
std::unique_ptr<EngineIo> RecordingEngineIo(
    std::unique_ptr<EngineIo> io,
    std::unique_ptr<collectors::InputRecorder> recorder);

// Answers from `replay`. Requests a stop on `done` where the recorded
// collector was stopped, and once it has nothing more to answer.
std::unique_ptr<EngineIo> ReplayEngineIo(collectors::InputReplay& replay,
                                         std::stop_source done);

}  // namespace wmeta::docker
