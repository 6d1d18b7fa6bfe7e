#include "wmeta/schema/json.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <limits>

#include "events.h"

namespace wmeta {
namespace {

namespace bj = boost::json;

class JsonTest : public ::testing::Test {
 protected:
  // Parses `json` and renders it back; the rendering is a fixed point: parsing
  // and rendering it again gives the same text.
  std::string RoundTrip(const std::string& json) {
    auto event = codec_.ParseEvent(json);
    EXPECT_TRUE(event) << json << "\n" << event.error().ToString();
    if (!event) return {};
    auto text = codec_.EventToJson(event->view());
    EXPECT_TRUE(text) << text.error().ToString();
    auto again = codec_.ParseEvent(*text);
    EXPECT_TRUE(again) << *text;
    if (again) {
      EXPECT_EQ(*codec_.EventToJson(again->view()), *text);
    }
    return *text;
  }

  Error ParseError(const std::string& json,
                   std::string_view default_source = {}) {
    auto event = codec_.ParseEvent(json, default_source);
    EXPECT_FALSE(event) << json;
    return event ? Error{} : event.error();
  }

  JsonCodec codec_;
};

TEST_F(JsonTest, RendersTheDesignShape) {
  std::string out = RoundTrip(
      R"({"source":"runtime","type":"set","observed_time":"2026-11-24T10:00:00.123456Z",)"
      R"("entity":{"kind":"container","id":"abc","name":"web"}})");
  EXPECT_EQ(
      out,
      R"({"observed_time":"2026-11-24T10:00:00.123456Z","source":"runtime","type":"set",)"
      R"("entity":{"kind":"container","id":"abc","name":"web"}})");
}

TEST_F(JsonTest, KeepsPresentZeroAndFalseApartFromAbsent) {
  std::string out = RoundTrip(
      R"({"source":"runtime","entity":{"kind":"container","id":"c","pid":0,)"
      R"("state":{"running":false,"exit_code":0,"status":"unknown"}}})");
  auto v = bj::parse(out);
  const auto& state = v.at("entity").at("state").as_object();
  EXPECT_EQ(v.at("entity").at("pid").as_int64(), 0);
  EXPECT_EQ(state.at("running").as_bool(), false);
  EXPECT_EQ(state.at("exit_code").as_int64(), 0);
  EXPECT_EQ(state.at("status").as_string(), "unknown");
  EXPECT_FALSE(state.contains("oom_killed"));
  EXPECT_FALSE(v.at("entity").as_object().contains("restart_count"));
}

TEST_F(JsonTest, MapsAreObjectsStoredSortedByKey) {
  auto event = codec_.ParseEvent(
      R"({"source":"s","entity":{"kind":"container","id":"c","labels":{"z":"1","a":"2","m":"3"}}})");
  ASSERT_TRUE(event);
  const auto* labels = event->view().record().entity_as_Container()->labels();
  ASSERT_EQ(labels->size(), 3u);
  EXPECT_EQ(labels->Get(0)->key()->str(), "a");
  EXPECT_EQ(labels->Get(2)->key()->str(), "z");
  EXPECT_EQ(labels->LookupByKey("m")->value()->str(), "3");
  auto out = bj::parse(*codec_.EventToJson(event->view()));
  EXPECT_EQ(out.at("entity").at("labels"),
            (bj::value{{"a", "2"}, {"m", "3"}, {"z", "1"}}));
}

TEST_F(JsonTest, EveryKindRoundTrips) {
  const char* events[] = {
      R"({"source":"runtime","entity":{"kind":"container","id":"3f2a","name":"web","namespace":"ns",)"
      R"("labels":{"app":"web"},"annotations":{"a":"b"},"env_vars":{"DD_ENV":"prod"},"hostname":"h",)"
      R"("image":{"id":"sha256:1","raw_name":"nginx:1.25","name":"nginx","registry":"docker.io",)"
      R"("short_name":"nginx","tag":"1.25","repo_digest":"sha256:2"},"network_ips":{"bridge":"10.0.0.2"},)"
      R"("pid":42,"ports":[{"name":"http","port":80,"protocol":"tcp","host_port":8080}],)"
      R"("runtime":"docker","runtime_flavor":"kata","state":{"running":true,"status":"running",)"
      R"("health":"healthy","created_at":"2026-11-24T10:00:00Z","started_at":"2026-11-24T10:00:01Z",)"
      R"("finished_at":"2026-11-24T11:00:00Z","exit_code":137,"oom_killed":true},)"
      R"("collector_tags":["t1","t2"],"owner":{"kind":"kubernetes_pod","id":"uid"},)"
      R"("security_context":{"capabilities":{"add":["NET_ADMIN"],"drop":["ALL"]},"privileged":false,)"
      R"("seccomp_profile":{"type":"RuntimeDefault"},"run_as_non_root":true},)"
      R"("readiness_probe":{"initial_delay_seconds":5},"resources":{"cpu_limit":150.5,"cpu_request":33.25,)"
      R"("memory_limit":1073741824,"gpu_vendor_list":["nvidia"],"guaranteed_whole_core":false},)"
      R"("resolved_allocated_resources":[{"name":"nvidia.com/gpu","id":"GPU-1"}],)"
      R"("cgroup_path":"/kubepods/pod1/3f2a","restart_count":3,"ecs_container":{"display_name":"d",)"
      R"("networks":[{"network_mode":"awsvpc","ipv4_addresses":["10.1.1.1"]}],)"
      R"("volumes":[{"name":"v","source":"/a","destination":"/b"}],"health":{"status":"HEALTHY",)"
      R"("since":"2026-11-24T10:00:00Z","exit_code":0,"output":"ok"},"log_options":{"k":"v"}}}})",
      R"({"source":"node_orchestrator","entity":{"kind":"kubernetes_pod","id":"uid-1","name":"web-0",)"
      R"("namespace":"default","owners":[{"kind":"ReplicaSet","name":"web-7d","id":"rs","controller":true}],)"
      R"("containers":[{"id":"docker://3f2a","name":"web","image":{"name":"nginx"}}],"ready":false,)"
      R"("phase":"Running","ip":"10.0.0.5","qos_class":"Burstable","kube_services":["web"],)"
      R"("namespace_labels":{"team":"a"},"security_context":{"run_as_user":0},)"
      R"("container_statuses":[{"name":"web","ready":true,"restart_count":0,)"
      R"("state":{"terminated":{"exit_code":0,"reason":"Completed","finished_at":"2026-11-24T10:00:00Z"}}}],)"
      R"("conditions":[{"type":"Ready","status":"True"}],"volumes":[{"name":"data",)"
      R"("persistent_volume_claim":{"claim_name":"pvc","read_only":false}}],)"
      R"("tolerations":[{"key":"k","operator":"Exists","toleration_seconds":300}],)"
      R"("creation_timestamp":"2026-11-24T09:00:00Z","host_network":false}})",
      R"({"source":"cluster_orchestrator","entity":{"kind":"kubernetes_metadata","id":"deployments/default/app",)"
      R"("name":"app","gvr":{"group":"apps","version":"v1","resource":"deployments"}}})",
      R"({"source":"language_detection_server","entity":{"kind":"kubernetes_deployment","id":"default/app",)"
      R"("env":"prod","detected_languages":[{"container_name":"app","init":false,"languages":["java"]}]}})",
      R"({"source":"node_orchestrator","entity":{"kind":"ecs_task","id":"arn:aws:ecs:task/1","family":"redis",)"
      R"("version":"3","launch_type":"fargate","tags":{"k":"v"},"ephemeral_storage_metrics":{"used":1024},)"
      R"("limits":{"cpu":0.25,"memory":512},"pull_started_at":"2026-11-24T10:00:00Z",)"
      R"("containers":[{"id":"c1","name":"redis"}]}})",
      R"({"source":"runtime","entity":{"kind":"container_image_metadata","id":"sha256:abc",)"
      R"("repo_tags":["nginx:1.25"],"size_bytes":0,"os":"linux","architecture":"amd64",)"
      R"("layers":[{"digest":"sha256:l1","size_bytes":100,"history":{"created":"2026-01-01T00:00:00Z",)"
      R"("created_by":"/bin/sh","empty_layer":false}}],"sbom":{"status":"success","bom":[1,2,3]}}})",
      R"({"source":"process_collector","entity":{"kind":"process","id":"1234","pid":1234,"ppid":1,)"
      R"("name":"nginx","cmdline":["nginx","-g","daemon off;"],"uids":[0,0,0,0],"gids":[0],)"
      R"("container_id":"3f2a","creation_time":"2026-11-24T10:00:00.500Z","language":{"name":"go"},)"
      R"("service":{"tcp_ports":[80,443],"ust":{"service":"web"}},"uses_gpu":false,)"
      R"("gpus":[{"kind":"gpu","id":"GPU-1"}]}})",
      R"({"source":"nvml","entity":{"kind":"gpu","id":"GPU-1","vendor":"nvidia","index":0,)"
      R"("compute_capability":{"major":8,"minor":0},"total_memory":42949672960,"active_pids":[1,2],)"
      R"("healthy":true}})",
      R"({"source":"node_orchestrator","entity":{"kind":"kubelet","id":"kubelet-id","name":"kubelet",)"
      R"("node_name":"node-1","config":{"cpu_manager_policy":"static"},"raw_config":"{\"a\":1}"}})",
      R"({"source":"host","entity":{"kind":"host","id":"host","host_tags":["env:prod"]}})",
  };
  for (const char* json : events) {
    std::string out = RoundTrip(json);
    // What went in is what comes out (modulo key order and time formatting,
    // which the inputs above already use canonically).
    bj::value in_entity = bj::parse(json).at("entity");
    bj::value out_entity = bj::parse(out).at("entity");
    for (const auto& [key, value] : in_entity.as_object()) {
      EXPECT_EQ(out_entity.at(key), value) << key << " in " << out;
    }
  }
}

