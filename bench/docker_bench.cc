// The Engine API parsers against their floor: Boost.JSON parsing the same
// body, in the same run. Bodies captured from a real Docker 20.10
// (tests/docker/testdata/docker/).
//
//   build/bench/docker_bench --benchmark_repetitions=3

#include <benchmark/benchmark.h>

#include <boost/json.hpp>
#include <fstream>
#include <sstream>
#include <string>

#include "wmeta/docker/parse.h"

namespace wmeta::docker {
namespace {

std::string Fixture(const std::string& name) {
  std::ifstream in(std::string(WMETA_DOCKER_TESTDATA) + "/docker/" + name);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void Floor(benchmark::State& state, const std::string& body) {
  for (auto _ : state) {
    boost::json::value value = boost::json::parse(body);
    benchmark::DoNotOptimize(value);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() *
                          static_cast<int64_t>(body.size()));
}

void BM_JsonParse_Inspect(benchmark::State& state) {
  Floor(state, Fixture("container_inspect_probe-host.json"));
}

void BM_ParseContainer(benchmark::State& state) {
  std::string body = Fixture("container_inspect_probe-host.json");
  EnvFilter env = EnvFilter::Default();
  ImageRefs refs{
      "sha256:4905025eca001ef0f86b9830f4f86a193944e3d409ff0261d6509a1247498d38",
      {"probe/busybox:1"},
      {"probe/busybox@sha256:0001"}};
  ContainerContext context;
  context.env = &env;
  context.image = [&](std::string_view) { return &refs; };
  context.cgroup_path = [](int) -> std::optional<std::string> {
    return "/docker/"
           "54b75d47b4d7a21d4ddd42d2dec4fa1536cce1fd08eb8758e70c7f19cced3da2";
  };
  for (auto _ : state) {
    Result<Event> event = ParseContainer(body, context, {});
    if (!event) state.SkipWithError(event.error().message.c_str());
    benchmark::DoNotOptimize(event);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() *
                          static_cast<int64_t>(body.size()));
}

void BM_JsonParse_Image(benchmark::State& state) {
  Floor(state, Fixture("image_inspect_labeled.json"));
}

void BM_ParseImage(benchmark::State& state) {
  std::string body = Fixture("image_inspect_labeled.json");
  for (auto _ : state) {
    Result<Image> image = ParseImage(body, "runtime", {});
    if (!image) state.SkipWithError(image.error().message.c_str());
    benchmark::DoNotOptimize(image);
  }
  state.SetItemsProcessed(state.iterations());
}

const std::string& EventLine() {
  static const std::string line = [] {
    std::istringstream lines(Fixture("events_stream.jsonl"));
    std::string first;
    std::getline(lines, first);
    return first;
  }();
  return line;
}

void BM_JsonParse_Event(benchmark::State& state) { Floor(state, EventLine()); }

void BM_ParseEngineEvent(benchmark::State& state) {
  for (auto _ : state) {
    Result<EngineEvent> event = ParseEngineEvent(EventLine());
    if (!event) state.SkipWithError(event.error().message.c_str());
    benchmark::DoNotOptimize(event);
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_JsonParse_Inspect);
BENCHMARK(BM_ParseContainer);
BENCHMARK(BM_JsonParse_Image);
BENCHMARK(BM_ParseImage);
BENCHMARK(BM_JsonParse_Event);
BENCHMARK(BM_ParseEngineEvent);

}  // namespace
}  // namespace wmeta::docker

BENCHMARK_MAIN();
