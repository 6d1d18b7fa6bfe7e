// The store against DESIGN.md §6 (results and the command: bench/RESULTS.md):
//   fold:        records folded into the view per second, one core;
//   subscribers: 100 subscribers at a paced 100k events/s, latency from the
//                Apply call to delivery, and every event delivered;
//   stalled:     ingest as fast as possible, with and without one subscriber
//                that never reads (the writer must not notice it);
//   open:        opening a 1M-record store with a checkpoint;
//   memory:      heap held by a view against its entities' serialised size.

#include <benchmark/benchmark.h>
#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <thread>
#include <vector>

#include "events.h"
#include "temp_dir.h"
#include "wmeta/store/store.h"

namespace wmeta {
namespace {

using Clock = std::chrono::steady_clock;

// `count` records about `entities` containers, from `sources` sources in
// turn, stamped with offsets from 1.
std::vector<std::shared_ptr<const Event>> Records(size_t count, size_t entities,
                                                  size_t sources) {
  static const char* kSources[] = {"runtime", "node_orchestrator", "custom"};
  std::vector<std::shared_ptr<const Event>> out;
  out.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    auto rebuilt = testing::JsonEvent(
        R"({"source":")" + std::string(kSources[(i / entities) % sources]) +
        R"(","entity":{"kind":"container","id":"c)" +
        std::to_string(i % entities) + R"(","name":"web-)" +
        std::to_string(i % 1000) + R"(","labels":{"app":"web","version":")" +
        std::to_string(i % 7) +
        R"("},"image":{"name":"docker.io/library/nginx","tag":"1.25"},"pid":)" +
        std::to_string(1000 + i % 30000) +
        R"(,"runtime":"docker","state":{"running":true,"status":"running","started_at":")" +
        FormatTime(
            FromUnixNanos(1764000001000000000 + static_cast<int64_t>(i))) +
        R"("},"ports":[{"port":80,"protocol":"tcp"}]}})");
    out.push_back(std::make_shared<const Event>(
        rebuilt.Stamped(i + 1, FromUnixNanos(static_cast<int64_t>(i + 1)))));
  }
  return out;
}

// range(0): sources per container; range(1): 1 for a replay (merges deferred
// to the end, as opening the store and rebuilding past views do), 0 for the
// live fold (every change merged at once, for subscribers).
void BM_Fold(benchmark::State& state) {
  const size_t sources = static_cast<size_t>(state.range(0));
  const bool replay = state.range(1) == 1;
  constexpr size_t kRecords = 200'000, kEntities = 10'000;
  static std::map<size_t, std::vector<std::shared_ptr<const Event>>> cache;
  auto& records = cache[sources];
  if (records.empty()) records = Records(kRecords, kEntities, sources);
  for (auto _ : state) {
    store::View view;
    if (replay) view.DeferMerges();
    for (const auto& record : records)
      benchmark::DoNotOptimize(view.Apply(record));
    if (replay) view.Settle();
  }
  state.SetItemsProcessed(state.iterations() * kRecords);
}

Event Ctr(uint64_t i) {
  return testing::JsonEvent(
      R"({"source":"runtime","entity":{"kind":"container","id":"c)" +
      std::to_string(i % 5000) + R"(","name":"web","pid":)" +
      std::to_string(i) + "}}");
}

