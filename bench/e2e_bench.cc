// wmetad end to end (issue 4): a client pushes batches of 1,000 ~430-byte
// container events over the unix socket, each acknowledged once fsynced, and
// N clients subscribed over the same socket receive every one. Measured: push
// throughput, and for every event and every subscriber the time from the
// push being sent to its delivery (p50, p99). The real wmetad binary, no
// collectors, a fresh data dir per benchmark.
//
// Baselines in the same run: raw RocksDB WriteBatch + sync of the same record
// bytes in batches of 1,000, the durable write every push pays; and the store
// itself in-process (Store::Apply of the same batches, sync), which is what
// the socket adds to.
// Results and the command line: bench/RESULTS.md.

#include <benchmark/benchmark.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "events.h"
#include "subprocess.h"
#include "temp_dir.h"
#include "wmeta/store/store.h"
#include "wmeta/tools/client/client.h"

namespace wmeta {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kBatch = 1000;
constexpr int kBatches = 100;

// Every event a distinct container, so that none is a no-op.
const std::vector<std::vector<Event>>& Batches() {
  static const auto batches = [] {
    std::vector<std::vector<Event>> out(kBatches);
    for (int b = 0; b < kBatches; ++b) {
      for (int i = 0; i < kBatch; ++i) {
        out[b].push_back(testing::RealisticContainerEvent(b * kBatch + i));
      }
    }
    return out;
  }();
  return batches;
}

void BM_RawRocksDbAppendSync(benchmark::State& state) {
  testing::TempDir dir;
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* db = nullptr;
  if (!rocksdb::DB::Open(options, dir.path(), &db).ok()) std::abort();
  std::unique_ptr<rocksdb::DB> owned(db);
  rocksdb::WriteOptions sync;
  sync.sync = true;
  uint64_t offset = 0;
  for (auto _ : state) {
    rocksdb::WriteBatch batch;
    for (const Event& e : Batches()[offset / kBatch % kBatches]) {
      std::string key(8, '\0');
      uint64_t v = ++offset;
      for (int i = 7; i >= 0; --i, v >>= 8) {
        key[static_cast<size_t>(i)] = static_cast<char>(v & 0xff);
      }
      batch.Put(key, e.bytes());
    }
    if (!db->Write(sync, &batch).ok()) state.SkipWithError("write failed");
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}

void BM_StoreApplyInProcess(benchmark::State& state) {
  testing::TempDir dir;
  store::Options options;
  auto store = store::Store::Open(dir.path(), options);
  if (!store) std::abort();
  int b = 0;
  for (auto _ : state) {
    auto result = (*store)->Apply(Batches()[b++ % kBatches]);
    if (!result || result->appended != kBatch) {
      state.SkipWithError("apply failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}

// A wmetad of its own, on a temp dir.
class Daemon {
 public:
  Daemon()
      : socket_(dir_.Sub("wmetad.sock")),
        child_({WMETAD, "--data-dir", dir_.Sub("data"), "--socket", socket_,
                "--http", "", "--collectors", "", "--log-level", "warn"},
               "/dev/null") {}

  // Connects once the daemon listens.
  std::unique_ptr<tools::Backend> Connect() {
    tools::ClientOptions options;
    options.socket_path = socket_;
    auto deadline = Clock::now() + std::chrono::seconds(30);
    while (Clock::now() < deadline) {
      if (auto client = tools::Client::Connect(options)) {
        return tools::NewRemoteBackend(std::move(*client));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::abort();
  }

 private:
  testing::TempDir dir_;
  std::string socket_;
  testing::Child child_;
};

void BM_SocketPushToSubscribers(benchmark::State& state) {
  const int subscribers = static_cast<int>(state.range(0));
  const uint64_t total = uint64_t{kBatch} * kBatches;
  Daemon daemon;
  auto pusher = daemon.Connect();

  // delivered[s][offset - 1]: when subscriber s received the event.
  std::vector<std::vector<Clock::time_point>> delivered(
      subscribers, std::vector<Clock::time_point>(total));
  std::atomic<int> ready{0};
  std::atomic<bool> failed{false};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int s = 0; s < subscribers; ++s) {
    threads.emplace_back([&, s] {
      auto backend = daemon.Connect();
      tools::WatchRequest request;
      request.from = store::SubscribeOptions::From::kOffset;
      request.offset = 1;
      request.raw = true;
      request.until = total;
      auto stream = backend->Watch(request);
      ++ready;
      if (!stream) {
        failed = true;
        return;
      }
      while (!stop) {
        auto bundle =
            (*stream)->Next(Clock::now() + std::chrono::milliseconds(100));
        if (!bundle) {
          failed = true;
          return;
        }
        if (!*bundle) return;  // the end: every event up to `total`
        auto now = Clock::now();
        for (const store::Message& m : **bundle) {
          if (m.type == store::Message::Type::kEvent) {
            delivered[s][m.offset - 1] = now;
          }
        }
      }
    });
  }
  while (ready < subscribers) std::this_thread::yield();

  std::vector<Clock::time_point> sent(kBatches);
  int b = 0;
  for (auto _ : state) {
    sent[b] = Clock::now();
    auto result = pusher->Push(Batches()[b]);
    if (!result || result->appended != kBatch ||
        result->first_offset != uint64_t(b) * kBatch + 1) {
      state.SkipWithError("push failed");
      stop = true;
      break;
    }
    ++b;
  }
  for (auto& t : threads) t.join();
  state.SetItemsProcessed(state.iterations() * kBatch);
  if (failed) {
    state.SkipWithError("a subscriber failed");
    return;
  }

  if (subscribers == 0) return;
  std::vector<double> latencies_ms;
  latencies_ms.reserve(total * subscribers);
  for (const auto& times : delivered) {
    for (uint64_t i = 0; i < uint64_t(b) * kBatch; ++i) {
      if (times[i] == Clock::time_point{}) {
        state.SkipWithError("an event was not delivered");
        return;
      }
      latencies_ms.push_back(
          std::chrono::duration<double, std::milli>(times[i] - sent[i / kBatch])
              .count());
    }
  }
  std::sort(latencies_ms.begin(), latencies_ms.end());
  state.counters["p50_ms"] = latencies_ms[latencies_ms.size() / 2];
  state.counters["p99_ms"] = latencies_ms[latencies_ms.size() * 99 / 100];
  state.counters["delivered"] = static_cast<double>(latencies_ms.size());
}

BENCHMARK(BM_RawRocksDbAppendSync)->Iterations(kBatches)->UseRealTime();
BENCHMARK(BM_StoreApplyInProcess)->Iterations(kBatches)->UseRealTime();
BENCHMARK(BM_SocketPushToSubscribers)
    ->Arg(0)
    ->Arg(1)
    ->Arg(10)
    ->Iterations(kBatches)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace wmeta

BENCHMARK_MAIN();
