#include "events.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "wmeta/schema/json.h"

namespace wmeta::testing {
namespace {

Event OrDie(Result<Event> event) {
  if (!event) {
    std::fprintf(stderr, "test event: %s\n", event.error().ToString().c_str());
    std::abort();
  }
  return std::move(*event);
}

}  // namespace

Event ContainerEvent(std::string_view id, std::string_view name,
                     std::string_view source, EventType type) {
  EventBuilder b;
  auto& fbb = b.fbb();
  auto id_offset = fbb.CreateString(id);
  auto name_offset = name.empty() ? 0 : fbb.CreateString(name);
  fb::ContainerBuilder c(fbb);
  c.add_id(id_offset);
  if (!name.empty()) c.add_name(name_offset);
  return OrDie(b.Finish(source, type, c.Finish()));
}

Event RealisticContainerEvent(uint64_t n) {
  char id[65];
  std::snprintf(id, sizeof(id), "%016llx%016llx%016llx%016llx",
                static_cast<unsigned long long>(n * 0x9e3779b97f4a7c15ULL),
                static_cast<unsigned long long>(n),
                static_cast<unsigned long long>(~n),
                static_cast<unsigned long long>(n ^ 0xdeadbeefULL));
  EventBuilder b;
  auto& fbb = b.fbb();
  std::string name = "web-" + std::to_string(n % 1000);
  std::vector<flatbuffers::Offset<fb::StringPair>> labels = {
      fb::CreateStringPairDirect(fbb, "app", "web"),
      fb::CreateStringPairDirect(fbb, "version", std::to_string(n % 7).c_str()),
  };
  auto image = fb::CreateContainerImageDirect(fbb, nullptr, nullptr,
                                              "docker.io/library/nginx",
                                              nullptr, nullptr, "1.25");
  fb::ContainerStateBuilder state(fbb);
  state.add_running(true);
  state.add_status(fb::ContainerStatus::running);
  state.add_started_at(1764000001000000000 + static_cast<int64_t>(n));
  auto state_offset = state.Finish();
  auto container = fb::CreateContainerDirect(
      fbb, id, name.c_str(), nullptr, &labels, nullptr, 0, nullptr, nullptr,
      image, nullptr, static_cast<int32_t>(1000 + n % 30000), nullptr, "docker",
      nullptr, state_offset);
  return OrDie(
      b.Finish("runtime", EventType::kSet, container,
               FromUnixNanos(1764000002000000000 + static_cast<int64_t>(n))));
}

}  // namespace wmeta::testing

namespace wmeta::testing {

Event JsonEvent(std::string_view json) {
  static thread_local JsonCodec codec;
  return OrDie(codec.ParseEvent(json));
}

Event ContainerFrom(std::string_view source, std::string_view id,
                    std::string_view fields, EventType type) {
  std::string json = R"({"source":")" + std::string(source) + R"(","type":")" +
                     std::string(EventTypeName(type)) +
                     R"(","entity":{"kind":"container","id":")" +
                     std::string(id) + "\"";
  if (!fields.empty()) json += "," + std::string(fields);
  return JsonEvent(json + "}}");
}

std::string EntityJson(const EventView& event) {
  static thread_local JsonCodec codec;
  auto json = codec.EntityToJson(event);
  if (!json) {
    std::fprintf(stderr, "test entity: %s\n", json.error().ToString().c_str());
    std::abort();
  }
  return *json;
}

}  // namespace wmeta::testing
