// The runtime collectors against real engines: each test starts its own
// dockerd or podman service on sockets in a temp dir (no bridge, no iptables,
// containers with --net=none; the image is imported from a busybox rootfs,
// offline) and a real wmetad with the matching collector. A scripted
// lifecycle is driven with the docker CLI, and after every step wmeta's view
// must come to agree with `docker inspect` on every mapped field (how fast it
// does is measured in bench/docker_bench, not here).
// Needs root (the engines do) and the packages scripts/deps.sh installs.
// Containers stop within a second (--stop-timeout 1): busybox sleep ignores
// SIGTERM, and an engine's shutdown would wait 10 s for each.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "daemon.h"
#include "subprocess.h"
#include "temp_dir.h"
#include "wmeta/schema/time.h"

namespace wmeta {
namespace {

namespace bj = boost::json;
using std::chrono::milliseconds;
using testing::Clock;
using testing::Daemon;
using testing::Eventually;
using testing::RunResult;

// How long wmeta may take to show what the engine shows: a deadline for a
// loaded machine, not a latency target (usually a few milliseconds).
constexpr milliseconds kAgreeWithin{30'000};

enum class EngineKind { kDocker, kPodman };

std::string Trim(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
    text.pop_back();
  }
  return text;
}

// A busybox root filesystem as a tar, the image every container runs.
std::string BusyboxTar(const testing::TempDir& dir) {
  std::string root = dir.Sub("rootfs");
  for (const char* sub : {"bin", "etc", "proc", "sys", "dev", "tmp"}) {
    std::filesystem::create_directories(root + "/" + sub);
  }
  std::filesystem::copy_file("/bin/busybox", root + "/bin/busybox");
  for (const char* applet :
       {"sh", "sleep", "dd", "test", "touch", "rm", "true"}) {
    std::filesystem::create_symlink("busybox", root + "/bin/" + applet);
  }
  std::string tar = dir.Sub("busybox.tar");
  RunResult r = testing::Run({"tar", "-C", root, "-cf", tar, "."});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return tar;
}

// dockerd, or podman's service, on a socket in `dir`.
class Engine {
 public:
  Engine(EngineKind kind, const testing::TempDir& dir)
      : kind_(kind),
        base_(dir.path()),
        socket_(dir.Sub(kind == EngineKind::kDocker ? "docker.sock"
                                                    : "podman.sock")),
        log_(dir.Sub("engine.log")) {
    if (kind_ == EngineKind::kPodman) WritePodmanConfig();
  }

  ~Engine() {
    if (child_) {
      // podman's containers outlive its service (conmon keeps them): remove
      // them first. dockerd stops its own.
      if (kind_ == EngineKind::kPodman) {
        RunResult ids = Docker({"ps", "-aq"});
        for (const std::string& id : Lines(ids.out)) Docker({"rm", "-f", id});
      }
      Stop();
    }
    // podman's containers end through conmon, which runs a `podman container
    // cleanup` of its own afterwards: wait for every process still using
    // the engine's dir, or it may mount the storage again.
    Eventually([&] { return !AnyProcessMentions(base_); },
               std::chrono::seconds(30));
    // The engines leave their storage mounted (podman its overlay dir,
    // dockerd its data root): unmounted, the temp dir can go.
    std::vector<std::string> mounts;
    std::istringstream table(testing::ReadFile("/proc/self/mounts"));
    for (std::string line; std::getline(table, line);) {
      std::istringstream fields(line);
      std::string device, point;
      fields >> device >> point;
      if (point.starts_with(base_ + "/")) mounts.push_back(point);
    }
    for (auto it = mounts.rbegin(); it != mounts.rend(); ++it) {
      umount2(it->c_str(), MNT_DETACH);
    }
  }

  std::string name() const {
    return kind_ == EngineKind::kDocker ? "docker" : "podman";
  }
  const std::string& socket() const { return socket_; }
  std::string log() const { return testing::ReadFile(log_); }