TEST_F(JsonTest, SourceDefaultsAndTypeDefaultsToSet) {
  auto event =
      codec_.ParseEvent(R"({"entity":{"kind":"host","id":"host"}})", "host");
  ASSERT_TRUE(event);
  EXPECT_EQ(event->view().source(), "host");
  EXPECT_EQ(event->view().type(), EventType::kSet);
  auto own = codec_.ParseEvent(
      R"({"source":"a","entity":{"kind":"host","id":"host"}})", "b");
  ASSERT_TRUE(own);
  EXPECT_EQ(own->view().source(), "a");
}

TEST_F(JsonTest, OffsetAndIngestTimeAreIgnoredOnInput) {
  auto event = codec_.ParseEvent(
      R"({"offset":42,"ingest_time":"2026-11-24T10:00:00Z","source":"s","type":"unset",)"
      R"("entity":{"kind":"container","id":"c"}})");
  ASSERT_TRUE(event);
  EXPECT_EQ(event->view().offset(), 0u);
  EXPECT_EQ(ToUnixNanos(event->view().ingest_time()), 0);
  EXPECT_EQ(event->view().type(), EventType::kUnset);
}

TEST_F(JsonTest, NullMeansAbsent) {
  auto event = codec_.ParseEvent(
      R"({"source":"s","observed_time":null,"entity":{"kind":"container","id":"c","name":null,)"
      R"("labels":{"a":null,"b":"1"}}})");
  ASSERT_TRUE(event);
  const auto* c = event->view().record().entity_as_Container();
  EXPECT_EQ(c->name(), nullptr);
  ASSERT_EQ(c->labels()->size(), 1u);
  EXPECT_EQ(c->labels()->Get(0)->key()->str(), "b");
}

