#include "wmeta/collectors/collector.h"

#include <condition_variable>
#include <mutex>

namespace wmeta::collectors {

Status PullCollector::Run(Sink& sink, Reporter& reporter,
                          std::stop_token stop) {
  // Only the stop token wakes the wait; the mutex exists because the condition
  // variable needs one.
  std::mutex mu;
  std::condition_variable_any wake;
  while (!stop.stop_requested()) {
    auto start = std::chrono::steady_clock::now();
    Status status = Pull(sink, stop);
    auto took = std::chrono::steady_clock::now() - start;
    // A pull cut short by the stop is not a failure of the source.
    if (!status && stop.stop_requested()) break;
    reporter.Pulled(status, took);
    std::unique_lock lock(mu);
    wake.wait_until(lock, stop, start + interval_, [] { return false; });
  }
  return {};
}

}  // namespace wmeta::collectors
