// Runs collectors, each on its own thread, and keeps them running: a run that
// fails (an error, or an exception: a collector can never take the service
// down) is restarted after an exponential backoff (1 s doubling to 30 s; back
// to 1 s after a run that lasted a minute). Health and counters of each are
// readable at any time.
//
// Thread-safety: thread-safe.

#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "wmeta/collectors/collector.h"

namespace wmeta::collectors {

struct CollectorHealth {
  enum class State {
    kRunning,
    // The last run failed; the next starts after a backoff.
    kBackingOff,
    kStopped,
  };
  std::string name;
  State state = State::kRunning;
  // Runs that ended in failure.
  uint64_t restarts = 0;
  uint64_t pulls = 0;
  uint64_t pull_errors = 0;
  std::chrono::steady_clock::duration last_pull_duration{};
  // The last run failure or pull error, if the last run or pull failed.
  std::optional<Error> last_error;
  // Whether it is running and its last pull (if it pulls) succeeded.
  bool healthy() const {
    return state == State::kRunning && !last_error.has_value();
  }
};

std::string_view StateName(CollectorHealth::State state);

struct SupervisorOptions {
  std::chrono::milliseconds initial_backoff{1000};
  std::chrono::milliseconds max_backoff{30000};
  // A run that lasted this long resets the backoff.
  std::chrono::milliseconds healthy_after{60000};
  // Called when a collector's healthy() turns false or true again (they all
  // start healthy), with its health then: for logs, since health flips
  // rarely and errors repeat. On the collector's thread; must not block.
  std::function<void(const CollectorHealth&)> on_health_change;
};

class Supervisor {
 public:
  // Starts a thread per collector, each running it against `sink`, which must
  // outlive the supervisor. kInvalidArgument for two collectors of one name;
  // kUnavailable when a thread cannot be started.
  static Result<std::unique_ptr<Supervisor>> Start(
      std::vector<std::unique_ptr<Collector>> collectors, Sink& sink,
      SupervisorOptions options = {});

  // Stops every collector and waits for them; Health() goes on answering.
  // Idempotent.
  virtual void Stop() = 0;

  // Stop(), then gone.
  virtual ~Supervisor() = default;

  // In the order the collectors were given.
  virtual std::vector<CollectorHealth> Health() const = 0;
};

}  // namespace wmeta::collectors