// 100 subscribers reading while the writer applies 100 events every
// millisecond for two seconds.
void BM_Subscribers(benchmark::State& state) {
  const int subscribers = static_cast<int>(state.range(0));
  constexpr int kBatch = 100, kBatches = 2000;
  for (auto _ : state) {
    testing::TempDir dir;
    store::Options options;
    auto store = std::move(*store::Store::Open(dir.path(), options));
    std::vector<std::vector<Event>> batches(kBatches);
    for (int b = 0; b < kBatches; ++b) {
      for (int i = 0; i < kBatch; ++i)
        batches[b].push_back(Ctr(static_cast<uint64_t>(b) * kBatch + i));
    }
    const uint64_t total = uint64_t{kBatch} * kBatches;
    std::vector<std::atomic<int64_t>> applied_at(total + 2);
    std::vector<std::vector<int64_t>> latencies(
        static_cast<size_t>(subscribers));
    std::vector<uint64_t> received(static_cast<size_t>(subscribers));
    std::vector<bool> in_order(static_cast<size_t>(subscribers), true);
    std::vector<std::thread> readers;
    std::atomic<int> ready{0};
    for (int s = 0; s < subscribers; ++s) {
      readers.emplace_back([&, s] {
        auto sub = std::move(*store->Subscribe(
            {.from = store::SubscribeOptions::From::kOffset, .offset = 1}));
        ++ready;
        uint64_t expect = 1;
        while (expect <= total) {
          auto bundle = sub->Next(Clock::now() + std::chrono::seconds(5));
          if (!bundle) break;
          int64_t now = Clock::now().time_since_epoch().count();
          for (const auto& m : *bundle) {
            if (m.type != store::Message::Type::kEvent) continue;
            if (m.offset != expect) in_order[static_cast<size_t>(s)] = false;
            expect = m.offset + 1;
            ++received[static_cast<size_t>(s)];
            // A sample: every 16th event.
            if (m.offset % 16 == 0) {
              latencies[static_cast<size_t>(s)].push_back(
                  now - applied_at[m.offset].load());
            }
          }
        }
      });
    }
    while (ready < subscribers) std::this_thread::yield();
    auto start = Clock::now();
    for (int b = 0; b < kBatches; ++b) {
      std::this_thread::sleep_until(start + std::chrono::milliseconds(b));
      int64_t now = Clock::now().time_since_epoch().count();
      for (int i = 1; i <= kBatch; ++i)
        applied_at[static_cast<uint64_t>(b) * kBatch + i] = now;
      if (!store->Apply(batches[static_cast<size_t>(b)]))
        state.SkipWithError("apply failed");
    }
    double seconds =
        std::chrono::duration<double>(Clock::now() - start).count();
    for (auto& t : readers) t.join();
    std::vector<int64_t> all;
    uint64_t delivered = 0;
    bool ordered = true;
    for (int s = 0; s < subscribers; ++s) {
      all.insert(all.end(), latencies[static_cast<size_t>(s)].begin(),
                 latencies[static_cast<size_t>(s)].end());
      delivered += received[static_cast<size_t>(s)];
      ordered = ordered && in_order[static_cast<size_t>(s)];
    }
    std::sort(all.begin(), all.end());
    auto pct = [&](double p) {
      return all.empty() ? 0.0
                         : static_cast<double>(all[static_cast<size_t>(
                               p * static_cast<double>(all.size() - 1))]) /
                               1e6;
    };
    state.counters["ingest_events_per_s"] =
        static_cast<double>(total) / seconds;
    state.counters["p50_ms"] = pct(0.50);
    state.counters["p99_ms"] = pct(0.99);
    state.counters["max_ms"] = pct(1.0);
    state.counters["delivered_fraction"] =
        static_cast<double>(delivered) /
        static_cast<double>(total * static_cast<uint64_t>(subscribers));
    state.counters["in_order"] = ordered ? 1 : 0;
  }
}

// Ingest as fast as possible; range(0) = 1 adds a subscriber that never reads.
void BM_IngestWithStalledSubscriber(benchmark::State& state) {
  constexpr int kBatch = 1000, kBatches = 300;
  std::vector<std::vector<Event>> batches(kBatches);
  for (int b = 0; b < kBatches; ++b) {
    for (int i = 0; i < kBatch; ++i)
      batches[b].push_back(Ctr(static_cast<uint64_t>(b) * kBatch + i));
  }
  for (auto _ : state) {
    state.PauseTiming();
    testing::TempDir dir;
    store::Options options;
    options.live_changes = 4096;
    auto store = std::move(*store::Store::Open(dir.path(), options));
    std::unique_ptr<store::Subscription> stalled;
    if (state.range(0) == 1) {
      stalled = std::move(
          *store->Subscribe({.from = store::SubscribeOptions::From::kLatest}));
    }
    state.ResumeTiming();
    for (const auto& batch : batches) {
      if (!store->Apply(batch)) state.SkipWithError("apply failed");
    }
    state.PauseTiming();
    stalled.reset();
    store.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * kBatch * kBatches);
}

