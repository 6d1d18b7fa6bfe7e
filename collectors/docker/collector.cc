#include "wmeta/docker/collector.h"

#include <algorithm>
#include <boost/json.hpp>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine_io.h"
#include "wmeta/collectors/list_diff.h"
#include "wmeta/collectors/recording.h"
#include "wmeta/schema/utf8.h"

namespace wmeta::docker {
namespace {

using collectors::ListDiff;
using collectors::Reporter;
using collectors::Sink;
using Clock = std::chrono::steady_clock;

// filters={"type":["container","image","network"]}, URL-encoded.
constexpr std::string_view kEventFilter =
    "filters=%7B%22type%22%3A%5B%22container%22%2C%22image%22%2C%22network%22%"
    "5D%7D";

// Events handled together at most: a bound on the work between two looks at
// the stream (which is read in the background meanwhile).
constexpr size_t kMaxBatch = 512;

// Container actions that leave what an inspect shows as it was. Any other,
// one a later engine adds included, re-inspects the container.
bool LeavesContainer(std::string_view action) {
  for (std::string_view a :
       {"attach", "detach", "top", "resize", "export", "copy", "commit",
        "archive-path", "extract-to-dir", "mount", "unmount"}) {
    if (action == a) return true;
  }
  return action.starts_with("exec");
}

// Docker says destroy, podman remove.
bool RemovesContainer(std::string_view action) {
  return action == "destroy" || action == "remove";
}

std::unexpected<Error> Unexpected(const std::string& target,
                                  const HttpResponse& response) {
  // The daemon's text goes into health and logs: bounded, and valid UTF-8
  // whatever it sent.
  return MakeError(
      ErrorCode::kUnavailable,
      "GET " + target + " answered " + std::to_string(response.status) + ": " +
          SanitizeUtf8(std::string_view(response.body).substr(0, 200)));
}

// An image id as the entity's id: podman's events name images by bare hex.
std::string ImageEntityId(const std::string& id) {
  return id.starts_with("sha256:") ? id : "sha256:" + id;
}

// What a replay needs of the options, in a recording's header.
std::string OptionsJson(const DockerOptions& options) {
  boost::json::array env;
  for (const std::string& name : options.env.allowed()) env.emplace_back(name);
  return boost::json::serialize(
      boost::json::object{{"name", options.name},
                          {"runtime", options.runtime},
                          {"proc_root", options.proc_root},
                          {"env", std::move(env)}});
}

Result<DockerOptions> OptionsFromRecording(
    const collectors::RecordingHeader& header) {
  auto invalid = [] {
    return MakeError(ErrorCode::kCorruption,
                     "the recording's options are not the Docker collector's");
  };
  boost::system::error_code ec;
  boost::json::value value = boost::json::parse(header.options_json, ec);
  const boost::json::object* o = ec ? nullptr : value.if_object();
  if (o == nullptr) return invalid();
  DockerOptions options;
  options.source = header.source;
  for (auto [name, field] : {std::pair{"name", &DockerOptions::name},
                             {"runtime", &DockerOptions::runtime},
                             {"proc_root", &DockerOptions::proc_root}}) {
    const boost::json::value* v = o->if_contains(name);
    if (v == nullptr || !v->is_string()) return invalid();
    options.*field = std::string(v->get_string());
  }
  const boost::json::value* env = o->if_contains("env");
  if (env == nullptr || !env->is_array()) return invalid();
  std::vector<std::string> allowed;
  for (const boost::json::value& name : env->get_array()) {
    if (!name.is_string()) return invalid();
    allowed.emplace_back(name.get_string());
  }
  options.env = EnvFilter(std::move(allowed));
  return options;
}

// A sink whose Known() goes through the I/O, recorded and replayed: the
// first listing reconciles with what the store held, and a replay must see
// what the live store held, not what its own target holds.
class KnownThroughIo final : public Sink {
 public:
  KnownThroughIo(Sink& sink, EngineIo& io) : sink_(sink), io_(io) {}
  Status Emit(std::span<const Event> events) override {
    return sink_.Emit(events);
  }
  Result<std::vector<std::string>> Known(Kind kind,
                                         std::string_view source) override {
    return io_.Known(sink_, kind, source);
  }

 private:
  Sink& sink_;
  EngineIo& io_;
};

class DockerCollector final : public collectors::Collector {
 public:
  // `io`: null for the engine at options.socket (recorded when
  // options.record_path says so).
  DockerCollector(DockerOptions options, std::unique_ptr<EngineIo> io)
      : options_(std::move(options)), io_(std::move(io)) {}

  std::string_view name() const override { return options_.name; }