  ::testing::AssertionResult Start() {
    std::vector<std::string> argv;
    if (kind_ == EngineKind::kDocker) {
      argv = {"dockerd",
              "--host",
              "unix://" + socket_,
              "--data-root",
              base_ + "/data",
              "--exec-root",
              base_ + "/exec",
              "--pidfile",
              base_ + "/dockerd.pid",
              "--iptables=false",
              "--ip-masq=false",
              "--ip-forward=false",
              "--bridge=none",
              "--shutdown-timeout",
              "1"};
    } else {
      argv = {"env",
              "CONTAINERS_CONF=" + base_ + "/containers.conf",
              "CONTAINERS_STORAGE_CONF=" + base_ + "/storage.conf",
              "podman",
              "system",
              "service",
              "--time",
              "0",
              "unix://" + socket_};
    }
    child_ = std::make_unique<testing::Child>(argv, log_);
    bool up = Eventually(
        [&] { return child_->Poll() || Docker({"version"}).exit_code == 0; });
    if (!up || child_->Poll()) {
      return ::testing::AssertionFailure() << name() << " did not start:\n"
                                           << log();
    }
    events_ = std::make_unique<testing::Child>(
        std::vector<std::string>{"docker", "-H", "unix://" + socket_, "events",
                                 "--format", "{{.Action}}"});
    return ::testing::AssertionSuccess();
  }

  void Stop() {
    events_.reset();
    child_->Kill(SIGTERM);
    child_.reset();
  }

  // Runs `docker ARGS` (as Must), then waits until the engine announces one
  // of `actions`: when the change is public, and wmeta's second starts.
  // Docker announces at once; podman relays its event log 0.2 to 1 s later
  // (the deadline is for a loaded machine).
  std::string Step(const std::set<std::string>& actions,
                   std::vector<std::string> args) {
    while (events_->ReadLine(Clock::now())) {
    }
    std::string out = Must(args);
    auto deadline = Clock::now() + std::chrono::seconds(30);
    while (true) {
      std::optional<std::string> action = events_->ReadLine(deadline);
      if (!action) {
        ADD_FAILURE() << name() << " announced nothing after docker "
                      << args.front();
        break;
      }
      if (actions.contains(*action)) break;
    }
    return out;
  }

  // The docker CLI against this engine.
  RunResult Docker(std::vector<std::string> args) const {
    args.insert(args.begin(), {"docker", "-H", "unix://" + socket_});
    return testing::Run(args);
  }

  // As Docker, failing the test when it fails; its stdout, trimmed.
  std::string Must(std::vector<std::string> args) const {
    RunResult r = Docker(args);
    EXPECT_EQ(r.exit_code, 0) << "docker " << args.front() << ": " << r.err;
    return Trim(r.out);
  }

  bj::object Inspect(const std::string& what) const {
    RunResult r = Docker({"inspect", what});
    if (r.exit_code != 0) return {};
    return bj::parse(r.out).as_array().at(0).as_object();
  }

 private:
  static bool AnyProcessMentions(const std::string& text) {
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
      std::string name = entry.path().filename();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      if (testing::ReadFile(entry.path() / "cmdline").find(text) !=
          std::string::npos) {
        return true;
      }
    }
    return false;
  }

  static std::vector<std::string> Lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) out.push_back(line);
    }
    return out;
  }

  // What runs podman here (research/runtime-probe.md): cgroupfs and file
  // events (no systemd), runc (crun refuses hybrid cgroups), rlimits within
  // the hard limits, no network, state in the temp dir.
  void WritePodmanConfig() const {
    std::ofstream(base_ + "/containers.conf")
        << "[containers]\n"
           "default_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n"
           "netns = \"none\"\n"
           "[engine]\n"
           "runtime = \"runc\"\n"
           "cgroup_manager = \"cgroupfs\"\n"
           "events_logger = \"file\"\n"
           "events_logfile_path = \""
        << base_ << "/events.log\"\ntmp_dir = \"" << base_ << "/tmp\"\n";
    std::ofstream(base_ + "/storage.conf")
        << "[storage]\ndriver = \"" << PodmanStorageDriver()
        << "\"\ngraphroot = \"" << base_ << "/root\"\nrunroot = \"" << base_
        << "/run\"\n";
  }

  // overlay, unless the temp dir is itself on overlayfs (inside a container):
  // podman refuses overlay on overlay without a mount program ("'overlay' is
  // not supported over overlayfs"), where dockerd falls back to vfs by itself.
  std::string PodmanStorageDriver() const {
    struct statfs fs {};
    constexpr decltype(fs.f_type) kOverlayfsMagic = 0x794c7630;
    if (statfs(base_.c_str(), &fs) == 0 && fs.f_type == kOverlayfsMagic) {
      return "vfs";
    }
    return "overlay";
  }

  EngineKind kind_;
  std::string base_;
  std::string socket_;
  std::string log_;
  std::unique_ptr<testing::Child> child_;
  // `docker events`, one action per line.
  std::unique_ptr<testing::Child> events_;
};

