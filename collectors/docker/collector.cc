#include "wmeta/docker/collector.h"

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <sstream>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine_client.h"
#include "wmeta/collectors/list_diff.h"

namespace wmeta::docker {
namespace {

using collectors::ListDiff;
using collectors::Reporter;
using collectors::Sink;

// filters={"type":["container","image"]}, URL-encoded.
constexpr std::string_view kEventFilter =
    "filters=%7B%22type%22%3A%5B%22container%22%2C%22image%22%5D%7D";

// Events handled together at most: a bound on the work between two reads of
// the stream.
constexpr size_t kMaxBatch = 512;

// Container actions that change what an inspect shows. The rest (exec_*,
// attach, top, resize, export, ...) leave the container as it was.
bool ChangesContainer(std::string_view action) {
  for (std::string_view a :
       {"create", "start", "restart", "die", "stop", "kill", "pause", "unpause",
        "rename", "update", "oom", "init", "cleanup"}) {
    if (action == a) return true;
  }
  return action.starts_with("health_status");
}

// Whether `id` from an event can go into a request path as it is: ids are
// hex digests, at most prefixed ("sha256:"); anything else is not an id.
bool IsPlainId(std::string_view id) {
  return !id.empty() && id.size() <= 128 &&
         std::all_of(id.begin(), id.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == ':' ||
                  c == '_' || c == '-' || c == '.';
         });
}

// Docker says destroy, podman remove.
bool RemovesContainer(std::string_view action) {
  return action == "destroy" || action == "remove";
}

std::optional<std::string> ReadCgroupPath(const std::string& proc_root,
                                          int pid) {
  std::ifstream in(proc_root + "/" + std::to_string(pid) + "/cgroup");
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return CgroupPathFromProc(text.str());
}

std::unexpected<Error> Unexpected(const std::string& target,
                                  const HttpResponse& response) {
  return MakeError(ErrorCode::kUnavailable,
                   "GET " + target + " answered " +
                       std::to_string(response.status) + ": " +
                       response.body.substr(0, 200));
}

class DockerCollector final : public collectors::Collector {
 public:
  explicit DockerCollector(DockerOptions options)
      : options_(std::move(options)) {}

  std::string_view name() const override { return options_.name; }

  // Sessions until stopped: a session that fails (the daemon went away, its
  // stream broke) is reported as a failed pull, which the health shows, and
  // the next starts after `reconnect`: daemons restart in seconds, and the
  // supervisor's backoff, made for failing code, would grow to minutes.
  Status Run(Sink& sink, Reporter& reporter, std::stop_token stop) override {
    std::mutex mu;
    std::condition_variable_any wake;
    while (!stop.stop_requested()) {
      auto start = std::chrono::steady_clock::now();
      Status status = Session(sink, reporter, stop);
      if (stop.stop_requested()) break;
      reporter.Pulled(status, std::chrono::steady_clock::now() - start);
      std::unique_lock lock(mu);
      wake.wait_for(lock, stop, options_.reconnect, [] { return false; });
    }
    return {};
  }

 private:
  // One connection: subscribe, list, then follow the stream until it breaks
  // (an error) or the stop (ok).
  Status Session(Sink& sink, Reporter& reporter, std::stop_token stop) {
    EngineClient client(options_.socket, options_.timeout, stop);
    // A new run knows nothing of what the last one streamed: both diffs seed
    // from what the store holds from this source.
    ListDiff containers(options_.source, {Kind::kContainer});
    ListDiff images(options_.source, {Kind::kContainerImageMetadata});
    auto start = std::chrono::steady_clock::now();
    WMETA_RETURN_IF_ERROR(Start(client, sink, containers, images));
    // The listing is the pull: a healthy collector from here on.
    reporter.Pulled({}, std::chrono::steady_clock::now() - start);
    while (true) {
      // What has arrived is handled as one batch: an entity touched by
      // several events is inspected once, so a burst (a `docker rm -f` of
      // many containers) costs a request per entity, not per event.
      std::vector<EngineEvent> batch;
      do {
        Result<std::string> line = client.NextLine();
        if (stop.stop_requested()) return {};
        WMETA_RETURN_IF_ERROR(line);
        // A line that is not an event cannot say what changed: the next
        // session lists everything again rather than guess.
        WMETA_ASSIGN_OR_RETURN(EngineEvent event, ParseEngineEvent(*line));
        batch.push_back(std::move(event));
      } while (client.LineReady() && batch.size() < kMaxBatch);
      WMETA_RETURN_IF_ERROR(OnContainerEvents(client, sink, batch));
      WMETA_RETURN_IF_ERROR(OnImageEvents(client, sink, images, batch));
    }
  }