  // Sessions until stopped. A session that fails (the daemon went away, its
  // stream broke) is reported as a failed pull, which the health shows, and
  // the next starts after a backoff of its own: from `reconnect` doubling to
  // 30 s, back to `reconnect` once a session listed. Daemons restart in
  // seconds, and the supervisor's backoff, made for failing code, is for
  // runs that end.
  Status Run(Sink& sink, Reporter& reporter, std::stop_token stop) override {
    constexpr std::chrono::milliseconds kMaxReconnect{30000};
    if (io_ == nullptr) {
      std::unique_ptr<EngineIo> io =
          LiveEngineIo(options_.socket, options_.timeout);
      if (!options_.record_path.empty()) {
        WMETA_ASSIGN_OR_RETURN(
            auto recorder, collectors::InputRecorder::Create(
                               options_.record_path,
                               {.collector = "docker",
                                .source = options_.source,
                                .options_json = OptionsJson(options_),
                                .created = FormatTime(SystemClock().Now())}));
        io = RecordingEngineIo(std::move(io), std::move(recorder));
      }
      io_ = std::move(io);
    }
    KnownThroughIo through_io(sink, *io_);
    auto backoff = options_.reconnect;
    while (!stop.stop_requested()) {
      bool listed = false;
      Status status = Session(through_io, reporter, stop, listed);
      if (stop.stop_requested()) break;
      reporter.Pulled(status, {});
      if (listed) backoff = options_.reconnect;
      io_->Pause(stop, Clock::now() + backoff);
      backoff =
          std::min(backoff * 2, std::max(kMaxReconnect, options_.reconnect));
    }
    return {};
  }

 private:
  // One connection: subscribe, list, then follow the stream, listing again
  // every `resync`, until the stream breaks (an error) or the stop (ok).
  Status Session(Sink& sink, Reporter& reporter, std::stop_token stop,
                 bool& listed) {
    WMETA_ASSIGN_OR_RETURN(std::unique_ptr<EngineConnection> connection,
                           io_->Connect(stop));
    EngineConnection& client = *connection;
    HttpResponse version;
    WMETA_ASSIGN_OR_RETURN(version, client.Get("/version"));
    if (version.status != 200) return Unexpected("/version", version);
    WMETA_ASSIGN_OR_RETURN(std::string api, NegotiateApiVersion(version.body));
    prefix_ = "/v" + api;
    // Subscribed before listing, so that a change made while the listing
    // runs is in the stream. Docker flushes the answer's headers before it
    // subscribes: starting a second back, the gap is replayed (a repeat only
    // costs an inspect).
    std::string since =
        std::to_string(std::chrono::floor<std::chrono::seconds>(io_->Now())
                           .time_since_epoch()
                           .count() -
                       1);
    WMETA_RETURN_IF_ERROR(client.OpenStream(prefix_ + "/events?since=" + since +
                                            "&" + std::string(kEventFilter)));
    ListDiff images(options_.source, {Kind::kContainerImageMetadata}, *io_);
    WMETA_RETURN_IF_ERROR(ListAll(client, sink, images, reporter));
    listed = true;
    auto resync = Clock::now() + options_.resync;
    while (true) {
      WMETA_ASSIGN_OR_RETURN(std::optional<std::string> line,
                             client.NextLine(resync));
      if (stop.stop_requested()) return {};
      if (!line) {
        // A quiet stream, or events the engine dropped: the listing is the
        // truth. Its requests' deadlines also catch a daemon that hung.
        images =
            ListDiff(options_.source, {Kind::kContainerImageMetadata}, *io_);
        WMETA_RETURN_IF_ERROR(ListAll(client, sink, images, reporter));
        resync = Clock::now() + options_.resync;
        continue;
      }
      // What has arrived is handled as one batch: an entity touched by
      // several events is inspected once, so a burst (a `docker rm -f` of
      // many containers) costs a request per entity, not per event.
      std::vector<EngineEvent> batch;
      while (true) {
        // A line that is not an event cannot say what changed: the next
        // session lists everything again rather than guess.
        WMETA_ASSIGN_OR_RETURN(EngineEvent event, ParseEngineEvent(*line));
        batch.push_back(std::move(event));
        if (!client.LineReady() || batch.size() >= kMaxBatch) break;
        WMETA_ASSIGN_OR_RETURN(line, client.NextLine(Clock::now()));
      }
      // Images first: a container created from an image just pulled finds
      // it.
      WMETA_RETURN_IF_ERROR(OnImageEvents(client, sink, images, batch));
      WMETA_RETURN_IF_ERROR(OnContainerEvents(client, sink, batch));
    }
  }