std::string Str(const bj::object& o, std::string_view key) {
  const bj::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

const bj::object& Obj(const bj::object& o, std::string_view key) {
  static const bj::object kEmpty;
  const bj::value* v = o.if_contains(key);
  return v && v->is_object() ? v->as_object() : kEmpty;
}

int64_t Int(const bj::object& o, std::string_view key) {
  const bj::value* v = o.if_contains(key);
  return v && v->is_number() ? v->to_number<int64_t>() : 0;
}

// An API time as wmeta shows it; "" for Go's zero time.
std::string Time(const std::string& text) {
  Result<Timestamp> t = ParseTime(text);
  return t ? FormatTime(*t) : "";
}

std::string CgroupOf(int64_t pid) {
  std::string text =
      testing::ReadFile("/proc/" + std::to_string(pid) + "/cgroup");
  std::istringstream in(text);
  std::string memory;
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("0::") && line != "0::/") return line.substr(3);
    if (line.find(":memory:") != std::string::npos) {
      memory = line.substr(line.find(":memory:") + 8);
    }
  }
  return memory;
}

// What wmeta must show for the container `docker inspect` describes, worked
// out here on its own from the inspect document.
bj::object Expected(const bj::object& inspect, const std::string& runtime) {
  const bj::object& config = Obj(inspect, "Config");
  const bj::object& state = Obj(inspect, "State");
  const bj::object& host = Obj(inspect, "HostConfig");
  bj::object out;
  out["id"] = Str(inspect, "Id");
  out["name"] = Str(inspect, "Name").substr(1);
  out["runtime"] = runtime;
  out["hostname"] = Str(config, "Hostname");
  if (!Obj(config, "Labels").empty()) out["labels"] = Obj(config, "Labels");
  bj::object env;
  if (const bj::value* vars = config.if_contains("Env");
      vars && vars->is_array()) {
    for (const bj::value& var : vars->as_array()) {
      std::string text(var.as_string());
      if (text.starts_with("DD_")) {
        env[text.substr(0, text.find('='))] = text.substr(text.find('=') + 1);
      }
    }
  }
  if (!env.empty()) out["env_vars"] = env;
  bj::object image;
  image["id"] = Str(inspect, "Image");
  image["raw_name"] = Str(config, "Image");
  out["image"] = image;
  bool running = state.at("Running").as_bool();
  if (int64_t pid = Int(state, "Pid"); pid > 0) {
    out["pid"] = pid;
    out["cgroup_path"] = CgroupOf(pid);
  }
  bj::object s;
  s["running"] = running;
  std::string status = Str(state, "Status");
  s["status"] = status == "exited" || status == "dead" ? "stopped" : status;
  std::string health = Str(Obj(state, "Health"), "Status");
  if (!health.empty()) s["health"] = health;
  s["created_at"] = Time(Str(inspect, "Created"));
  if (auto t = Time(Str(state, "StartedAt")); !t.empty()) s["started_at"] = t;
  if (auto t = Time(Str(state, "FinishedAt")); !t.empty()) {
    s["finished_at"] = t;
    if (!running || status == "restarting") {
      s["exit_code"] = Int(state, "ExitCode");
    }
  }
  s["oom_killed"] = state.at("OOMKilled").as_bool();
  out["state"] = s;
  bj::object resources;
  if (int64_t memory = Int(host, "Memory"); memory > 0) {
    resources["memory_limit"] = memory;
  }
  if (int64_t nano = Int(host, "NanoCpus"); nano > 0) {
    resources["cpu_limit"] = static_cast<double>(nano) / 1e7;
  }
  if (!resources.empty()) out["resources"] = resources;
  bj::object ips;
  for (const auto& [net, settings] :
       Obj(Obj(inspect, "NetworkSettings"), "Networks")) {
    std::string ip = Str(settings.as_object(), "IPAddress");
    if (!ip.empty()) ips[net] = ip;
  }
  if (!ips.empty()) out["network_ips"] = ips;
  out["restart_count"] = Int(inspect, "RestartCount");
  return out;
}

