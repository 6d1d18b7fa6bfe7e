#include "wmeta/collectors/supervisor.h"

#include <algorithm>
#include <exception>
#include <mutex>
#include <set>
#include <system_error>
#include <thread>

namespace wmeta::collectors {
namespace {

// One collector, its health and its thread. It is the Reporter of its own
// runs.
class Slot final : public Reporter {
 public:
  explicit Slot(std::unique_ptr<Collector> collector)
      : collector_(std::move(collector)) {
    health_.name = std::string(collector_->name());
  }

  void Start(Sink& sink, const SupervisorOptions& options) {
    on_health_change_ = options.on_health_change;
    thread_ = std::jthread([this, &sink, options](std::stop_token stop) {
      Loop(sink, options, stop);
    });
  }
  void RequestStop() { thread_.request_stop(); }
  void Join() {
    if (thread_.joinable()) thread_.join();
  }

  CollectorHealth Health() const {
    std::lock_guard lock(mu_);
    return health_;
  }

  void Pulled(const Status& status,
              std::chrono::steady_clock::duration took) override {
    CollectorHealth now;
    {
      std::lock_guard lock(mu_);
      ++health_.pulls;
      health_.last_pull_duration = took;
      if (status) {
        health_.last_error.reset();
      } else {
        ++health_.pull_errors;
        health_.last_error = status.error();
      }
      now = health_;
    }
    Notify(now);
  }

 private:
  void Loop(Sink& sink, const SupervisorOptions& options,
            std::stop_token stop) {
    auto backoff = options.initial_backoff;
    while (!stop.stop_requested()) {
      SetState(CollectorHealth::State::kRunning);
      auto start = std::chrono::steady_clock::now();
      Status status = RunOnce(sink, stop);
      auto lasted = std::chrono::steady_clock::now() - start;
      if (stop.stop_requested()) break;
      if (status) {
        status = MakeError(ErrorCode::kInternal,
                           "collector " + std::string(collector_->name()) +
                               " returned without being stopped");
      }
      if (lasted >= options.healthy_after) backoff = options.initial_backoff;
      CollectorHealth now;
      {
        std::lock_guard lock(mu_);
        ++health_.restarts;
        health_.last_error = status.error();
        health_.state = CollectorHealth::State::kBackingOff;
        now = health_;
      }
      Notify(now);
      SleepUntil(stop, std::chrono::steady_clock::now() + backoff);
      backoff = std::min(backoff * 2, options.max_backoff);
    }
    SetState(CollectorHealth::State::kStopped);
  }

  // A collector can never take the service down: an exception is a failed run.
  Status RunOnce(Sink& sink, std::stop_token stop) {
    try {
      return collector_->Run(sink, *this, stop);
    } catch (const std::exception& e) {
      return MakeError(ErrorCode::kInternal,
                       "collector " + std::string(collector_->name()) +
                           " threw: " + e.what());
    } catch (...) {
      return MakeError(ErrorCode::kInternal,
                       "collector " + std::string(collector_->name()) +
                           " threw a non-standard exception");
    }
  }

  // Only the collector's thread calls it (Pulled runs within its runs).
  void Notify(const CollectorHealth& now) {
    if (now.healthy() == notified_healthy_) return;
    notified_healthy_ = now.healthy();
    if (on_health_change_) on_health_change_(now);
  }

  void SetState(CollectorHealth::State state) {
    std::lock_guard lock(mu_);
    health_.state = state;
  }

  std::unique_ptr<Collector> collector_;
  mutable std::mutex mu_;
  CollectorHealth health_;
  std::function<void(const CollectorHealth&)> on_health_change_;
  bool notified_healthy_ = true;
  std::jthread thread_;
};

class SupervisorImpl final : public Supervisor {
 public:
  explicit SupervisorImpl(std::vector<std::unique_ptr<Slot>> slots)
      : slots_(std::move(slots)) {}

  // Every collector is asked to stop before any is waited for, so that they
  // wind down together.
  ~SupervisorImpl() override { Stop(); }

  void Stop() override {
    for (auto& slot : slots_) slot->RequestStop();
    for (auto& slot : slots_) slot->Join();
  }

  Status StartAll(Sink& sink, const SupervisorOptions& options) {
    for (auto& slot : slots_) {
      try {
        slot->Start(sink, options);
      } catch (const std::system_error& e) {
        return MakeError(
            ErrorCode::kUnavailable,
            std::string("cannot start a collector thread: ") + e.what());
      }
    }
    return {};
  }

  std::vector<CollectorHealth> Health() const override {
    std::vector<CollectorHealth> out;
    out.reserve(slots_.size());
    for (const auto& slot : slots_) out.push_back(slot->Health());
    return out;
  }

 private:
  std::vector<std::unique_ptr<Slot>> slots_;
};

}  // namespace

std::string_view StateName(CollectorHealth::State state) {
  switch (state) {
    case CollectorHealth::State::kRunning:
      return "running";
    case CollectorHealth::State::kBackingOff:
      return "backing_off";
    case CollectorHealth::State::kStopped:
      return "stopped";
  }
  return "unknown";
}

Result<std::unique_ptr<Supervisor>> Supervisor::Start(
    std::vector<std::unique_ptr<Collector>> collectors, Sink& sink,
    SupervisorOptions options) {
  std::set<std::string, std::less<>> names;
  std::vector<std::unique_ptr<Slot>> slots;
  slots.reserve(collectors.size());
  for (auto& collector : collectors) {
    if (collector == nullptr) {
      return MakeError(ErrorCode::kInvalidArgument, "null collector");
    }
    if (!names.emplace(collector->name()).second) {
      return MakeError(
          ErrorCode::kInvalidArgument,
          "two collectors named " + std::string(collector->name()));
    }
    slots.push_back(std::make_unique<Slot>(std::move(collector)));
  }
  auto supervisor = std::make_unique<SupervisorImpl>(std::move(slots));
  // On failure the supervisor's destructor stops the threads already started.
  WMETA_RETURN_IF_ERROR(supervisor->StartAll(sink, options));
  return supervisor;
}

}  // namespace wmeta::collectors
