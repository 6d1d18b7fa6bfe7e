// The Engine API parsers on bodies captured from real Docker 20.10 and podman
// 4.3 daemons (testdata/, from ../shared/fixtures/runtimes), and on broken
// ones: every prefix of a real body, flipped bytes, wrong types, deep nesting.

#include "wmeta/docker/parse.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "wmeta/schema/json.h"

namespace wmeta::docker {
namespace {

namespace json = boost::json;

std::string Fixture(const std::string& name) {
  std::ifstream in(std::string(WMETA_DOCKER_TESTDATA) + "/" + name);
  EXPECT_TRUE(in) << name;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

json::object EntityOf(const Event& event) {
  JsonCodec codec;
  Result<std::string> text = codec.EntityToJson(event.view());
  EXPECT_TRUE(text) << text.error().message;
  return json::parse(*text).as_object();
}

struct Parsed {
  Event event;
  json::object entity;
};

Parsed Container(const std::string& fixture, ContainerContext context = {}) {
  static const EnvFilter kDefault = EnvFilter::Default();
  if (context.env == nullptr) context.env = &kDefault;
  Result<Event> event = ParseContainer(Fixture(fixture), context, {});
  EXPECT_TRUE(event) << fixture << ": " << event.error().message;
  return {*event, EntityOf(*event)};
}

const json::value& At(const json::object& object, std::string_view path) {
  const json::value* value = nullptr;
  const json::object* current = &object;
  while (true) {
    size_t dot = path.find('.');
    value = current->if_contains(path.substr(0, dot));
    if (value == nullptr) {
      static const json::value kNull;
      return kNull;
    }
    if (dot == std::string_view::npos) return *value;
    current = value->if_object();
    if (current == nullptr) {
      static const json::value kNull;
      return kNull;
    }
    path.remove_prefix(dot + 1);
  }
}

TEST(ApiVersion, IsTheDaemonsCappedAtOurs) {
  EXPECT_EQ(NegotiateApiVersion(Fixture("docker/version.json")).value(),
            "1.41");
  EXPECT_EQ(NegotiateApiVersion(Fixture("podman/version.json")).value(),
            "1.41");
  EXPECT_EQ(
      NegotiateApiVersion(R"({"ApiVersion":"1.51","MinAPIVersion":"1.24"})")
          .value(),
      kMaxApiVersion);
  // Compared as numbers, not text: 1.9 is older than 1.24.
  EXPECT_EQ(NegotiateApiVersion(R"({"ApiVersion":"1.9"})").error().code,
            ErrorCode::kUnsupportedFormat);
  EXPECT_EQ(
      NegotiateApiVersion(R"({"ApiVersion":"2.0","MinAPIVersion":"1.99"})")
          .error()
          .code,
      ErrorCode::kUnsupportedFormat);
  EXPECT_EQ(NegotiateApiVersion(R"({"Version":"20.10"})").error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(NegotiateApiVersion("[]").error().code,
            ErrorCode::kInvalidArgument);
}

TEST(Lists, GiveEveryId) {
  auto docker = ParseIds(Fixture("docker/containers_list_all.json"));
  ASSERT_TRUE(docker);
  EXPECT_EQ(docker->size(), 5u);
  for (const std::string& id : *docker) EXPECT_EQ(id.size(), 64u) << id;
  auto images = ParseIds(Fixture("podman/images_list.json"));
  ASSERT_TRUE(images);
  ASSERT_FALSE(images->empty());
  EXPECT_EQ(ParseIds("{}").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(ParseIds(R"([{"Names":["x"]}])").error().code,
            ErrorCode::kInvalidArgument);
  // Ids go into request paths: only digests pass.
  EXPECT_EQ(ParseIds(R"([{"Id":"../../version"}])").error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(ParseIds("[{\"Id\":\"abcdef012345\r\nX: y\"}]").error().code,
            ErrorCode::kInvalidArgument);
}

TEST(Ids, AreHexDigests) {
  EXPECT_TRUE(IsEngineId("4905025eca00"));
  EXPECT_TRUE(IsEngineId(
      "sha256:"
      "4905025eca001ef0f86b9830f4f86a193944e3d409ff0261d6509a1247498d38"));
  EXPECT_FALSE(IsEngineId("4905025eca0"));
  EXPECT_FALSE(IsEngineId("sha256:"));
  EXPECT_FALSE(IsEngineId("4905025ECA00"));
  EXPECT_FALSE(IsEngineId("4905025eca00/.."));
  EXPECT_FALSE(IsEngineId(std::string(65, 'a')));
}

TEST(Container, RunningHealthyWithLimits) {
  auto [event, c] = Container("docker/container_inspect_probe-host.json");
  EXPECT_EQ(event.view().source(), "runtime");
  EXPECT_EQ(event.view().type(), EventType::kSet);
  EXPECT_EQ(c["id"],
            "54b75d47b4d7a21d4ddd42d2dec4fa1536cce1fd08eb8758e70c7f19cced3da2");
  EXPECT_EQ(c["name"], "probe-host");
  EXPECT_EQ(c["runtime"], "docker");
  EXPECT_EQ(c["hostname"], "vm");
  EXPECT_EQ(c["pid"], 6855);
  EXPECT_EQ(At(c, "labels.app"), "probe");
  EXPECT_EQ(c["labels"].as_object()["com.example.owner"], "probe");
  EXPECT_EQ(At(c, "state.status"), "running");
  EXPECT_EQ(At(c, "state.running"), true);
  EXPECT_EQ(At(c, "state.health"), "healthy");
  EXPECT_EQ(At(c, "state.oom_killed"), false);
  EXPECT_EQ(At(c, "state.created_at"), "2026-11-24T23:26:14.491337949Z");
  EXPECT_EQ(At(c, "state.started_at"), "2026-11-24T23:26:14.854451991Z");
  // Never finished: no finish time, and the 0 of ExitCode is no exit code.
  EXPECT_FALSE(At(c, "state").as_object().contains("finished_at"));
  EXPECT_FALSE(At(c, "state").as_object().contains("exit_code"));
  EXPECT_EQ(At(c, "resources.memory_limit"), 67108864);
  EXPECT_EQ(At(c, "resources.cpu_limit").to_number<double>(), 50.0);
  EXPECT_EQ(c["restart_count"], 0);
  EXPECT_EQ(At(c, "image.id"),
            "sha256:"
            "4905025eca001ef0f86b9830f4f86a193944e3d409ff0261d6509a1247498d38");
  EXPECT_EQ(At(c, "image.raw_name"), "probe/busybox:1");
  EXPECT_EQ(At(c, "image.name"), "probe/busybox");
  EXPECT_EQ(At(c, "image.short_name"), "busybox");
  EXPECT_EQ(At(c, "image.tag"), "1");
  // Secrets stay out by default; host networking has no address of its own.
  EXPECT_FALSE(c.contains("env_vars")) << c;
  EXPECT_FALSE(c.contains("network_ips")) << c;
}

TEST(Container, EnvKeepsOnlyWhatTheAllowListNames) {
  EnvFilter filter({"SECRET_*", "TERM"});
  ContainerContext context;
  context.env = &filter;
  auto [event, c] =
      Container("podman/container_inspect_pod-health.json", context);
  EXPECT_EQ(json::serialize(c["env_vars"]),
            R"({"SECRET_TOKEN":"abc","TERM":"xterm"})");
  EXPECT_TRUE(EnvFilter::Default().Allows("DD_SERVICE"));
  EXPECT_FALSE(EnvFilter::Default().Allows("DD_API_KEY"));
  EXPECT_FALSE(filter.Allows("SECRET"));
}

TEST(Container, StoppedStatesKeepTheirEnding) {
  auto [e1, exited] = Container("docker/container_inspect_probe-exited.json");
  EXPECT_EQ(At(exited, "state.status"), "stopped");
  EXPECT_EQ(At(exited, "state.running"), false);
  EXPECT_EQ(At(exited, "state.exit_code"), 3);
  EXPECT_TRUE(At(exited, "state").as_object().contains("finished_at"));
  EXPECT_FALSE(exited.contains("pid"));

  auto [e2, oom] = Container("docker/container_inspect_probe-oom.json");
  EXPECT_EQ(At(oom, "state.oom_killed"), true);
  EXPECT_EQ(At(oom, "state.exit_code"), 137);

  auto [e3, restarting] =
      Container("docker/container_inspect_probe-restarting.json");
  EXPECT_EQ(At(restarting, "state.status"), "restarting");
  EXPECT_GE(restarting["restart_count"].as_int64(), 1);
  // Between two runs: why it restarts is the last exit code.
  EXPECT_EQ(At(restarting, "state.exit_code"), 1);

  auto [e4, paused] = Container("docker/container_inspect_probe-paused.json");
  EXPECT_EQ(At(paused, "state.status"), "paused");

  auto [e5, created] = Container("docker/container_inspect_probe-created.json");
  EXPECT_EQ(At(created, "state.status"), "created");
  EXPECT_EQ(At(created, "state.running"), false);
  EXPECT_FALSE(At(created, "state").as_object().contains("started_at"));
}

TEST(Container, ImageLabelsAndRepoDigestFromTheImage) {
  ImageRefs refs{"sha256:feed",
                 {"registry.example.com:5000/team/app:2"},
                 {"other/app@sha256:0001",
                  "registry.example.com:5000/team/app@sha256:0002"}};
  ContainerContext context;
  context.image = [&](std::string_view id) -> const ImageRefs* {
    return id == refs.id ? &refs : nullptr;
  };
  std::string body = R"({"Id":"c1","Image":"sha256:feed",
    "Config":{"Image":"sha256:feed"},"State":{"Status":"running","Pid":42}})";
  context.cgroup_path = [](int pid) -> std::optional<std::string> {
    return "/docker/pid" + std::to_string(pid);
  };
  Result<Event> event = ParseContainer(body, context, {});
  ASSERT_TRUE(event) << event.error().message;
  json::object c = EntityOf(*event);
  // By a short id too.
  refs.id = "sha256:feedfacecafe0123";
  Result<Event> short_id = ParseContainer(
      R"({"Id":"c2","Image":"sha256:feedfacecafe0123","Config":{"Image":"feedfacecafe"}})",
      context, {});
  ASSERT_TRUE(short_id) << short_id.error().message;
  EXPECT_EQ(At(EntityOf(*short_id), "image.short_name"), "app");
  // Created by image id: named through the image's tag.
  EXPECT_EQ(At(c, "image.raw_name"), "registry.example.com:5000/team/app:2");
  EXPECT_EQ(At(c, "image.registry"), "registry.example.com:5000");
  EXPECT_EQ(At(c, "image.name"), "registry.example.com:5000/team/app");
  EXPECT_EQ(At(c, "image.repo_digest"), "sha256:0002");
  EXPECT_EQ(c["cgroup_path"], "/docker/pid42");
}

TEST(Container, PodmanNetworksAndRuntime) {
  ContainerContext context;
  context.source = "runtime:podman";
  context.runtime = "podman";
  auto [event, c] =
      Container("podman/container_inspect_pod-compat-run.json", context);
  EXPECT_EQ(event.view().source(), "runtime:podman");
  EXPECT_EQ(c["runtime"], "podman");
  EXPECT_EQ(c["name"], "pod-compat-run");
  EXPECT_EQ(json::serialize(c["network_ips"]), R"({"podman":"10.88.0.2"})");
  EXPECT_EQ(At(c, "image.registry"), "localhost");
  EXPECT_EQ(At(c, "image.short_name"), "busybox");
  for (const char* name :
       {"created", "run", "exited", "paused", "health", "in-pod"}) {
    Container(std::string("podman/container_inspect_pod-") + name + ".json",
              context);
  }
}

TEST(Container, PortsBoundOrExposedWithRanges) {
  std::string body = R"({"Id":"c1",
    "Config":{"ExposedPorts":{"80/tcp":{},"53/udp":{}}},
    "NetworkSettings":{"Ports":{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"}],
                                "9000-9002/tcp":null,"53/udp":null,
                                "99999/tcp":null,"1-70000/tcp":null,
                                "7/bogus":null,
                                "7000-7001/udp":[{"HostPort":"17000-17001"}]}}})";
  Result<Event> event = ParseContainer(body, {}, {});
  ASSERT_TRUE(event) << event.error().message;
  EXPECT_EQ(json::serialize(EntityOf(*event)["ports"]),
            R"([{"port":53,"protocol":"udp"},)"
            R"({"port":80,"protocol":"tcp","host_port":8080},)"
            R"({"port":7000,"protocol":"udp","host_port":17000},)"
            R"({"port":7001,"protocol":"udp","host_port":17001},)"
            R"({"port":9000,"protocol":"tcp"},{"port":9001,"protocol":"tcp"},)"
            R"({"port":9002,"protocol":"tcp"}])");
}

TEST(Container, PortsAreBoundedWhateverTheBodySays) {
  std::string ports;
  // 65 ranges of 1,000 ports each, in three protocols: 195,000 ports.
  for (int i = 0; i < 65; ++i) {
    for (const char* protocol : {"tcp", "udp", "sctp"}) {
      ports += (ports.empty() ? "" : ",") + std::string("\"") +
               std::to_string(i * 1000 + 1) + "-" +
               std::to_string(i * 1000 + 1000) + "/" + protocol + "\":null";
    }
  }
  Result<Event> event = ParseContainer(
      R"({"Id":"c1","NetworkSettings":{"Ports":{)" + ports + "}}}", {}, {});
  ASSERT_TRUE(event) << event.error().message;
  EXPECT_EQ(EntityOf(*event)["ports"].as_array().size(), 4096u);
}

TEST(Image, FromInspect) {
  Result<Image> image =
      ParseImage(Fixture("docker/image_inspect_labeled.json"), "runtime", {});
  ASSERT_TRUE(image) << image.error().message;
  json::object i = EntityOf(image->event);
  EXPECT_EQ(i["id"],
            "sha256:"
            "5e49490d35b721308b4a7fc8e8cbb77bfb8caf42361817ffc3296742cae63b1c");
  EXPECT_EQ(i["name"], "probe/labeled");
  EXPECT_EQ(json::serialize(i["repo_tags"]), R"(["probe/labeled:2"])");
  EXPECT_EQ(i["labels"].as_object()["org.opencontainers.image.version"],
            "1.2.3");
  EXPECT_EQ(i["os"], "linux");
  EXPECT_EQ(i["architecture"], "amd64");
  EXPECT_EQ(i["size_bytes"], 1982376);
  EXPECT_FALSE(i["layers"].as_array().empty());
  EXPECT_EQ(image->refs.repo_tags, std::vector<std::string>{"probe/labeled:2"});

  Result<Image> podman = ParseImage(Fixture("podman/image_inspect_by_id.json"),
                                    "runtime:podman", {});
  ASSERT_TRUE(podman) << podman.error().message;
  EXPECT_EQ(podman->refs.repo_digests.size(), 1u);
  EXPECT_EQ(EntityOf(podman->event)["name"], "localhost/probe/busybox");
}

TEST(ImageName, Splits) {
  auto check = [](std::string_view ref, std::string registry, std::string name,
                  std::string short_name, std::string tag) {
    ImageName n = SplitImageName(ref);
    EXPECT_EQ(n.registry, registry) << ref;
    EXPECT_EQ(n.name, name) << ref;
    EXPECT_EQ(n.short_name, short_name) << ref;
    EXPECT_EQ(n.tag, tag) << ref;
  };
  check("redis", "", "redis", "redis", "latest");
  check("team/app:1.2", "", "team/app", "app", "1.2");
  check("localhost:5000/app", "localhost:5000", "localhost:5000/app", "app",
        "latest");
  check("gcr.io/a/b/c:v1@sha256:abc", "gcr.io", "gcr.io/a/b/c", "c", "v1");
  check("quay.io/x/y@sha256:abc", "quay.io", "quay.io/x/y", "y", "");
  check("sha256:4905025eca00", "", "", "", "");
}

TEST(Events, EveryCapturedLineParses) {
  for (const char* file :
       {"docker/events_stream.jsonl", "podman/events_stream.jsonl"}) {
    std::istringstream lines(Fixture(file));
    std::string line;
    int containers = 0, total = 0;
    while (std::getline(lines, line)) {
      Result<EngineEvent> event = ParseEngineEvent(line);
      ASSERT_TRUE(event) << file << ": " << event.error().message;
      ++total;
      if (event->type == "container") {
        ++containers;
        EXPECT_EQ(event->id.size(), 64u) << line;
      }
    }
    EXPECT_GT(containers, 10) << file;
    EXPECT_GE(total, containers);
  }
  Result<EngineEvent> connect = ParseEngineEvent(
      R"({"Type":"network","Action":"connect","Actor":{"ID":"n1","Attributes":{"container":"c1","name":"none"}}})");
  ASSERT_TRUE(connect);
  EXPECT_EQ(connect->attributes.at("container"), "c1");
  Result<EngineEvent> die = ParseEngineEvent(
      R"({"Type":"container","Action":"die","Actor":{"ID":"c1","Attributes":{"exitCode":"3"}},"timeNano":7})");
  ASSERT_TRUE(die);
  EXPECT_EQ(die->attributes.at("exitCode"), "3");
  EXPECT_EQ(ParseEngineEvent(R"({"Action":"die"})").error().code,
            ErrorCode::kInvalidArgument);
}

TEST(Cgroup, PathOfV2OrMemory) {
  EXPECT_EQ(CgroupPathFromProc("12:memory:/docker/abc\n0::/docker/abc\n"),
            "/docker/abc");
  EXPECT_EQ(CgroupPathFromProc(
                "5:cpu,cpuacct:/x\n4:memory:/libpod_parent/libpod-1\n0::/\n"),
            "/libpod_parent/libpod-1");
  EXPECT_EQ(CgroupPathFromProc("0::/system.slice/docker-1.scope\n"),
            "/system.slice/docker-1.scope");
  EXPECT_EQ(CgroupPathFromProc("0::/\n4:memory:/\n"), std::nullopt);
  EXPECT_EQ(CgroupPathFromProc("garbage"), std::nullopt);
}

// Every prefix of a real body, and random damage to it, is refused or mapped:
// never a crash, never a partial container passed off as whole.
TEST(Malformed, TruncatedAndDamagedBodiesGetAClearError) {
  const EnvFilter env = EnvFilter::Default();
  ContainerContext context;
  context.env = &env;
  for (const char* file : {"docker/container_inspect_probe-host.json",
                           "podman/container_inspect_pod-compat-run.json"}) {
    std::string body = Fixture(file);
    for (size_t n = 0; n < body.size(); n += 7) {
      std::string_view prefix(body.data(), n);
      Result<Event> event = ParseContainer(prefix, context, {});
      ASSERT_FALSE(event) << file << " cut at " << n;
      EXPECT_EQ(event.error().code, ErrorCode::kInvalidArgument);
      EXPECT_NE(event.error().message.find("malformed JSON"), std::string::npos)
          << event.error().message;
    }
    std::mt19937 rng(42);
    for (int round = 0; round < 2000; ++round) {
      std::string damaged = body;
      for (int k = 0; k < 4; ++k) {
        damaged[rng() % damaged.size()] = static_cast<char>(rng() % 256);
      }
      Result<Event> event = ParseContainer(damaged, context, {});
      if (event) {
        EXPECT_EQ(event->view().kind(), Kind::kContainer);
      }
    }
  }
  std::string image = Fixture("docker/image_inspect_labeled.json");
  for (size_t n = 0; n < image.size(); n += 11) {
    EXPECT_FALSE(ParseImage(std::string_view(image.data(), n), "runtime", {}));
  }
  // Wrong types are absent fields, except a missing id.
  Result<Event> odd = ParseContainer(
      R"({"Id":"c1","Name":7,"State":"up","Config":{"Labels":[1],"Env":"A=1"},"RestartCount":-99999999999})",
      context, {});
  ASSERT_TRUE(odd) << odd.error().message;
  EXPECT_FALSE(EntityOf(*odd).contains("name"));
  EXPECT_EQ(ParseContainer(R"({"Id":5})", context, {}).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(ParseContainer("[]", context, {}).error().code,
            ErrorCode::kInvalidArgument);
  std::string deep(100000, '[');
  EXPECT_EQ(ParseContainer(deep, context, {}).error().code,
            ErrorCode::kInvalidArgument);
  // Bytes that are not UTF-8 are repaired, so the event can be shown.
  Result<Event> bad_utf8 =
      ParseContainer("{\"Id\":\"c1\",\"Name\":\"/caf\xC3\"}", context, {});
  ASSERT_TRUE(bad_utf8) << bad_utf8.error().message;
  EXPECT_TRUE(JsonCodec().EventToJson(bad_utf8->view()));
}

}  // namespace
}  // namespace wmeta::docker