// The fields of `entity` that Expected covers, numbers made comparable.
bj::object Mapped(const bj::object& entity) {
  bj::object out;
  for (const char* key :
       {"id", "name", "runtime", "hostname", "labels", "env_vars", "pid",
        "cgroup_path", "state", "resources", "network_ips", "restart_count"}) {
    if (const bj::value* v = entity.if_contains(key)) out[key] = *v;
  }
  bj::object image;
  image["id"] = Str(Obj(entity, "image"), "id");
  image["raw_name"] = Str(Obj(entity, "image"), "raw_name");
  out["image"] = image;
  if (bj::value* r = out.if_contains("resources")) {
    if (bj::value* cpu = r->as_object().if_contains("cpu_limit")) {
      *cpu = cpu->to_number<double>();
    }
  }
  return out;
}

class EngineTest : public ::testing::TestWithParam<EngineKind> {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "the engines need root";
    engine_ = std::make_unique<Engine>(GetParam(), engine_dir_);
    ASSERT_TRUE(engine_->Start());
    std::string flag = GetParam() == EngineKind::kDocker ? "--docker-socket"
                                                         : "--podman-socket";
    daemon_ = std::make_unique<Daemon>(
        wmeta_dir_, std::vector<std::string>{
                        "--collectors", "process," + engine_->name(), flag,
                        engine_->socket(), "--process-interval", "500ms",
                        "--record-input", wmeta_dir_.Sub("recordings")});
    ASSERT_TRUE(daemon_->Start());
    // The script starts once the collector has listed the engine: its first
    // session (under a sanitizer, on 2 busy cores) can take over a second.
    std::string listed =
        "wmeta_collector_pulls_total{collector=\"" + engine_->name() + "\"} ";
    ASSERT_TRUE(Eventually([&] {
      std::string metrics = testing::HttpGet(daemon_->http_port(), "/metrics");
      size_t at = metrics.find(listed);
      return at != std::string::npos &&
             metrics.compare(at + listed.size(), 2, "0\n") != 0;
    })) << daemon_->log();
  }

  void TearDown() override {
    if (!::testing::Test::HasFailure() || engine_ == nullptr) return;
    // A failed set-up may have left no daemon.
    if (daemon_ != nullptr) std::cerr << "--- wmetad log\n" << daemon_->log();
    std::string engine = engine_->log();
    std::cerr << "--- engine log (tail)\n"
              << engine.substr(engine.size() > 4000 ? engine.size() - 4000 : 0);
  }

  std::string runtime() const { return engine_->name(); }

  // The entity wmeta serves for KIND/ID, or an empty object when it has none.
  bj::object Entity(const std::string& kind, const std::string& id) {
    std::string response = testing::HttpGet(daemon_->http_port(),
                                            "/v1/entities/" + kind + "/" + id);
    if (!response.starts_with("HTTP/1.1 200")) return {};
    return bj::parse(testing::BodyOf(response)).at("entity").as_object();
  }

  // wmeta agrees with `docker inspect NAME` within kAgreeWithin of now.
  ::testing::AssertionResult Agrees(const std::string& name) {
    auto deadline = Clock::now() + kAgreeWithin;
    bj::object expected, actual;
    do {
      bj::object inspect = engine_->Inspect(name);
      if (inspect.empty())
        return ::testing::AssertionFailure() << name << " is gone";
      expected = Expected(inspect, runtime());
      actual = Mapped(Entity("container", Str(inspect, "Id")));
      if (expected == actual) return ::testing::AssertionSuccess();
    } while (Clock::now() < deadline);
    return ::testing::AssertionFailure()
           << name << ": wmeta disagrees with docker inspect after "
           << kAgreeWithin.count()
           << " ms\n  inspect: " << bj::serialize(expected)
           << "\n  wmeta:   " << bj::serialize(actual);
  }

  // Every container of the engine agrees, and wmeta has no other.
  ::testing::AssertionResult AllAgree() {
    std::set<std::string> ids;
    for (std::string id : Split(engine_->Must({"ps", "-aq", "--no-trunc"}))) {
      ids.insert(id);
      if (auto r = Agrees(id); !r) return r;
    }
    std::set<std::string> shown;
    bj::value list = bj::parse(testing::BodyOf(
        testing::HttpGet(daemon_->http_port(), "/v1/entities?kind=container")));
    for (const bj::value& e : list.at("entities").as_array()) {
      shown.insert(std::string(e.at("entity").at("id").as_string()));
    }
    if (shown != ids) {
      return ::testing::AssertionFailure()
             << "wmeta shows " << shown.size() << " containers, the engine has "
             << ids.size();
    }
    return ::testing::AssertionSuccess();
  }

  ::testing::AssertionResult Gone(const std::string& kind,
                                  const std::string& id) {
    auto deadline = Clock::now() + kAgreeWithin;
    do {
      if (Entity(kind, id).empty()) return ::testing::AssertionSuccess();
    } while (Clock::now() < deadline);
    return ::testing::AssertionFailure() << kind << "/" << id << " still shown";
  }

  // wmeta's image agrees with `docker image inspect` on tags, digests, size,
  // OS and architecture.
  ::testing::AssertionResult ImageAgrees(const std::string& id) {
    auto deadline = Clock::now() + kAgreeWithin;
    std::string expected, actual;
    do {
      bj::object inspect = engine_->Inspect(id);
      bj::object want;
      for (const char* key : {"RepoTags", "RepoDigests"}) {
        const bj::value* v = inspect.if_contains(key);
        if (v && v->is_array() && !v->as_array().empty()) want[key] = *v;
      }
      want["Size"] = Int(inspect, "Size");
      want["Os"] = Str(inspect, "Os");
      want["Architecture"] = Str(inspect, "Architecture");
      bj::object entity = Entity("container_image_metadata", id);
      bj::object got;
      if (const bj::value* v = entity.if_contains("repo_tags"))
        got["RepoTags"] = *v;
      if (const bj::value* v = entity.if_contains("repo_digests"))
        got["RepoDigests"] = *v;
      got["Size"] = Int(entity, "size_bytes");
      got["Os"] = Str(entity, "os");
      got["Architecture"] = Str(entity, "architecture");
      expected = bj::serialize(want);
      actual = bj::serialize(got);
      if (want == got) return ::testing::AssertionSuccess();
    } while (Clock::now() < deadline);
    return ::testing::AssertionFailure()
           << "image " << id << "\n  inspect: " << expected
           << "\n  wmeta:   " << actual;
  }

  // Waits (as long as the engine takes) until `docker inspect` of `name`
  // satisfies `condition`.
  template <typename F>
  bool EngineReaches(const std::string& name, F condition) {
    return Eventually([&] { return condition(engine_->Inspect(name)); },
                      std::chrono::seconds(60));
  }

  // The values state.status took in the history of container `id`, in order
  // (repeats folded), and whether its last record removed it.
  std::pair<std::vector<std::string>, bool> StatusHistory(
      const std::string& id) {
    bj::value history = bj::parse(testing::BodyOf(
        testing::HttpGet(daemon_->http_port(), "/v1/history/container/" + id)));
    std::vector<std::string> statuses;
    bool removed = false;
    for (const bj::value& entry : history.at("entries").as_array()) {
      removed = !entry.at("exists").as_bool();
      for (const bj::value& change : entry.at("changes").as_array()) {
        if (change.at("path") == "state.status" &&
            change.at("after").is_string()) {
          std::string status(change.at("after").as_string());
          if (statuses.empty() || statuses.back() != status) {
            statuses.push_back(status);
          }
        }
      }
    }
    return {statuses, removed};
  }

  // The records of the collector's source in the log of the data dir
  // `data`, without what the store gave them (offset, ingest time).
  std::vector<std::string> SourceRecords(const std::string& data) {
    std::string source =
        GetParam() == EngineKind::kDocker ? "runtime" : "runtime:podman";
    RunResult log =
        testing::Run({WMETA_CLI, "--data-dir", data, "log", "--json"});
    EXPECT_EQ(log.exit_code, 0) << log.err;
    std::vector<std::string> out;
    std::istringstream lines(log.out);
    for (std::string line; std::getline(lines, line);) {
      bj::object record = bj::parse(line).as_object();
      if (record.at("source") != source.c_str()) continue;
      record.erase("offset");
      record.erase("ingest_time");
      out.push_back(bj::serialize(record));
    }
    return out;
  }

  // Stops wmetad; then its recording of the collector's input, replayed
  // without the engine, gives the very records the collector produced live,
  // twice. The collector produced at least `at_least` records (the ones the
  // test saw), so that the comparison is not of two empty logs.
  void ExpectTheRecordingReplaysTheSameRecords(size_t at_least) {
    ASSERT_EQ(daemon_->Stop(SIGTERM), 0);
    std::vector<std::string> recordings;
    for (const auto& entry :
         std::filesystem::directory_iterator(wmeta_dir_.Sub("recordings"))) {
      recordings.push_back(entry.path().string());
    }
    ASSERT_EQ(recordings.size(), 1u);
    EXPECT_TRUE(recordings[0].ends_with(".wrec")) << recordings[0];
    std::vector<std::string> live = SourceRecords(daemon_->data());
    ASSERT_GE(live.size(), at_least);
    for (int run = 0; run < 2; ++run) {
      testing::TempDir target;
      RunResult replay =
          testing::Run({WMETA_CLI, "--data-dir", target.Sub("data"), "replay",
                        recordings[0], "--json"});
      ASSERT_EQ(replay.exit_code, 0) << replay.err;
      EXPECT_NE(replay.out.find("\"divergences\":0"), std::string::npos)
          << replay.out << replay.err;
      // The engine's restart ended a session, in the recording too.
      EXPECT_NE(replay.err.find("a recorded session ended"), std::string::npos)
          << replay.err;
      std::vector<std::string> replayed = SourceRecords(target.Sub("data"));
      ASSERT_EQ(replayed.size(), live.size());
      for (size_t i = 0; i < live.size(); ++i) {
        ASSERT_EQ(replayed[i], live[i]) << "record " << i;
      }
    }
  }

  static std::vector<std::string> Split(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string word; in >> word;) out.push_back(word);
    return out;
  }

  testing::TempDir engine_dir_;
  testing::TempDir wmeta_dir_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Daemon> daemon_;
};

