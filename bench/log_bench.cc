// The log against raw RocksDB on the same bytes, in the same run (DESIGN.md
// §6):
//   append: batches of 1,000 ~400-byte container events, each batch synced
//   before the
//           next (raw: one WriteBatch of the same record bytes under 8-byte
//           keys, sync);
//   replay: read every record back in order; wmeta verifies and decodes each
//   (raw:
//           iterate the same keys and touch each value);
//   seek:   the first offset at or after a time, on a log of 1M records.
// Results and the command line: bench/RESULTS.md.

#include <benchmark/benchmark.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "events.h"
#include "temp_dir.h"
#include "testing.h"
#include "wmeta/log/log.h"

namespace wmeta {
namespace {

constexpr int kBatch = 1000;
constexpr int kReplayRecords = 200'000;
constexpr int kSeekRecords = 1'000'000;

const std::vector<Event>& Payload() {
  static const std::vector<Event> events = [] {
    std::vector<Event> out;
    for (int i = 0; i < kBatch; ++i)
      out.push_back(testing::RealisticContainerEvent(i));
    return out;
  }();
  return events;
}

std::string BigEndian(uint64_t v) {
  std::string key(8, '\0');
  for (int i = 7; i >= 0; --i, v >>= 8)
    key[static_cast<size_t>(i)] = static_cast<char>(v & 0xff);
  return key;
}

double PayloadBytes() {
  double total = 0;
  for (const auto& e : Payload())
    total += static_cast<double>(e.bytes().size());
  return total / kBatch;
}

std::unique_ptr<rocksdb::DB> OpenRaw(const std::string& dir) {
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* db = nullptr;
  if (!rocksdb::DB::Open(options, dir, &db).ok()) std::abort();
  return std::unique_ptr<rocksdb::DB>(db);
}

std::unique_ptr<log::Log> OpenLog(const std::string& dir,
                                  const char* durability = "sync") {
  log::Options options;
  options.durability = *log::Durability::Parse(durability);
  auto log = log::Log::Open(dir, options);
  if (!log) std::abort();
  return std::move(*log);
}

void BM_RawRocksDbAppendSync(benchmark::State& state) {
  testing::TempDir dir;
  auto db = OpenRaw(dir.path());
  rocksdb::WriteOptions sync;
  sync.sync = true;
  uint64_t offset = 1;
  for (auto _ : state) {
    rocksdb::WriteBatch batch;
    for (const Event& e : Payload()) batch.Put(BigEndian(offset++), e.bytes());
    if (!db->Write(sync, &batch).ok()) state.SkipWithError("write failed");
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.counters["bytes_per_event"] = PayloadBytes();
}

void BM_LogAppendSync(benchmark::State& state) {
  testing::TempDir dir;
  auto log = OpenLog(dir.path());
  for (auto _ : state) {
    if (!log->Append(Payload())) state.SkipWithError("append failed");
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.counters["bytes_per_event"] = PayloadBytes();
  // The per-entity index follows in the background: how far behind it was at
  // the end.
  auto start = std::chrono::steady_clock::now();
  if (!log::internal::WaitIndexed(*log, log->last_offset(),
                                  start + std::chrono::minutes(5))) {
    state.SkipWithError("the index did not catch up");
  }
  state.counters["index_catchup_ms"] =
      std::chrono::duration<double, std::milli>(
          std::chrono::steady_clock::now() - start)
          .count();
}

// Stores of kReplayRecords records, written once and reopened so that they are
// read from table files, as after a restart.
struct ReplayStores {
  testing::TempDir dir;
  std::string raw = dir.Sub("raw");
  std::string log = dir.Sub("log");

  ReplayStores() {
    {
      auto db = OpenRaw(raw);
      uint64_t offset = 1;
      for (int b = 0; b < kReplayRecords / kBatch; ++b) {
        rocksdb::WriteBatch batch;
        for (const Event& e : Payload())
          batch.Put(BigEndian(offset++), e.bytes());
        if (!db->Write({}, &batch).ok()) std::abort();
      }
      if (!db->Flush({}).ok()) std::abort();
    }
    auto l = OpenLog(log, "none");
    for (int b = 0; b < kReplayRecords / kBatch; ++b) {
      if (!l->Append(Payload())) std::abort();
    }
  }
};

ReplayStores& Replay() {
  static ReplayStores stores;
  return stores;
}

void BM_RawRocksDbIterate(benchmark::State& state) {
  auto db = OpenRaw(Replay().raw);
  for (auto _ : state) {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator({}));
    size_t n = 0, bytes = 0;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      bytes += it->key().size() + it->value().size();
      benchmark::DoNotOptimize(it->value().data()[0]);
      ++n;
    }
    if (n != kReplayRecords) state.SkipWithError("short read");
    benchmark::DoNotOptimize(bytes);
  }
  state.SetItemsProcessed(state.iterations() * kReplayRecords);
}

void BM_LogReplay(benchmark::State& state) {
  log::Options read_only;
  read_only.read_only = true;
  auto log = log::Log::Open(Replay().log, read_only);
  if (!log) std::abort();
  for (auto _ : state) {
    auto reader = (*log)->NewReader(1);
    if (!reader) std::abort();
    size_t n = 0, bytes = 0;
    while (true) {
      auto more = (*reader)->Next();
      if (!more || !*more) break;
      const EventView& e = (*reader)->event();
      bytes +=
          e.id().size() + e.source().size() + static_cast<size_t>(e.kind());
      benchmark::DoNotOptimize(e.offset());
      ++n;
    }
    if (n != kReplayRecords) state.SkipWithError("short read");
    benchmark::DoNotOptimize(bytes);
  }
  state.SetItemsProcessed(state.iterations() * kReplayRecords);
}

void BM_LogOffsetAtTime(benchmark::State& state) {
  static testing::TempDir dir;
  static std::unique_ptr<log::Log> log = [] {
    auto l = OpenLog(dir.path(), "none");
    for (int b = 0; b < kSeekRecords / kBatch; ++b) {
      if (!l->Append(Payload())) std::abort();
    }
    return l;
  }();
  Timestamp first = log->Read(1)->view().ingest_time();
  Timestamp last = log->Read(log->last_offset())->view().ingest_time();
  std::mt19937_64 random(1);
  std::uniform_int_distribution<int64_t> pick(ToUnixNanos(first),
                                              ToUnixNanos(last));
  for (auto _ : state) {
    auto offset = log->OffsetAtTime(FromUnixNanos(pick(random)));
    if (!offset) state.SkipWithError("seek failed");
    benchmark::DoNotOptimize(*offset);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["log_records"] = static_cast<double>(log->last_offset());
}

BENCHMARK(BM_RawRocksDbAppendSync)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1000)
    ->UseRealTime();
BENCHMARK(BM_LogAppendSync)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1000)
    ->UseRealTime();
BENCHMARK(BM_RawRocksDbIterate)
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2)
    ->UseRealTime();
BENCHMARK(BM_LogReplay)
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2)
    ->UseRealTime();
BENCHMARK(BM_LogOffsetAtTime)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace wmeta

BENCHMARK_MAIN();
