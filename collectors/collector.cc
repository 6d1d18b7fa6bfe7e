#include "wmeta/collectors/collector.h"

#include <condition_variable>
#include <mutex>

namespace wmeta::collectors {

// An unset needs only the entity's kind and id, and every entity table has the
// id as field 0, so one generic table serves every kind.
Result<Event> UnsetEvent(std::string_view source, Kind kind,
                         std::string_view id, Timestamp observed) {
  EventBuilder builder;
  auto& fbb = builder.fbb();
  auto id_offset = fbb.CreateString(id);
  auto start = fbb.StartTable();
  fbb.AddOffset(flatbuffers::FieldIndexToOffset(0), id_offset);
  flatbuffers::Offset<void> entity(fbb.EndTable(start));
  return builder.FinishUnion(source, EventType::kUnset, kind, entity, observed);
}

void SleepUntil(std::stop_token stop,
                std::chrono::steady_clock::time_point deadline) {
  // Only the stop token wakes the wait; the mutex exists because the condition
  // variable needs one.
  std::mutex mu;
  std::condition_variable_any wake;
  std::unique_lock lock(mu);
  wake.wait_until(lock, stop, deadline, [] { return false; });
}

Status PullCollector::Run(Sink& sink, Reporter& reporter,
                          std::stop_token stop) {
  while (!stop.stop_requested()) {
    auto start = std::chrono::steady_clock::now();
    Status status = Pull(sink, stop);
    auto took = std::chrono::steady_clock::now() - start;
    // A pull cut short by the stop is not a failure of the source.
    if (!status && stop.stop_requested()) break;
    reporter.Pulled(status, took);
    SleepUntil(stop, start + interval_);
  }
  return {};
}

}  // namespace wmeta::collectors