  // Negotiates, subscribes, then lists: an event of the listing's time is
  // in the stream, and handled after it.
  Status Start(EngineClient& client, Sink& sink, ListDiff& containers,
               ListDiff& images) {
    HttpResponse version;
    WMETA_ASSIGN_OR_RETURN(version, client.Get("/version"));
    if (version.status != 200) return Unexpected("/version", version);
    WMETA_ASSIGN_OR_RETURN(std::string api, NegotiateApiVersion(version.body));
    prefix_ = "/v" + api;
    WMETA_RETURN_IF_ERROR(
        client.OpenStream(prefix_ + "/events?" + std::string(kEventFilter)));
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
    return containers.Apply(sink, std::move(current));
  }

  // Lists and inspects every image. An image removed between the listing
  // and its inspection answers 404 (Docker) or 500 (podman): the listing
  // starts over, a few times, before that counts as a failure.
  Status ListImages(EngineClient& client, Sink& sink, ListDiff& diff) {
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
            ParseImage(response.body, options_.source, SystemClock().Now()));
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
  // when it removed one of several tags. Any other image event re-lists.
  Status OnImageEvents(EngineClient& client, Sink& sink, ListDiff& diff,
                       const std::vector<EngineEvent>& batch) {
    bool relist = false;
    std::vector<Event> unsets;
    for (const EngineEvent& event : batch) {
      if (event.type != "image") continue;
      if (event.action != "delete" || !IsPlainId(event.id)) {
        relist = true;
        continue;
      }
      std::string target = prefix_ + "/images/" + event.id + "/json";
      WMETA_ASSIGN_OR_RETURN(HttpResponse response, client.Get(target));
      if (response.status == 200) {
        relist = true;
        continue;
      }
      // podman names images by bare hex digest.
      std::string id = event.id.find(':') == std::string::npos
                           ? "sha256:" + event.id
                           : event.id;
      images_.erase(id);
      diff.Forget({Kind::kContainerImageMetadata, id});
      WMETA_ASSIGN_OR_RETURN(
          Event unset, collectors::UnsetEvent(
                           options_.source, Kind::kContainerImageMetadata, id));
      unsets.push_back(std::move(unset));
    }
    if (!unsets.empty()) WMETA_RETURN_IF_ERROR(sink.Emit(unsets));
    return relist ? ListImages(client, sink, diff) : Status();
  }

  // The container's set event, or nullopt when the daemon no longer has it.
  // podman answers a container removed a moment ago with 500 rather than
  // 404: the listing decides whether it is gone or the daemon is failing.
  Result<std::optional<Event>> InspectContainer(EngineClient& client,
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
    context.cgroup_path = [this](int pid) {
      return ReadCgroupPath(options_.proc_root, pid);
    };
    WMETA_ASSIGN_OR_RETURN(Event event, ParseContainer(response.body, context,
                                                       SystemClock().Now()));
    return event;
  }

  // The containers of `batch`, each once, in the order they first appear:
  // unset when its last event removed it, else inspected now.
  Status OnContainerEvents(EngineClient& client, Sink& sink,
                           const std::vector<EngineEvent>& batch) {
    std::vector<std::string> order;
    std::unordered_map<std::string, bool> removed;
    for (const EngineEvent& event : batch) {
      if (event.type != "container" || !IsPlainId(event.id)) continue;
      bool removes = RemovesContainer(event.action);
      if (!removes && !ChangesContainer(event.action)) continue;
      auto [it, inserted] = removed.emplace(event.id, removes);
      if (inserted) order.push_back(event.id);
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
          Event unset,
          collectors::UnsetEvent(options_.source, Kind::kContainer, id));
      events.push_back(std::move(unset));
    }
    return events.empty() ? Status() : sink.Emit(events);
  }

  DockerOptions options_;
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

std::unique_ptr<collectors::Collector> NewDockerCollector(
    DockerOptions options) {
  return std::make_unique<DockerCollector>(std::move(options));
}

}  // namespace wmeta::docker