TEST_F(JsonTest, NonAsciiStringsRoundTrip) {
  std::string out = RoundTrip(
      R"({"source":"s","entity":{"kind":"container","id":"c","name":"caf\u00e9 \u2603 \ud83d\ude00"}})");
  EXPECT_EQ(bj::parse(out).at("entity").at("name").as_string(), "café ☃ 😀");
}

TEST_F(JsonTest, RejectsBadInputWithThePlace) {
  struct Case {
    std::string json;
    std::string message;
  };
  std::vector<Case> cases = {
      {R"({"source":"s",)", "malformed JSON at column 15"},
      {"", "malformed JSON at column 1"},
      {R"({"source":"s"} trailing)", "malformed JSON"},
      {R"([1,2])", "event: expected an object, got an array"},
      {R"({"source":"s","entity":{"kind":"pod","id":"a"}})",
       "entity.kind: unknown kind \"pod\""},
      {R"({"source":"s","entity":{"id":"a"}})",
       "entity.kind: missing required field"},
      {R"({"source":"s","entity":{"kind":"container"}})",
       "entity.id: missing required field"},
      {R"({"source":"s","entity":{"kind":"container","id":""}})",
       "entity.id: must not be empty"},
      {R"({"source":"s","entity":{"kind":"container","id":"a","nmae":"x"}})",
       "entity.nmae: unknown field"},
      {R"({"source":"s","entity":{"kind":"container","id":"a","state":{"runing":true}}})",
       "entity.state.runing: unknown field"},
      {R"({"source":"s","entity":{"kind":"container","id":"a","pid":"42"}})",
       "entity.pid: expected an integer, got a string"},
      {R"({"source":"s","entity":{"kind":"container","id":"a","pid":4.5}})",
       "entity.pid: expected an integer, got a number"},
      {R"({"source":"s","entity":{"kind":"container","id":"a","pid":4294967296}})",
       "entity.pid: 4294967296 is out of range"},
      {R"({"source":"s","entity":{"kind":"container","id":"a","ports":[{"port":-1}]}})",
       "entity.ports[0].port: -1 is out of range [0, 65535]"},
      {R"({"source":"s","entity":{"kind":"container","id":"a","labels":["a"]}})",
       "entity.labels: expected an object, got an array"},
      {R"({"source":"s","entity":{"kind":"container","id":"a","labels":{"a":1}}})",
       "entity.labels[\"a\"]: expected a string, got an integer"},
      {R"({"source":"s","entity":{"kind":"container","id":"a","state":{"status":"zombie"}}})",
       "entity.state.status: unknown value \"zombie\""},
      {R"({"source":"s","entity":{"kind":"container","id":"a","state":{"running":1}}})",
       "entity.state.running: expected true or false, got an integer"},
      {R"({"source":"s","entity":{"kind":"container","id":"a","state":{"started_at":"noon"}}})",
       "entity.state.started_at: invalid time 'noon'"},
      {R"({"source":"s","entity":{"kind":"container","id":"a","collector_tags":"t"}})",
       "entity.collector_tags: expected an array, got a string"},
      {R"({"source":"s","entity":{"kind":"container","id":"a","collector_tags":["t",3]}})",
       "entity.collector_tags[1]: expected a string, got an integer"},
      {R"({"source":"s","type":"delete","entity":{"kind":"container","id":"a"}})",
       "type: unknown value \"delete\""},
      {R"({"source":"s","observed_time":"soon","entity":{"kind":"container","id":"a"}})",
       "observed_time: invalid time 'soon'"},
      {R"({"source":"s","entity":{"kind":"container","id":"a"},"extra":1})",
       "extra: unknown field"},
      {R"({"entity":{"kind":"container","id":"a"}})", "source: missing"},
      {R"({"source":"s"})", "entity: missing required field"},
  };
  for (const auto& c : cases) {
    Error error = ParseError(c.json);
    EXPECT_EQ(error.code, ErrorCode::kInvalidArgument) << c.json;
    EXPECT_NE(error.message.find(c.message), std::string::npos)
        << c.json << "\n  got: " << error.message << "\n  want: " << c.message;
  }
}