TEST_P(EngineTest, ScriptedLifecycleAgreesWithInspectAtEveryStep) {
  testing::TempDir scratch;
  const std::string d = "probe/busybox";
  // Images: import, tag.
  engine_->Step({"import", "tag"}, {"import", "-c", "CMD [\"/bin/sh\"]",
                                    BusyboxTar(scratch), d + ":1"});
  std::string image = Str(engine_->Inspect(d + ":1"), "Id");
  ASSERT_FALSE(image.empty());
  EXPECT_TRUE(ImageAgrees(image));
  engine_->Step({"tag"}, {"tag", d + ":1", d + ":2"});
  EXPECT_TRUE(ImageAgrees(image));

  // A container through its states.
  std::vector<std::string> create = Split(
      "create --name life --net=none --stop-timeout 1 --label app=wmeta "
      "--label team=metadata -e DD_SERVICE=web -e SECRET_TOKEN=hunter2 "
      "--memory 64m --cpus 0.5 --hostname life-host probe/busybox:1 "
      "sleep 1000");
  std::string id = engine_->Step({"create"}, create);
  ASSERT_EQ(id.size(), 64u) << id;
  EXPECT_TRUE(Agrees("life"));
  engine_->Step({"start"}, {"start", "life"});
  EXPECT_TRUE(Agrees("life"));
  engine_->Step({"pause"}, {"pause", "life"});
  EXPECT_TRUE(Agrees("life"));
  engine_->Step({"unpause"}, {"unpause", "life"});
  EXPECT_TRUE(Agrees("life"));
  // The secret never reaches wmeta; the allowed variable does.
  std::string shown = bj::serialize(Entity("container", id));
  EXPECT_EQ(shown.find("hunter2"), std::string::npos) << shown;
  EXPECT_NE(shown.find("\"DD_SERVICE\":\"web\""), std::string::npos) << shown;

  // Health checks. podman schedules them with systemd timers, which this
  // machine lacks: there a container stays "starting", which wmeta shows.
  engine_->Step(
      {"start"},
      {"run", "-d", "--name", "health", "--net=none", "--stop-timeout", "1",
       "--health-cmd", "test -f /tmp/ok", "--health-interval", "1s",
       "--health-retries", "1", d + ":1", "sleep", "1000"});
  EXPECT_TRUE(Agrees("health"));
  if (GetParam() == EngineKind::kDocker) {
    auto health_is = [](std::string want) {
      return [want](const bj::object& c) {
        return Str(Obj(Obj(c, "State"), "Health"), "Status") == want;
      };
    };
    engine_->Must({"exec", "health", "touch", "/tmp/ok"});
    ASSERT_TRUE(EngineReaches("health", health_is("healthy")));
    EXPECT_TRUE(Agrees("health"));
    engine_->Must({"exec", "health", "rm", "/tmp/ok"});
    ASSERT_TRUE(EngineReaches("health", health_is("unhealthy")));
    EXPECT_TRUE(Agrees("health"));
  }

  // Killed for memory: exit code 137, and OOMKilled as the engine reports it.
  // Docker learns of the kill from containerd apart from the exit and, on a
  // loaded machine, may never set the flag; wmeta shows what inspect shows
  // either way (the flag's mapping is checked on a captured inspect in
  // parse_test).
  engine_->Must({"run", "-d", "--name", "oom", "--net=none", "--stop-timeout",
                 "1", "--memory", "8m", "--memory-swap", "8m", d + ":1", "dd",
                 "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"});
  ASSERT_TRUE(EngineReaches("oom", [](const bj::object& c) {
    return Str(Obj(c, "State"), "Status") == "exited";
  }));
  EXPECT_EQ(Int(Obj(engine_->Inspect("oom"), "State"), "ExitCode"), 137);
  EXPECT_TRUE(Agrees("oom"));

  // A restart loop that gives up after three restarts.
  engine_->Must({"run", "-d", "--name", "loop", "--net=none", "--stop-timeout",
                 "1", "--restart", "on-failure:3", d + ":1", "sh", "-c",
                 "exit 1"});
  ASSERT_TRUE(EngineReaches("loop", [](const bj::object& c) {
    return Int(c, "RestartCount") == 3 &&
           Str(Obj(c, "State"), "Status") == "exited";
  }));
  EXPECT_TRUE(Agrees("loop"));

  // The engine restarts: what changed meanwhile, and what is created before
  // the collector is back, is all there.
  engine_->Stop();
  ASSERT_TRUE(engine_->Start());
  engine_->Must({"run", "-d", "--name", "after", "--net=none", "--stop-timeout",
                 "1", d + ":1", "sleep", "1000"});
  ASSERT_TRUE(
      Eventually([&] { return AllAgree() == true; }, std::chrono::seconds(30)))
      << AllAgree().message();
  // The outage is in wmetad's log, and its end.
  std::string down = "collector " + runtime() + ": unhealthy";
  std::string up = "collector " + runtime() + ": healthy again";
  EXPECT_TRUE(Eventually([&] {
    std::string log = daemon_->log();
    return log.find(down) != std::string::npos &&
           log.find(up, log.find(down)) != std::string::npos;
  })) << daemon_->log();
  if (Str(Obj(engine_->Inspect("life"), "State"), "Status") != "running") {
    engine_->Step({"start"}, {"start", "life"});
    EXPECT_TRUE(Agrees("life"));
  }

  engine_->Step({"stop", "died", "die"}, {"stop", "-t", "1", "life"});
  EXPECT_TRUE(Agrees("life"));
  engine_->Step({"destroy", "remove"}, {"rm", "life"});
  EXPECT_TRUE(Gone("container", id));
  EXPECT_TRUE(AllAgree());

  // Untag, then remove the image once nothing uses it.
  engine_->Step({"untag"}, {"rmi", d + ":2"});
  EXPECT_TRUE(ImageAgrees(image));
  engine_->Must({"rm", "-f", "health", "oom", "loop", "after"});
  engine_->Step({"delete"}, {"rmi", d + ":1"});
  EXPECT_TRUE(Gone("container_image_metadata", image));

  // The log tells the whole life of the container, in order.
  auto [statuses, removed] = StatusHistory(id);
  std::vector<std::string> expected{"created", "running", "paused", "running"};
  ASSERT_GE(statuses.size(), expected.size() + 1);
  EXPECT_EQ(std::vector<std::string>(statuses.begin(), statuses.begin() + 4),
            expected);
  EXPECT_EQ(statuses.back(), "stopped");
  EXPECT_TRUE(removed);

  // A record per status of the container, its removal, and the image.
  ExpectTheRecordingReplaysTheSameRecords(statuses.size() + 2);
}

