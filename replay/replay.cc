#include "wmeta/replay/replay.h"

#include <flatbuffers/reflection.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "wmeta/replay/capture.h"
#include "wmeta/schema/reflection.h"

namespace wmeta::replay {

Result<Event> Rebase(const EventView& record, const std::string& store_id) {
  const fb::Record& r = record.record();
  RecordOrigin origin{store_id, record.offset(), record.ingest_time()};
  if (const fb::Origin* first = r.origin()) {
    origin.store_id = first->store_id() ? first->store_id()->str() : "";
    origin.offset = first->offset();
    origin.ingest_time = FromUnixNanos(first->ingest_time());
  }
  EventBuilder builder;
  // The entity table copied field by field through the schema, whatever its
  // kind.
  auto entity = flatbuffers::CopyTable(
      builder.fbb(), EmbeddedSchema(), EntityTable(record.kind()),
      *static_cast<const flatbuffers::Table*>(r.entity()));
  return builder.FinishUnion(record.source(), record.type(), record.kind(),
                             flatbuffers::Offset<void>(entity.o),
                             record.observed_time(), 0, {}, &origin);
}

Result<ReplayResult> Replay(
    const std::string& capture, const ReplayOptions& options,
    const std::function<Status(std::span<const Event>)>& push,
    const std::function<bool()>& interrupted,
    const std::function<void(uint64_t, uint64_t)>& progress) {
  if (options.speed <= 0) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "replay: the speed must be above 0");
  }
  WMETA_ASSIGN_OR_RETURN(CaptureSummary summary, VerifyCapture(capture));
  WMETA_ASSIGN_OR_RETURN(auto reader, CaptureReader::Open(capture));
  const std::string& store_id = reader->header().store_id;
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  ReplayResult result;
  std::vector<Event> batch;
  // The original ingest time of the batch being gathered, and of the first.
  Timestamp batch_time{}, first_time{};
  auto flush = [&]() -> Status {
    if (batch.empty()) return {};
    if (options.original_timing) {
      auto due = start + std::chrono::duration_cast<Clock::duration>(
                             (batch_time - first_time) / options.speed);
      // In slices, so that an interruption is seen while waiting.
      while (Clock::now() < due) {
        if (interrupted()) {
          return MakeError(ErrorCode::kUnavailable, "interrupted");
        }
        std::this_thread::sleep_until(
            std::min(due, Clock::now() + std::chrono::milliseconds(100)));
      }
    }
    if (interrupted()) return MakeError(ErrorCode::kUnavailable, "interrupted");
    WMETA_RETURN_IF_ERROR(push(batch));
    result.records += batch.size();
    batch.clear();
    if (progress) progress(result.records, summary.records);
    return {};
  };
  while (true) {
    WMETA_ASSIGN_OR_RETURN(std::optional<Event> record, reader->Next());
    if (!record) break;
    EventView view = record->view();
    if (result.records == 0 && batch.empty()) first_time = view.ingest_time();
    bool next_batch = options.original_timing
                          ? !batch.empty() && view.ingest_time() != batch_time
                          : batch.size() >= std::max<size_t>(options.batch, 1);
    if (next_batch) WMETA_RETURN_IF_ERROR(flush());
    batch_time = view.ingest_time();
    WMETA_ASSIGN_OR_RETURN(Event event, Rebase(view, store_id));
    batch.push_back(std::move(event));
  }
  WMETA_RETURN_IF_ERROR(flush());
  result.took = Clock::now() - start;
  return result;
}

}  // namespace wmeta::replay
