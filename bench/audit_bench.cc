// The audit questions on a log of 1M records (DESIGN.md §6, issue 6: each
// interactive, under a second), results and the command in bench/RESULTS.md:
//   history:  `wmeta history KIND/ID`, a container with a few hundred
//             records over the day;
//   diff:     `wmeta diff --from T1 --to T2`, 15 minutes of a day;
//   at-time:  `wmeta list --at-time T`;
// each in-process (the store's call) and as the command a user types (the
// CLI opening the data dir, read-only, then answering), against baselines
// measured in the same run: reading the whole log once, the least any answer
// without the per-entity index and the checkpoints would cost; and the past
// views with only the two newest checkpoints (/1), as before history
// checkpoints were kept.
//
// The log: a day of a busy node, 1M records over 24 h (FakeClock), 1,000 to
// 4,000 live containers and processes at a time, created, changed (state,
// pid, labels) and removed, from two sources; default store options
// (a checkpoint every 100k records).

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "events.h"
#include "fake_clock.h"
#include "subprocess.h"
#include "temp_dir.h"
#include "wmeta/store/store.h"

namespace wmeta {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr uint64_t kRecords = 1'000'000;
constexpr int64_t kDayStart = 1795564800'000'000'000;  // 2026-11-25T00:00Z
constexpr int64_t kDay = int64_t{86400} * 1'000'000'000;
constexpr size_t kLive = 2000;

struct Fixture {
  testing::TempDir dir;
  std::string data;
  std::string newest_only;
  // A container with many records, alive all day.
  std::string busy_id;
  size_t busy_records = 0;
};

std::string Hex(uint64_t n) {
  char text[17];
  std::snprintf(text, sizeof text, "%016lx", static_cast<unsigned long>(n));
  return std::string(text) + text + text + text;
}

// Builds the day once, for every benchmark.
Fixture& Day() {
  static Fixture* fixture = [] {
    auto* f = new Fixture;
    f->data = f->dir.Sub("data");
    testing::FakeClock clock(kDayStart);
    store::Options options;
    options.log.durability.mode = log::Durability::Mode::kNone;
    options.log.clock = &clock;
    auto opened = store::Store::Open(f->data, options);
    if (!opened) std::abort();
    std::unique_ptr<store::Store> s = std::move(*opened);
    std::mt19937_64 random(42);
    std::vector<uint64_t> live;
    uint64_t next = 1;
    const uint64_t busy = 1;
    f->busy_id = Hex(busy);
    std::vector<Event> batch;
    auto start = SteadyClock::now();
    // The store drops sets that change nothing: generate until the log
    // holds kRecords.
    for (uint64_t i = 0; s->log().last_offset() < kRecords;) {
      uint64_t roll = random() % 100;
      uint64_t n;
      bool unset = false;
      if (live.size() < kLive / 2 || (roll < 5 && live.size() < 2 * kLive)) {
        n = next++;
        live.push_back(n);
      } else if (roll < 9) {
        size_t at = random() % live.size();
        n = live[at];
        if (n == busy) continue;
        live[at] = live.back();
        live.pop_back();
        unset = true;
      } else {
        // The busy container: picked here one time in 10,000 besides its
        // share of the live ones, a few hundred records over the day.
        n = random() % 100 == 0 && random() % 100 == 0
                ? busy
                : live[random() % live.size()];
      }
      if (n == busy) ++f->busy_records;
      bool process = n % 3 == 0;
      std::string id = process ? std::to_string(100000 + n) : Hex(n);
      std::string source = n % 4 == 0 ? "node_orchestrator" : "runtime";
      if (unset) {
        batch.push_back(testing::JsonEvent(
            R"({"source":")" + source +
            R"(","type":"unset","entity":{"kind":")" +
            (process ? "process" : "container") + R"(","id":")" + id + "\"}}"));
      } else if (process) {
        batch.push_back(testing::JsonEvent(
            R"({"source":"runtime","entity":{"kind":"process","id":")" + id +
            R"(","pid":)" + std::to_string(100000 + n) +
            R"(,"name":"worker","cmdline":["worker","--id",")" +
            std::to_string(i % 50) + R"("]}})"));
      } else {
        static const char* kStates[] = {"created", "running", "paused",
                                        "stopped"};
        batch.push_back(testing::JsonEvent(
            R"({"source":")" + source +
            R"(","entity":{"kind":"container","id":")" + id +
            R"(","name":"svc-)" + std::to_string(n) +
            R"(","labels":{"app":"svc","rev":")" + std::to_string(i % 13) +
            R"("},"image":{"name":"docker.io/library/nginx","tag":"1.25"},)" +
            R"("pid":)" + std::to_string(1000 + i % 30000) +
            R"(,"runtime":"docker","state":{"status":")" +
            kStates[random() % 4] + R"("}}})"));
      }
      ++i;
      if (batch.size() == 100) {
        clock.now = kDayStart + static_cast<int64_t>(i * (kDay / kRecords));
        if (!s->Apply(batch)) std::abort();
        batch.clear();
      }
    }
    std::fprintf(
        stderr,
        "built a day of %lu records (%zu live, %zu checkpoints) in %.1f s\n",
        static_cast<unsigned long>(s->log().last_offset()), live.size(),
        s->Checkpoints().size(),
        std::chrono::duration<double>(SteadyClock::now() - start).count());
    uint64_t checkpoint_bytes = 0;
    for (const auto& c : s->Checkpoints()) checkpoint_bytes += c.bytes;
    uint64_t total_bytes = 0;
    for (const auto& e :
         std::filesystem::recursive_directory_iterator(f->data)) {
      if (e.is_regular_file()) total_bytes += e.file_size();
    }
    std::fprintf(stderr, "data dir %.1f MB, of which checkpoints %.1f MB\n",
                 total_bytes / 1e6, checkpoint_bytes / 1e6);
    s.reset();
    // The same log with only the two newest checkpoints, as kept before the
    // history ones: the cost they save.
    f->newest_only = f->dir.Sub("newest-only");
    std::filesystem::copy(f->data, f->newest_only,
                          std::filesystem::copy_options::recursive);
    std::vector<std::filesystem::path> checkpoints;
    for (const auto& e :
         std::filesystem::directory_iterator(f->newest_only + "/checkpoints")) {
      checkpoints.push_back(e.path());
    }
    std::sort(checkpoints.rbegin(), checkpoints.rend());
    for (size_t i = 2; i < checkpoints.size(); ++i) {
      std::filesystem::remove(checkpoints[i]);
    }
    return f;
  }();
  return *fixture;
}