  // Every image and container, reconciled with what the store holds from
  // this source (a ListDiff seeded from it): new and changed ones set, those
  // the engine no longer has unset. Reported as a pull.
  Status ListAll(EngineConnection& client, Sink& sink, ListDiff& images,
                 Reporter& reporter) {
    auto start = Clock::now();
    WMETA_RETURN_IF_ERROR(ListImages(client, sink, images));
    std::string target = prefix_ + "/containers/json?all=1";
    WMETA_ASSIGN_OR_RETURN(HttpResponse list, client.Get(target));
    if (list.status != 200) return Unexpected(target, list);
    WMETA_ASSIGN_OR_RETURN(std::vector<std::string> ids, ParseIds(list.body));
    std::vector<Event> current;
    for (const std::string& id : ids) {
      WMETA_ASSIGN_OR_RETURN(std::optional<Event> event,
                             InspectContainer(client, id));
      // Removed since the listing: its destroy is in the stream.
      if (event) current.push_back(std::move(*event));
    }
    ListDiff containers(options_.source, {Kind::kContainer}, *io_);
    WMETA_RETURN_IF_ERROR(containers.Apply(sink, std::move(current)));
    reporter.Pulled({}, Clock::now() - start);
    return {};
  }

  // Lists and inspects every image. An image removed between the listing
  // and its inspection answers 404 (Docker) or 500 (podman): the listing
  // starts over, a few times, before that counts as a failure.
  Status ListImages(EngineConnection& client, Sink& sink, ListDiff& diff) {
    constexpr int kAttempts = 3;
    std::string target = prefix_ + "/images/json";
    for (int attempt = 1;; ++attempt) {
      WMETA_ASSIGN_OR_RETURN(HttpResponse list, client.Get(target));
      if (list.status != 200) return Unexpected(target, list);
      WMETA_ASSIGN_OR_RETURN(std::vector<std::string> ids, ParseIds(list.body));
      std::vector<Event> current;
      std::unordered_map<std::string, ImageRefs> refs;
      std::optional<Error> vanished;
      for (const std::string& id : ids) {
        std::string inspect = prefix_ + "/images/" + id + "/json";
        WMETA_ASSIGN_OR_RETURN(HttpResponse response, client.Get(inspect));
        if (response.status != 200) {
          vanished = Unexpected(inspect, response).error();
          break;
        }
        WMETA_ASSIGN_OR_RETURN(
            Image image,
            ParseImage(response.body, options_.source, io_->Now()));
        // Two list entries can be one image (podman lists an image once per
        // name in some versions).
        if (!refs.emplace(image.refs.id, image.refs).second) continue;
        current.push_back(std::move(image.event));
      }
      if (vanished) {
        if (attempt == kAttempts) return std::unexpected(std::move(*vanished));
        continue;
      }
      WMETA_RETURN_IF_ERROR(diff.Apply(sink, std::move(current)));
      images_ = std::move(refs);
      return {};
    }
  }

  // The images of `batch`. A deletion is checked by inspecting the image:
  // podman reports one while its listing still shows the image, and also
  // when it removed one of several tags. A 404 is gone; anything else, and
  // any other image event, re-lists (the listing decides).
  Status OnImageEvents(EngineConnection& client, Sink& sink, ListDiff& diff,
                       const std::vector<EngineEvent>& batch) {
    bool relist = false;
    std::vector<Event> unsets;
    for (const EngineEvent& event : batch) {
      if (event.type != "image") continue;
      if (event.action != "delete" || !IsEngineId(event.id)) {
        relist = true;
        continue;
      }
      std::string target = prefix_ + "/images/" + event.id + "/json";
      WMETA_ASSIGN_OR_RETURN(HttpResponse response, client.Get(target));
      if (response.status != 404) {
        relist = true;
        continue;
      }
      std::string id = ImageEntityId(event.id);
      images_.erase(id);
      diff.Forget({Kind::kContainerImageMetadata, id});
      WMETA_ASSIGN_OR_RETURN(
          Event unset,
          collectors::UnsetEvent(options_.source, Kind::kContainerImageMetadata,
                                 id, io_->Now()));
      unsets.push_back(std::move(unset));
    }
    if (!unsets.empty()) WMETA_RETURN_IF_ERROR(sink.Emit(unsets));
    return relist ? ListImages(client, sink, diff) : Status();
  }

