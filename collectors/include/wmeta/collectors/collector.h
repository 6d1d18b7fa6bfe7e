// Collectors: producers of events about one source's entities (processes from
// /proc, containers from a runtime, pods from the kubelet). A collector sees
// only the schema and a Sink; the service (tools/) wires the sink to the store
// and runs each collector under a Supervisor, which restarts it after a
// failure.
//
// Thread-safety: a Collector's Run() is called by one thread at a time. A Sink
// is called from many threads at once.

#pragma once

#include <algorithm>
#include <chrono>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "wmeta/schema/error.h"
#include "wmeta/schema/event.h"
#include "wmeta/schema/kind.h"
#include "wmeta/schema/time.h"

namespace wmeta::collectors {

// Where collectors' events go.
class Sink {
 public:
  virtual ~Sink() = default;

  // Appends `events` in order; returns once they are as durable as the store's
  // durability mode promises. Sets equal to what the source already holds are
  // dropped by the store, so emitting them again is cheap but not free.
  virtual Status Emit(std::span<const Event> events) = 0;

  // The ids of the entities of `kind` for which `source` holds a layer now:
  // what a collector reported before it (or the service) restarted, so that
  // what vanished meanwhile can be unset.
  virtual Result<std::vector<std::string>> Known(Kind kind,
                                                 std::string_view source) = 0;
};

// What a running collector reports to its supervisor.
class Reporter {
 public:
  virtual ~Reporter() = default;
  // One pull (a full listing of the source) ended, after `took`.
  virtual void Pulled(const Status& status,
                      std::chrono::steady_clock::duration took) = 0;
};

// Waits until `deadline` or a stop request, whichever comes first.
void SleepUntil(std::stop_token stop,
                std::chrono::steady_clock::time_point deadline);

// An unset of the entity (kind, id) from `source`, observed at `observed`.
Result<Event> UnsetEvent(std::string_view source, Kind kind,
                         std::string_view id, Timestamp observed);

class Collector {
 public:
  virtual ~Collector() = default;

  // Stable and unique among the service's collectors: names it in health,
  // metrics, logs and configuration ("process").
  virtual std::string_view name() const = 0;

  // Collects until `stop` is requested, then returns ok. An error (the source
  // is not there, a stream broke) ends the run; the supervisor runs it again
  // after a backoff. Must return promptly once `stop` is requested.
  virtual Status Run(Sink& sink, Reporter& reporter, std::stop_token stop) = 0;
};

// A collector that lists its source every `interval`. A failed pull is
// reported and retried at the next interval; it does not end the run.
class PullCollector : public Collector {
 public:
  // An interval below kMinInterval (zero, negative) is raised to it: the
  // interval comes from configuration, and pulling back to back would spin a
  // core rather than fail anywhere visible.
  static constexpr std::chrono::milliseconds kMinInterval{1};

  explicit PullCollector(std::chrono::milliseconds interval)
      : interval_(std::max(interval, kMinInterval)) {}

  // Pulls at once, then every interval (measured start to start; a pull that
  // overruns it is followed by the next at once).
  Status Run(Sink& sink, Reporter& reporter, std::stop_token stop) final;

  std::chrono::milliseconds interval() const { return interval_; }

 protected:
  // Lists the source and emits what changed since the last pull.
  virtual Status Pull(Sink& sink, std::stop_token stop) = 0;

 private:
  std::chrono::milliseconds interval_;
};

}  // namespace wmeta::collectors