std::string TimeAt(double hours) {
  return FormatTime(
      FromUnixNanos(kDayStart + static_cast<int64_t>(hours * 3600e9)));
}

std::unique_ptr<store::Store> OpenReadOnly(bool newest_only = false) {
  store::Options options;
  options.log.read_only = true;
  auto opened =
      store::Store::Open(newest_only ? Day().newest_only : Day().data, options);
  if (!opened) std::abort();
  return std::move(*opened);
}

// The baseline: every record of the log read once.
void BM_ScanWholeLog(benchmark::State& state) {
  auto s = OpenReadOnly();
  for (auto _ : state) {
    auto reader = s->log().NewReader(s->log().first_offset());
    if (!reader) std::abort();
    uint64_t n = 0;
    while (*(*reader)->Next()) ++n;
    benchmark::DoNotOptimize(n);
    state.counters["records"] = static_cast<double>(n);
  }
}

void BM_History(benchmark::State& state) {
  auto s = OpenReadOnly();
  EntityId id{Kind::kContainer, Day().busy_id};
  for (auto _ : state) {
    auto history = s->History(id);
    if (!history) std::abort();
    state.counters["entries"] = static_cast<double>(history->size());
  }
}

// range(0): 1 with only the newest checkpoints.
void BM_DiffFifteenMinutes(benchmark::State& state) {
  auto s = OpenReadOnly(state.range(0) == 1);
  for (auto _ : state) {
    auto from = s->log().OffsetAtTime(*ParseTime(TimeAt(15.0)));
    auto to = s->log().OffsetAtTime(*ParseTime(TimeAt(15.25)));
    if (!from || !to) std::abort();
    auto diff = s->Diff(*from - 1, *to - 1);
    if (!diff) std::abort();
    state.counters["changed"] = static_cast<double>(
        diff->added.size() + diff->removed.size() + diff->changed.size());
  }
}

void BM_StateAtTime(benchmark::State& state) {
  auto s = OpenReadOnly(state.range(0) == 1);
  for (auto _ : state) {
    auto view = s->StateAtTime(*ParseTime(TimeAt(15.2)));
    if (!view) std::abort();
    state.counters["entities"] = static_cast<double>((*view)->size());
  }
}

// The command as typed, on the data dir: a process that opens the store
// read-only and answers.
void Command(benchmark::State& state, std::vector<std::string> args) {
  args.insert(args.begin(), {WMETA_CLI, "--data-dir", Day().data});
  for (auto _ : state) {
    testing::RunResult r = testing::Run(args);
    if (r.exit_code != 0) {
      state.SkipWithError(r.err.c_str());
      return;
    }
    state.counters["output_lines"] =
        static_cast<double>(std::count(r.out.begin(), r.out.end(), '\n'));
  }
}

void BM_CommandHistory(benchmark::State& state) {
  Command(state, {"history", "container/" + Day().busy_id});
}
void BM_CommandDiff(benchmark::State& state) {
  Command(state, {"diff", "--from", TimeAt(15.0), "--to", TimeAt(15.25)});
}
void BM_CommandListAtTime(benchmark::State& state) {
  Command(state, {"list", "--at-time", TimeAt(15.2)});
}

BENCHMARK(BM_ScanWholeLog)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_History)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DiffFifteenMinutes)->Unit(benchmark::kMillisecond)->Arg(0)->Arg(1);
BENCHMARK(BM_StateAtTime)->Unit(benchmark::kMillisecond)->Arg(0)->Arg(1);
BENCHMARK(BM_CommandHistory)->Unit(benchmark::kMillisecond)->Iterations(5);
BENCHMARK(BM_CommandDiff)->Unit(benchmark::kMillisecond)->Iterations(5);
BENCHMARK(BM_CommandListAtTime)->Unit(benchmark::kMillisecond)->Iterations(5);

}  // namespace
}  // namespace wmeta

BENCHMARK_MAIN();