// A store of 1M records about 10k containers, closed with a checkpoint; and
// the same with 100k records after the newest checkpoint.
struct OpenFixture {
  testing::TempDir dir;
  std::string with_checkpoint = dir.Sub("checkpoint");
  std::string with_tail = dir.Sub("tail");

  OpenFixture() {
    Build(with_checkpoint, 0);
    Build(with_tail, 100'000);
  }

  // 1M records; with a tail, the newest checkpoint is `tail` records before
  // the end.
  static void Build(const std::string& path, uint64_t tail) {
    constexpr uint64_t kRecords = 1'000'000;
    store::Options options;
    options.log.durability = *log::Durability::Parse("none");
    options.checkpoint_every_records = 0;
    options.checkpoint_every = std::chrono::seconds(0);
    auto store = std::move(*store::Store::Open(path, options));
    std::vector<Event> batch;
    for (uint64_t i = 0; i < kRecords; ++i) {
      batch.push_back(Ctr(i));
      if (batch.size() == 1000) {
        if (!store->Apply(batch)) std::abort();
        batch.clear();
      }
      if (tail > 0 && i + 1 == kRecords - tail && !store->Checkpoint())
        std::abort();
    }
    store.reset();   // writes a checkpoint at the end...
    if (tail > 0) {  // ...which the tail variant must not have
      for (const auto& entry :
           std::filesystem::directory_iterator(path + "/checkpoints")) {
        if (entry.path().string().ends_with("00000000000001000000.wcp")) {
          std::filesystem::remove(entry.path());
        }
      }
    }
  }
};

OpenFixture& Fixture() {
  static OpenFixture fixture;
  return fixture;
}

void BM_Open(benchmark::State& state) {
  const std::string& path =
      state.range(0) == 0 ? Fixture().with_checkpoint : Fixture().with_tail;
  for (auto _ : state) {
    store::Options options;
    options.log.read_only = true;
    auto store = store::Store::Open(path, options);
    if (!store) state.SkipWithError("open failed");
    benchmark::DoNotOptimize((*store)->applied_offset());
    state.PauseTiming();
    store->reset();
    state.ResumeTiming();
  }
  state.counters["replayed"] = state.range(0) == 0 ? 0 : 100'000;
}

// Heap bytes the view holds per serialised byte of its merged entities.
void BM_ViewMemory(benchmark::State& state) {
  const size_t sources = static_cast<size_t>(state.range(0));
  constexpr size_t kEntities = 20'000;
  auto records = Records(kEntities * sources, kEntities, sources);
  for (auto _ : state) {
    size_t before = mallinfo2().uordblks;
    auto view = std::make_unique<store::View>();
    for (const auto& record : records) view->Apply(record);
    size_t after = mallinfo2().uordblks;
    // The records are shared with `records`: count those the view keeps.
    size_t layer_bytes = 0, merged_bytes = 0;
    view->ForEach([&](const store::EntityPtr& e) {
      merged_bytes += e->merged->bytes().size();
      for (const auto& layer : e->layers) layer_bytes += layer->bytes().size();
    });
    double overhead = static_cast<double>(after - before);
    double held = overhead + static_cast<double>(layer_bytes);
    state.counters["entities"] = static_cast<double>(view->size());
    state.counters["serialized_bytes"] = static_cast<double>(merged_bytes);
    state.counters["held_bytes"] = held;
    state.counters["ratio"] = held / static_cast<double>(merged_bytes);
  }
}

BENCHMARK(BM_Fold)
    ->ArgNames({"sources", "replay"})
    ->Args({1, 0})
    ->Args({2, 0})
    ->Args({1, 1})
    ->Args({2, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_Subscribers)
    ->Arg(100)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_IngestWithStalledSubscriber)
    ->Arg(0)
    ->Arg(1)
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_Open)
    ->Arg(0)
    ->Arg(1)
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_ViewMemory)->Arg(1)->Arg(2)->Iterations(1);

}  // namespace
}  // namespace wmeta

BENCHMARK_MAIN();
