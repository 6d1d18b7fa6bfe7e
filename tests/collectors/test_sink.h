// An in-memory Sink for collector tests: records every Emit, serves Known from
// a map, and can be told to fail the next Emit. Offers waiting helpers with a
// deadline, so tests never sleep. And a Reporter that ends a run after one
// pull.
//
// Thread-safety: TestSink is thread-safe; OnePull is for one run.

#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wmeta/collectors/collector.h"

namespace wmeta::testing {

class TestSink final : public collectors::Sink {
 public:
  Status Emit(std::span<const Event> events) override {
    std::lock_guard lock(mu_);
    if (fail_next_emit_) {
      fail_next_emit_ = false;
      return MakeError(ErrorCode::kIoError, "test sink: emit failed");
    }
    emits_.emplace_back(events.begin(), events.end());
    changed_.notify_all();
    return {};
  }

  Result<std::vector<std::string>> Known(Kind kind,
                                         std::string_view source) override {
    std::lock_guard lock(mu_);
    auto it = known_.find({kind, std::string(source)});
    if (it == known_.end()) return std::vector<std::string>{};
    return it->second;
  }

  void SetKnown(Kind kind, std::string source, std::vector<std::string> ids) {
    std::lock_guard lock(mu_);
    known_[{kind, std::move(source)}] = std::move(ids);
  }

  void FailNextEmit() {
    std::lock_guard lock(mu_);
    fail_next_emit_ = true;
  }

  // Every successful Emit call so far, each with its events.
  std::vector<std::vector<Event>> Emits() const {
    std::lock_guard lock(mu_);
    return emits_;
  }

  // Every event emitted so far, in order.
  std::vector<Event> Events() const {
    std::lock_guard lock(mu_);
    std::vector<Event> out;
    for (const auto& emit : emits_)
      out.insert(out.end(), emit.begin(), emit.end());
    return out;
  }

  // Waits until `done(Events())` holds; false after 30 s.
  bool WaitFor(const std::function<bool(const std::vector<Event>&)>& done) {
    std::unique_lock lock(mu_);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    return changed_.wait_until(lock, deadline, [&] {
      std::vector<Event> all;
      for (const auto& emit : emits_)
        all.insert(all.end(), emit.begin(), emit.end());
      return done(all);
    });
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::map<std::pair<Kind, std::string>, std::vector<std::string>> known_;
  std::vector<std::vector<Event>> emits_;
  bool fail_next_emit_ = false;
};

// Ends a run after its first pull, so that each Run is exactly one pull, and
// keeps that pull's status.
class OnePull final : public collectors::Reporter {
 public:
  void Pulled(const Status& status,
              std::chrono::steady_clock::duration) override {
    status_ = status;
    stop_.request_stop();
  }
  std::stop_token token() const { return stop_.get_token(); }
  const Status& status() const { return status_; }

 private:
  std::stop_source stop_;
  Status status_ = MakeError(ErrorCode::kInternal, "no pull");
};

}  // namespace wmeta::testing