TEST_F(JsonTest, ZeroValuesInNumberMapsSurvive) {
  std::string out = RoundTrip(
      R"({"source":"s","entity":{"kind":"ecs_task","id":"t","limits":{"cpu":0,"memory":0.5},)"
      R"("ephemeral_storage_metrics":{"used":0}}})");
  auto v = bj::parse(out);
  EXPECT_EQ(v.at("entity").at("limits"),
            bj::parse(R"({"cpu":0,"memory":0.5})"));
  EXPECT_EQ(v.at("entity").at("ephemeral_storage_metrics"),
            bj::parse(R"({"used":0})"));
}

TEST_F(JsonTest, RejectsWhatJsonCannotShow) {
  EventBuilder b;
  fb::ContainerResourcesBuilder resources(b.fbb());
  resources.add_cpu_limit(std::numeric_limits<double>::quiet_NaN());
  auto r = resources.Finish();
  auto id = b.fbb().CreateString("c");
  fb::ContainerBuilder c(b.fbb());
  c.add_id(id);
  c.add_resources(r);
  auto nan = b.Finish("s", EventType::kSet, c.Finish());
  ASSERT_TRUE(nan);
  auto json = codec_.EventToJson(nan->view());
  ASSERT_FALSE(json);
  EXPECT_NE(json.error().message.find("NaN"), std::string::npos);

  auto bad_source = b.Finish("s\xff", EventType::kSet,
                             fb::CreateContainerDirect(b.fbb(), "c"));
  ASSERT_TRUE(bad_source);
  json = codec_.EventToJson(bad_source->view());
  ASSERT_FALSE(json);
  EXPECT_EQ(json.error().code, ErrorCode::kInvalidArgument);
}