TEST_P(EngineTest, ProcessesInAContainerHaveItAsOwner) {
  testing::TempDir scratch;
  engine_->Must({"import", BusyboxTar(scratch), "probe/busybox:1"});
  std::string id = engine_->Must({"run", "-d", "--name", "owner", "--net=none",
                                  "--stop-timeout", "1", "probe/busybox:1",
                                  "sleep", "1000"});
  ASSERT_TRUE(Agrees("owner"));
  int64_t pid = Int(Obj(engine_->Inspect("owner"), "State"), "Pid");
  ASSERT_GT(pid, 0);
  // A pull during the container's start sees runc's own processes (the
  // container's pid among them, before it became sleep); the next pull
  // settles. So wait for the settled view: sleep, and nothing else owned.
  bj::object process;
  ASSERT_TRUE(Eventually([&] {
    process = Entity("process", std::to_string(pid));
    return Str(process, "comm") == "sleep";
  })) << bj::serialize(process);
  EXPECT_EQ(Str(process, "container_id"), id);
  EXPECT_EQ(Str(Obj(process, "owner"), "kind"), "container");
  EXPECT_EQ(Str(Obj(process, "owner"), "id"), id);
  // "Which processes run in this container" is one query, and answers the
  // container's process only.
  RunResult in;
  std::vector<std::string> pids;
  EXPECT_TRUE(Eventually([&] {
    in = daemon_->Cli(
        {"list", "--kind", "process", "--owner", "container/" + id, "--json"});
    pids.clear();
    std::istringstream lines(in.out);
    for (std::string line; std::getline(lines, line);) {
      pids.push_back(Str(bj::parse(line).as_object(), "id"));
    }
    return in.exit_code == 0 &&
           pids == std::vector<std::string>{std::to_string(pid)};
  })) << in.err
      << in.out;
  std::string http = testing::BodyOf(testing::HttpGet(
      daemon_->http_port(), "/v1/entities?kind=process&owner=container/" + id));
  EXPECT_EQ(bj::parse(http).at("entities").as_array().size(), 1u) << http;
}

INSTANTIATE_TEST_SUITE_P(Engines, EngineTest,
                         ::testing::Values(EngineKind::kDocker,
                                           EngineKind::kPodman),
                         [](const auto& p) {
                           return p.param == EngineKind::kDocker ? "Docker"
                                                                 : "Podman";
                         });

}  // namespace
}  // namespace wmeta