  // The containers of `batch`, each once, in the order they first appear:
  // unset when its last event removed it, else inspected now. A network
  // event (connect, disconnect) names its container in an attribute.
  Status OnContainerEvents(EngineConnection& client, Sink& sink,
                           const std::vector<EngineEvent>& batch) {
    std::vector<std::string> order;
    std::unordered_map<std::string, bool> removed;
    for (const EngineEvent& event : batch) {
      std::string id;
      if (event.type == "container" && !LeavesContainer(event.action)) {
        id = event.id;
      } else if (event.type == "network") {
        auto it = event.attributes.find("container");
        if (it != event.attributes.end()) id = it->second;
      }
      if (!IsEngineId(id)) continue;
      bool removes =
          event.type == "container" && RemovesContainer(event.action);
      auto [it, inserted] = removed.emplace(id, removes);
      if (inserted) order.push_back(id);
      it->second = removes;
    }
    std::vector<Event> events;
    for (const std::string& id : order) {
      std::optional<Event> set;
      if (!removed[id]) {
        WMETA_ASSIGN_OR_RETURN(set, InspectContainer(client, id));
      }
      if (set) {
        events.push_back(std::move(*set));
        continue;
      }
      WMETA_ASSIGN_OR_RETURN(
          Event unset, collectors::UnsetEvent(options_.source, Kind::kContainer,
                                              id, io_->Now()));
      events.push_back(std::move(unset));
    }
    return events.empty() ? Status() : sink.Emit(events);
  }

  // The container's set event, or nullopt when the daemon no longer has it.
  // podman answers a container removed a moment ago with 500 rather than
  // 404: the listing decides whether it is gone or the daemon is failing.
  Result<std::optional<Event>> InspectContainer(EngineConnection& client,
                                                const std::string& id) {
    std::string target = prefix_ + "/containers/" + id + "/json";
    WMETA_ASSIGN_OR_RETURN(HttpResponse response, client.Get(target));
    if (response.status == 404) return std::nullopt;
    if (response.status != 200) {
      std::string list = prefix_ +
                         "/containers/json?all=1&filters=%7B%22id%22%3A%5B%22" +
                         id + "%22%5D%7D";
      WMETA_ASSIGN_OR_RETURN(HttpResponse listed, client.Get(list));
      if (listed.status != 200) return Unexpected(list, listed);
      WMETA_ASSIGN_OR_RETURN(std::vector<std::string> ids,
                             ParseIds(listed.body));
      if (ids.empty()) return std::nullopt;
      return Unexpected(target, response);
    }
    ContainerContext context;
    context.source = options_.source;
    context.runtime = options_.runtime;
    context.env = &options_.env;
    context.image = [this](std::string_view image_id) -> const ImageRefs* {
      auto it = images_.find(std::string(image_id));
      return it == images_.end() ? nullptr : &it->second;
    };
    context.cgroup_path = [this](int pid) -> std::optional<std::string> {
      auto text = io_->ReadFile(options_.proc_root + "/" + std::to_string(pid) +
                                "/cgroup");
      return text ? CgroupPathFromProc(*text) : std::nullopt;
    };
    WMETA_ASSIGN_OR_RETURN(Event event,
                           ParseContainer(response.body, context, io_->Now()));
    return event;
  }

  DockerOptions options_;
  std::unique_ptr<EngineIo> io_;
  // "/v1.41": every request after /version goes to the negotiated version.
  std::string prefix_;
  // The images of the last listing, by id.
  std::unordered_map<std::string, ImageRefs> images_;
};

}  // namespace

DockerOptions PodmanOptions() {
  DockerOptions options;
  options.name = "podman";
  options.runtime = "podman";
  options.source = "runtime:podman";
  options.socket = "/run/podman/podman.sock";
  return options;
}

class DockerReplay final : public collectors::ReplayCollector {
 public:
  DockerReplay(DockerOptions options,
               std::unique_ptr<collectors::InputReplay> replay)
      : options_(std::move(options)), replay_(std::move(replay)) {}

  std::string_view name() const override { return options_.name; }

  Status Run(Sink& sink, Reporter& reporter, std::stop_token stop) override {
    std::stop_source done;
    std::stop_callback forward(stop, [&done] { done.request_stop(); });
    DockerCollector collector(options_, ReplayEngineIo(*replay_, done));
    return collector.Run(sink, reporter, done.get_token());
  }

  const collectors::InputReplay& replay() const override { return *replay_; }

 private:
  DockerOptions options_;
  std::unique_ptr<collectors::InputReplay> replay_;
};

std::unique_ptr<collectors::Collector> NewDockerCollector(
    DockerOptions options) {
  return std::make_unique<DockerCollector>(std::move(options), nullptr);
}

Result<std::unique_ptr<collectors::ReplayCollector>> NewDockerReplay(
    std::unique_ptr<collectors::InputReplay> replay) {
  if (replay->header().collector != "docker") {
    return MakeError(ErrorCode::kInvalidArgument,
                     "a recording of the " + replay->header().collector +
                         " collector, not of the Docker one");
  }
  WMETA_ASSIGN_OR_RETURN(DockerOptions options,
                         OptionsFromRecording(replay->header()));
  return std::make_unique<DockerReplay>(std::move(options), std::move(replay));
}

}  // namespace wmeta::docker