// CheckShowable refuses exactly what EventToJson would, and says where.
TEST_F(JsonTest, CheckShowableFindsWhatJsonCannotShow) {
  EventBuilder b;
  auto check = [&](Result<Event> event) -> std::string {
    EXPECT_TRUE(event);
    Status status = CheckShowable(event->view());
    EXPECT_EQ(status.has_value(),
              codec_.EventToJson(event->view()).has_value());
    return status ? "ok" : status.error().message;
  };
  EXPECT_EQ(
      check(testing::ContainerFrom(
          "runtime", "c",
          R"("name":"wéb","labels":{"app":"ünï"},"resources":{"cpu_limit":1.5},)"
          R"("ports":[{"name":"http","port":80}])")),
      "ok");
  EXPECT_EQ(check(b.Finish("s", EventType::kSet,
                           fb::CreateContainerDirect(b.fbb(), "c", "bad\xff"))),
            "entity.name: text that is not valid UTF-8");
  EXPECT_EQ(check(b.Finish("s\xc0\xaf", EventType::kSet,
                           fb::CreateContainerDirect(b.fbb(), "c"))),
            "source: text that is not valid UTF-8");

  fb::ContainerResourcesBuilder resources(b.fbb());
  resources.add_cpu_limit(std::numeric_limits<double>::infinity());
  auto r = resources.Finish();
  auto id = b.fbb().CreateString("c");
  fb::ContainerBuilder c(b.fbb());
  c.add_id(id);
  c.add_resources(r);
  EXPECT_EQ(check(b.Finish("s", EventType::kSet, c.Finish())),
            "entity.resources.cpu_limit: a number JSON cannot show (NaN or "
            "infinite)");

  auto pid = b.fbb().CreateString("42");
  auto args = b.fbb().CreateVectorOfStrings(
      std::vector<std::string>{"ok", "\xed\xa0\x80"});  // a surrogate
  fb::ProcessBuilder process(b.fbb());
  process.add_id(pid);
  process.add_cmdline(args);
  EXPECT_EQ(check(b.Finish("s", EventType::kSet, process.Finish())),
            "entity.cmdline[1]: text that is not valid UTF-8");
}

TEST_F(JsonTest, RejectsInvalidUtf8OnOutput) {
  EventBuilder b;
  auto event = b.Finish("s", EventType::kSet,
                        fb::CreateContainerDirect(b.fbb(), "c", "bad\xff\xfe"));
  ASSERT_TRUE(event);
  auto json = codec_.EventToJson(event->view());
  ASSERT_FALSE(json);
  EXPECT_EQ(json.error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace wmeta
