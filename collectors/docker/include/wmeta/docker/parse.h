// The Docker Engine API, as JSON in and events out: pure functions from the
// bodies of /version, /containers/json, /containers/{id}/json,
// /images/{id}/json and /events lines to values and `container` /
// `container_image_metadata` events. podman's Docker-compatible API answers in
// the same shapes. No I/O: the collector fetches, these map; every input is
// untrusted (a truncated body, a hostile daemon) and gets a kInvalidArgument
// naming what is wrong, never a crash.
//
// Thread-safety: pure functions; safe from any thread.

#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wmeta/schema/error.h"
#include "wmeta/schema/event.h"
#include "wmeta/schema/time.h"

namespace wmeta::docker {

// The API versions this client speaks: what /containers/{id}/json and
// /events carry since 1.24 (podman's minimum), up to the newest it knows.
inline constexpr std::string_view kMinApiVersion = "1.24";
inline constexpr std::string_view kMaxApiVersion = "1.45";

// The version to use with a daemon whose /version body is `version_json`:
// its ApiVersion, capped at kMaxApiVersion (what the Docker client does).
// kUnsupportedFormat when the daemon's version is below kMinApiVersion or
// its minimum above kMaxApiVersion.
Result<std::string> NegotiateApiVersion(std::string_view version_json);

// Whether `id` has the shape of an engine's container or image id: a hex
// digest of 12 to 64 digits, optionally "sha256:"-prefixed. Only such ids go
// into request paths.
bool IsEngineId(std::string_view id);

// The "Id" of each object of a /containers/json or /images/json body;
// kInvalidArgument when one is missing or not an engine id.
Result<std::vector<std::string>> ParseIds(std::string_view list_json);

// One line of the /events stream.
struct EngineEvent {
  // "container", "image", "network", ...
  std::string type;
  // "create", "start", "health_status: healthy", ...
  std::string action;
  // The container id, or the image id or name.
  std::string id;
  std::map<std::string, std::string> attributes;
};
Result<EngineEvent> ParseEngineEvent(std::string_view line);

// An image reference split up:
// "registry.example.com:5000/team/app:1.2@sha256:..." is registry
// "registry.example.com:5000", name "registry.example.com:5000/team/app",
// short_name "app", tag "1.2". The tag defaults to "latest" when the reference
// has neither tag nor digest (what `docker pull` means by it); an image id
// ("sha256:...") has no name parts.
struct ImageName {
  std::string registry;
  std::string name;
  std::string short_name;
  std::string tag;
};
ImageName SplitImageName(std::string_view reference);

// What the container mapping needs to know about an image.
struct ImageRefs {
  std::string id;
  std::vector<std::string> repo_tags;
  std::vector<std::string> repo_digests;
};

// An image as a `container_image_metadata` set event (id, name, repo tags and
// digests, labels, size, OS, architecture, variant, OS version, layers), plus
// its refs.
struct Image {
  Event event;
  ImageRefs refs;
};
Result<Image> ParseImage(std::string_view inspect_json, std::string_view source,
                         Timestamp observed);

// Environment variable names kept on containers; the rest (secrets among
// them) are never stored. An entry ending in '*' keeps every name that starts
// with what precedes it.
class EnvFilter {
 public:
  explicit EnvFilter(std::vector<std::string> allowed);
  // The reference's tagging variables: DD_ENV, DD_SERVICE, DD_VERSION and the
  // orchestrators' job and task names (Nomad, Marathon, Mesos, Chronos).
  static EnvFilter Default();
  bool Allows(std::string_view name) const;
  const std::vector<std::string>& allowed() const { return allowed_; }

 private:
  std::vector<std::string> allowed_;
};

struct ContainerContext {
  // The event's source, and the container's `runtime` field.
  std::string_view source = "runtime";
  std::string_view runtime = "docker";
  const EnvFilter* env = nullptr;
  // The image of a given id, when known: resolves a container created from an
  // image id to a name, and gives the repo digest.
  std::function<const ImageRefs*(std::string_view image_id)> image;
  // The cgroup of a running container's process, when it can be read.
  std::function<std::optional<std::string>(int pid)> cgroup_path;
};

// A /containers/{id}/json body as a `container` set event. Stopped containers
// are sets too (status stopped, with their exit code and finish time): a
// container leaves only when it is removed.
Result<Event> ParseContainer(std::string_view inspect_json,
                             const ContainerContext& context,
                             Timestamp observed);

// The cgroup path of a process from its /proc/PID/cgroup text: the cgroup v2
// path ("0::/..."), or on a v1 or hybrid host the memory controller's, which
// is where a container's limits live. nullopt when neither is there or the
// process is in the root cgroup.
std::optional<std::string> CgroupPathFromProc(std::string_view cgroup);

}  // namespace wmeta::docker
