#include "wmeta/docker/parse.h"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <limits>
#include <utility>

#include "wmeta/schema/utf8.h"

namespace wmeta::docker {
namespace {

namespace json = boost::json;
using StringOffset = flatbuffers::Offset<flatbuffers::String>;

// A container publishing a port range expands to one port per number; a
// hostile or mistaken body must not expand to millions of entries.
constexpr int kMaxPortsPerRange = 1024;
constexpr size_t kMaxPorts = 4096;

Result<json::value> ParseJson(std::string_view text, std::string_view what) {
  json::error_code ec;
  // Text is repaired where it is read (SanitizeUtf8): one bad byte in a label
  // must not hide the whole container.
  json::parse_options options;
  options.allow_invalid_utf8 = true;
  json::value value = json::parse(text, ec, {}, options);
  if (ec) {
    return MakeError(ErrorCode::kInvalidArgument,
                     std::string(what) + ": malformed JSON: " + ec.message());
  }
  return value;
}

Result<const json::object*> ParseObject(std::string_view text,
                                        std::string_view what,
                                        json::value& storage) {
  WMETA_ASSIGN_OR_RETURN(storage, ParseJson(text, what));
  const json::object* object = storage.if_object();
  if (object == nullptr) {
    return MakeError(ErrorCode::kInvalidArgument,
                     std::string(what) + ": not a JSON object");
  }
  return object;
}

const json::object* Object(const json::object* parent, std::string_view key) {
  if (parent == nullptr) return nullptr;
  const json::value* value = parent->if_contains(key);
  return value ? value->if_object() : nullptr;
}

const json::array* Array(const json::object* parent, std::string_view key) {
  if (parent == nullptr) return nullptr;
  const json::value* value = parent->if_contains(key);
  return value ? value->if_array() : nullptr;
}

// The string at `key`, repaired to UTF-8 (the daemon passes names, labels and
// env through from users); "" when absent or not a string.
std::string String(const json::object* parent, std::string_view key) {
  if (parent == nullptr) return {};
  const json::value* value = parent->if_contains(key);
  const json::string* s = value ? value->if_string() : nullptr;
  return s ? SanitizeUtf8(std::string_view(*s)) : std::string();
}

// The integer at `key` when it is one that fits T.
template <typename T>
std::optional<T> Number(const json::object* parent, std::string_view key) {
  if (parent == nullptr) return std::nullopt;
  const json::value* value = parent->if_contains(key);
  if (value == nullptr) return std::nullopt;
  if (const int64_t* i = value->if_int64()) {
    if (std::in_range<T>(*i)) return static_cast<T>(*i);
  } else if (const uint64_t* u = value->if_uint64()) {
    if (std::in_range<T>(*u)) return static_cast<T>(*u);
  }
  return std::nullopt;
}

std::optional<bool> Bool(const json::object* parent, std::string_view key) {
  if (parent == nullptr) return std::nullopt;
  const json::value* value = parent->if_contains(key);
  const bool* b = value ? value->if_bool() : nullptr;
  return b ? std::optional<bool>(*b) : std::nullopt;
}

std::vector<std::string> Strings(const json::array* array) {
  std::vector<std::string> out;
  if (array == nullptr) return out;
  for (const json::value& v : *array) {
    if (const json::string* s = v.if_string()) {
      out.push_back(SanitizeUtf8(std::string_view(*s)));
    }
  }
  return out;
}

// A time of the API, in nanoseconds; 0 for Go's zero time ("0001-01-01...",
// out of the range wmeta keeps) and anything that is not a time.
int64_t Time(const json::object* parent, std::string_view key) {
  if (parent == nullptr) return 0;
  const json::value* value = parent->if_contains(key);
  const json::string* s = value ? value->if_string() : nullptr;
  if (s == nullptr) return 0;
  Result<Timestamp> t = ParseTime(std::string_view(*s));
  return t ? ToUnixNanos(*t) : 0;
}

// A string-to-string object (labels) as sorted pairs, non-string values
// skipped.
std::map<std::string, std::string> StringMap(const json::object* object) {
  std::map<std::string, std::string> out;
  if (object == nullptr) return out;
  for (const auto& [key, value] : *object) {
    if (const json::string* s = value.if_string()) {
      out[SanitizeUtf8(std::string_view(key))] =
          SanitizeUtf8(std::string_view(*s));
    }
  }
  return out;
}

flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fb::StringPair>>>
StringPairs(flatbuffers::FlatBufferBuilder& fbb,
            const std::map<std::string, std::string>& map) {
  std::vector<flatbuffers::Offset<fb::StringPair>> pairs;
  pairs.reserve(map.size());
  for (const auto& [key, value] : map) {
    pairs.push_back(
        fb::CreateStringPairDirect(fbb, key.c_str(), value.c_str()));
  }
  return fbb.CreateVector(pairs);
}

// "1.41" as (1, 41); nullopt for anything else.
std::optional<std::pair<int, int>> ParseApiVersion(std::string_view text) {
  size_t dot = text.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  int major = 0, minor = 0;
  auto parse = [](std::string_view part, int& out) {
    auto [end, ec] =
        std::from_chars(part.data(), part.data() + part.size(), out);
    return ec == std::errc() && end == part.data() + part.size() &&
           !part.empty();
  };
  if (!parse(text.substr(0, dot), major) ||
      !parse(text.substr(dot + 1), minor)) {
    return std::nullopt;
  }
  return std::pair{major, minor};
}

std::optional<int> ParsePort(std::string_view text) {
  int port = 0;
  auto [end, ec] =
      std::from_chars(text.data(), text.data() + text.size(), port);
  if (ec != std::errc() || end != text.data() + text.size() || port < 0 ||
      port > 65535) {
    return std::nullopt;
  }
  return port;
}

struct Port {
  int port;
  std::string protocol;
  std::optional<int> host_port;
};

// The ports of NetworkSettings.Ports ({"80/tcp": [{"HostPort": "8080"}] or
// null}) or, when the container publishes none, Config.ExposedPorts
// ({"80/tcp": {}}); "8000-8002/tcp" expands to its ports, kMaxPorts at most.
// Sorted by port and protocol, one entry per pair (the first host port
// bound).
std::vector<Port> Ports(const json::object* bound,
                        const json::object* exposed) {
  const json::object* source = bound && !bound->empty() ? bound : exposed;
  std::vector<Port> out;
  if (source == nullptr) return out;
  for (const auto& [key, value] : *source) {
    std::string_view spec = key;
    std::string protocol = "tcp";
    if (size_t slash = spec.find('/'); slash != std::string_view::npos) {
      protocol = std::string(spec.substr(slash + 1));
      spec = spec.substr(0, slash);
    }
    // The protocols the engines know; anything else is not a port.
    if (protocol != "tcp" && protocol != "udp" && protocol != "sctp") continue;
    std::optional<int> first, last;
    if (size_t dash = spec.find('-'); dash != std::string_view::npos) {
      first = ParsePort(spec.substr(0, dash));
      last = ParsePort(spec.substr(dash + 1));
    } else {
      first = last = ParsePort(spec);
    }
    if (!first || !last || *last < *first ||
        *last - *first >= kMaxPortsPerRange) {
      continue;
    }
    // The first binding: "8080", or for a range "8000-8002", which maps one
    // to one.
    std::optional<int> host_first;
    if (const json::array* bindings = value.if_array()) {
      for (const json::value& binding : *bindings) {
        std::string host = String(binding.if_object(), "HostPort");
        host_first = ParsePort(host.substr(0, host.find('-')));
        if (host_first) break;
      }
    }
    for (int port = *first; port <= *last && out.size() < kMaxPorts; ++port) {
      std::optional<int> host_port;
      if (host_first && *host_first + (port - *first) <= 65535) {
        host_port = *host_first + (port - *first);
      }
      out.push_back({port, protocol, host_port});
    }
  }
  std::sort(out.begin(), out.end(), [](const Port& a, const Port& b) {
    return std::tie(a.port, a.protocol) < std::tie(b.port, b.protocol);
  });
  out.erase(std::unique(out.begin(), out.end(),
                        [](const Port& a, const Port& b) {
                          return a.port == b.port && a.protocol == b.protocol;
                        }),
            out.end());
  return out;
}

std::optional<fb::ContainerStatus> StatusOf(std::string_view status) {
  // podman says "configured" for a container created but never initialised.
  if (status == "created" || status == "configured") {
    return fb::ContainerStatus::created;
  }
  if (status == "running") return fb::ContainerStatus::running;
  if (status == "restarting") return fb::ContainerStatus::restarting;
  if (status == "paused") return fb::ContainerStatus::paused;
  // "removing" is a container on its way out: stopped until it is destroyed.
  if (status == "exited" || status == "dead" || status == "removing" ||
      status == "stopped") {
    return fb::ContainerStatus::stopped;
  }
  return std::nullopt;
}

std::optional<fb::ContainerHealth> HealthOf(std::string_view health) {
  if (health == "healthy") return fb::ContainerHealth::healthy;
  if (health == "unhealthy") return fb::ContainerHealth::unhealthy;
  if (health == "starting") return fb::ContainerHealth::starting;
  return std::nullopt;
}

// The repo digest among `digests` ("repo@sha256:...") of the repository
// `name`, else the first.
std::string RepoDigest(const std::vector<std::string>& digests,
                       std::string_view name) {
  for (const std::string& d : digests) {
    size_t at = d.find('@');
    if (at != std::string::npos && std::string_view(d).substr(0, at) == name) {
      return d.substr(at + 1);
    }
  }
  if (digests.empty()) return {};
  size_t at = digests.front().find('@');
  return at == std::string::npos ? std::string()
                                 : digests.front().substr(at + 1);
}

}  // namespace

Result<std::string> NegotiateApiVersion(std::string_view version_json) {
  json::value storage;
  WMETA_ASSIGN_OR_RETURN(const json::object* version,
                         ParseObject(version_json, "/version", storage));
  std::string server = String(version, "ApiVersion");
  std::string server_min = String(version, "MinAPIVersion");
  auto parsed = ParseApiVersion(server);
  if (!parsed) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "/version: no ApiVersion in the daemon's answer");
  }
  auto ours_min = *ParseApiVersion(kMinApiVersion);
  auto ours_max = *ParseApiVersion(kMaxApiVersion);
  if (*parsed < ours_min) {
    return MakeError(ErrorCode::kUnsupportedFormat,
                     "the daemon speaks API " + server + ", older than " +
                         std::string(kMinApiVersion) +
                         ", the oldest wmeta reads");
  }
  if (auto min = ParseApiVersion(server_min); min && *min > ours_max) {
    return MakeError(ErrorCode::kUnsupportedFormat,
                     "the daemon needs API " + server_min +
                         " or newer; wmeta speaks up to " +
                         std::string(kMaxApiVersion));
  }
  return *parsed < ours_max ? server : std::string(kMaxApiVersion);
}

bool IsEngineId(std::string_view id) {
  if (id.starts_with("sha256:")) id.remove_prefix(7);
  return id.size() >= 12 && id.size() <= 64 &&
         std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

Result<std::vector<std::string>> ParseIds(std::string_view list_json) {
  WMETA_ASSIGN_OR_RETURN(json::value value, ParseJson(list_json, "list"));
  const json::array* array = value.if_array();
  if (array == nullptr) {
    return MakeError(ErrorCode::kInvalidArgument, "list: not a JSON array");
  }
  std::vector<std::string> ids;
  for (const json::value& item : *array) {
    std::string id = String(item.if_object(), "Id");
    if (!IsEngineId(id)) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "list: an element without a valid Id");
    }
    ids.push_back(std::move(id));
  }
  return ids;
}

Result<EngineEvent> ParseEngineEvent(std::string_view line) {
  json::value storage;
  WMETA_ASSIGN_OR_RETURN(const json::object* object,
                         ParseObject(line, "event", storage));
  EngineEvent event;
  event.type = String(object, "Type");
  event.action = String(object, "Action");
  const json::object* actor = Object(object, "Actor");
  event.id = String(actor, "ID");
  event.attributes = StringMap(Object(actor, "Attributes"));
  if (event.type.empty() || event.action.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "event: no Type or Action");
  }
  return event;
}

ImageName SplitImageName(std::string_view reference) {
  ImageName out;
  if (reference.starts_with("sha256:")) return out;
  bool has_digest = false;
  if (size_t at = reference.find('@'); at != std::string_view::npos) {
    reference = reference.substr(0, at);
    has_digest = true;
  }
  size_t slash = reference.rfind('/');
  size_t colon = reference.rfind(':');
  if (colon != std::string_view::npos &&
      (slash == std::string_view::npos || colon > slash)) {
    out.tag = std::string(reference.substr(colon + 1));
    reference = reference.substr(0, colon);
  } else if (!has_digest) {
    out.tag = "latest";
  }
  out.name = std::string(reference);
  slash = reference.rfind('/');
  out.short_name = std::string(slash == std::string_view::npos
                                   ? reference
                                   : reference.substr(slash + 1));
  // The first component is a registry when it looks like a host: it has a
  // dot or a port, or is "localhost" ("team/app" is a Docker Hub path).
  if (size_t first = reference.find('/'); first != std::string_view::npos) {
    std::string_view head = reference.substr(0, first);
    if (head.find_first_of(".:") != std::string_view::npos ||
        head == "localhost") {
      out.registry = std::string(head);
    }
  }
  return out;
}

Result<Image> ParseImage(std::string_view inspect_json, std::string_view source,
                         Timestamp observed) {
  json::value storage;
  WMETA_ASSIGN_OR_RETURN(const json::object* image,
                         ParseObject(inspect_json, "image", storage));
  ImageRefs refs;
  refs.id = String(image, "Id");
  if (refs.id.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "image: no Id");
  }
  refs.repo_tags = Strings(Array(image, "RepoTags"));
  refs.repo_digests = Strings(Array(image, "RepoDigests"));
  const json::object* config = Object(image, "Config");
  std::map<std::string, std::string> labels =
      StringMap(Object(config, "Labels"));
  std::string name;
  if (!refs.repo_tags.empty()) {
    name = SplitImageName(refs.repo_tags.front()).name;
  } else if (!refs.repo_digests.empty()) {
    name = SplitImageName(refs.repo_digests.front()).name;
  }
  std::vector<std::string> layer_digests =
      Strings(Array(Object(image, "RootFS"), "Layers"));

  EventBuilder builder;
  auto& fbb = builder.fbb();
  auto id = fbb.CreateString(refs.id);
  auto name_offset = name.empty() ? StringOffset() : fbb.CreateString(name);
  auto labels_offset = labels.empty() ? 0 : StringPairs(fbb, labels);
  auto tags =
      refs.repo_tags.empty() ? 0 : fbb.CreateVectorOfStrings(refs.repo_tags);
  auto digests = refs.repo_digests.empty()
                     ? 0
                     : fbb.CreateVectorOfStrings(refs.repo_digests);
  auto optional_string = [&fbb](const std::string& s) {
    return s.empty() ? StringOffset() : fbb.CreateString(s);
  };
  StringOffset os = optional_string(String(image, "Os"));
  StringOffset os_version = optional_string(String(image, "OsVersion"));
  StringOffset architecture = optional_string(String(image, "Architecture"));
  StringOffset variant = optional_string(String(image, "Variant"));
  std::vector<flatbuffers::Offset<fb::ImageLayer>> layers;
  for (const std::string& digest : layer_digests) {
    auto d = fbb.CreateString(digest);
    fb::ImageLayerBuilder layer(fbb);
    layer.add_digest(d);
    layers.push_back(layer.Finish());
  }
  auto layers_offset = layers.empty() ? 0 : fbb.CreateVector(layers);
  fb::ContainerImageMetadataBuilder b(fbb);
  b.add_id(id);
  if (!name.empty()) b.add_name(name_offset);
  if (!labels.empty()) b.add_labels(labels_offset);
  if (!refs.repo_tags.empty()) b.add_repo_tags(tags);
  if (!refs.repo_digests.empty()) b.add_repo_digests(digests);
  if (auto size = Number<int64_t>(image, "Size")) b.add_size_bytes(*size);
  b.add_os(os);
  b.add_os_version(os_version);
  b.add_architecture(architecture);
  b.add_variant(variant);
  if (!layers.empty()) b.add_layers(layers_offset);
  WMETA_ASSIGN_OR_RETURN(Event event, builder.Finish(source, EventType::kSet,
                                                     b.Finish(), observed));
  return Image{std::move(event), std::move(refs)};
}

EnvFilter::EnvFilter(std::vector<std::string> allowed)
    : allowed_(std::move(allowed)) {}

EnvFilter EnvFilter::Default() {
  return EnvFilter({"DD_ENV", "DD_SERVICE", "DD_VERSION", "CHRONOS_JOB_NAME",
                    "CHRONOS_JOB_OWNER", "NOMAD_TASK_NAME", "NOMAD_JOB_NAME",
                    "NOMAD_GROUP_NAME", "NOMAD_NAMESPACE", "NOMAD_DC",
                    "MESOS_TASK_ID", "MARATHON_APP_ID"});
}

bool EnvFilter::Allows(std::string_view name) const {
  return std::any_of(allowed_.begin(), allowed_.end(),
                     [name](std::string_view allowed) {
                       if (allowed.ends_with('*')) {
                         allowed.remove_suffix(1);
                         return name.starts_with(allowed);
                       }
                       return name == allowed;
                     });
}

Result<Event> ParseContainer(std::string_view inspect_json,
                             const ContainerContext& context,
                             Timestamp observed) {
  json::value storage;
  WMETA_ASSIGN_OR_RETURN(const json::object* container,
                         ParseObject(inspect_json, "container", storage));
  std::string id = String(container, "Id");
  if (id.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "container: no Id");
  }
  const json::object* config = Object(container, "Config");
  const json::object* state = Object(container, "State");
  const json::object* host_config = Object(container, "HostConfig");
  const json::object* network = Object(container, "NetworkSettings");

  std::string name = String(container, "Name");
  if (name.starts_with('/')) name.erase(0, 1);
  std::map<std::string, std::string> labels =
      StringMap(Object(config, "Labels"));
  std::map<std::string, std::string> env;
  if (context.env != nullptr) {
    for (const std::string& var : Strings(Array(config, "Env"))) {
      size_t eq = var.find('=');
      std::string key = var.substr(0, eq);
      if (context.env->Allows(key)) {
        env[key] = eq == std::string::npos ? std::string() : var.substr(eq + 1);
      }
    }
  }
  std::map<std::string, std::string> ips;
  if (const json::object* networks = Object(network, "Networks")) {
    for (const auto& [net, settings] : *networks) {
      std::string ip = String(settings.if_object(), "IPAddress");
      if (!ip.empty()) ips[SanitizeUtf8(std::string_view(net))] = ip;
    }
  }
  std::vector<Port> ports =
      Ports(Object(network, "Ports"), Object(config, "ExposedPorts"));

  // The image: by the reference the container was created with, resolved
  // through the image's tags when that was an id.
  std::string image_id = String(container, "Image");
  std::string reference = String(config, "Image");
  const ImageRefs* image = context.image ? context.image(image_id) : nullptr;
  // `docker run 4905025eca00` names the image by (a prefix of) its id.
  bool by_id =
      reference.empty() || reference.starts_with("sha256:") ||
      (IsEngineId(reference) && image_id.starts_with("sha256:" + reference));
  if (by_id && image && !image->repo_tags.empty()) {
    reference = image->repo_tags.front();
  }
  ImageName image_name = SplitImageName(reference);
  std::string repo_digest =
      image ? RepoDigest(image->repo_digests, image_name.name) : std::string();
  if (repo_digest.empty()) {
    // A reference pinned by digest names it itself.
    if (size_t at = reference.find('@'); at != std::string::npos) {
      repo_digest = reference.substr(at + 1);
    }
  }

  std::optional<fb::ContainerStatus> status = StatusOf(String(state, "Status"));
  std::optional<fb::ContainerHealth> health =
      HealthOf(String(Object(state, "Health"), "Status"));
  std::optional<bool> running = Bool(state, "Running");
  std::optional<bool> oom_killed = Bool(state, "OOMKilled");
  int64_t created_at = Time(container, "Created");
  int64_t started_at = Time(state, "StartedAt");
  int64_t finished_at = Time(state, "FinishedAt");
  std::optional<int64_t> exit_code = Number<int64_t>(state, "ExitCode");
  // 0 when it does not run.
  int32_t pid = Number<int32_t>(state, "Pid").value_or(0);
  std::optional<int32_t> restart_count =
      Number<int32_t>(container, "RestartCount");
  std::optional<std::string> cgroup;
  if (pid > 0 && context.cgroup_path) cgroup = context.cgroup_path(pid);

  // CPU as percent of one core: NanoCpus (--cpus), else a CFS quota over its
  // period; memory in bytes. 0 means no limit in the API.
  std::optional<double> cpu_limit;
  if (auto nano = Number<int64_t>(host_config, "NanoCpus"); nano && *nano > 0) {
    cpu_limit = static_cast<double>(*nano) / 1e7;
  } else if (auto quota = Number<int64_t>(host_config, "CpuQuota"),
             period = Number<int64_t>(host_config, "CpuPeriod");
             quota && *quota > 0) {
    int64_t p = period && *period > 0 ? *period : 100000;
    cpu_limit = static_cast<double>(*quota) * 100.0 / static_cast<double>(p);
  }
  uint64_t memory_limit = Number<uint64_t>(host_config, "Memory").value_or(0);

  EventBuilder builder;
  auto& fbb = builder.fbb();
  auto optional_string = [&fbb](const std::string& s) {
    return s.empty() ? StringOffset() : fbb.CreateString(s);
  };
  auto id_offset = fbb.CreateString(id);
  StringOffset name_offset = optional_string(name);
  auto labels_offset = labels.empty() ? 0 : StringPairs(fbb, labels);
  auto env_offset = env.empty() ? 0 : StringPairs(fbb, env);
  StringOffset hostname = optional_string(String(config, "Hostname"));
  auto ips_offset = ips.empty() ? 0 : StringPairs(fbb, ips);
  std::vector<flatbuffers::Offset<fb::ContainerPort>> port_offsets;
  for (const Port& p : ports) {
    auto protocol = fbb.CreateString(p.protocol);
    fb::ContainerPortBuilder pb(fbb);
    pb.add_port(static_cast<uint16_t>(p.port));
    pb.add_protocol(protocol);
    if (p.host_port) pb.add_host_port(static_cast<uint16_t>(*p.host_port));
    port_offsets.push_back(pb.Finish());
  }
  auto ports_offset = port_offsets.empty() ? 0 : fbb.CreateVector(port_offsets);
  auto runtime = fbb.CreateString(context.runtime);
  StringOffset cgroup_offset =
      cgroup ? fbb.CreateString(*cgroup) : StringOffset();
  flatbuffers::Offset<fb::ContainerImage> image_offset;
  if (!reference.empty() || !image_id.empty()) {
    image_offset = fb::CreateContainerImage(
        fbb, optional_string(image_id), optional_string(reference),
        optional_string(image_name.name), optional_string(image_name.registry),
        optional_string(image_name.short_name), optional_string(image_name.tag),
        optional_string(repo_digest));
  }
  fb::ContainerStateBuilder sb(fbb);
  if (running) sb.add_running(*running);
  if (status) sb.add_status(*status);
  if (health) sb.add_health(*health);
  sb.add_created_at(created_at);
  sb.add_started_at(started_at);
  sb.add_finished_at(finished_at);
  // The exit code is that of the last run, once it ended: a container that
  // never finished, or runs again, has none, whatever the 0 says. One that
  // restarts (Running, no pid) keeps it: why it restarts is the question.
  if (exit_code && finished_at != 0 &&
      (running == false || status == fb::ContainerStatus::restarting)) {
    sb.add_exit_code(*exit_code);
  }
  if (oom_killed) sb.add_oom_killed(*oom_killed);
  auto state_offset = sb.Finish();
  flatbuffers::Offset<fb::ContainerResources> resources;
  if (cpu_limit || memory_limit > 0) {
    fb::ContainerResourcesBuilder rb(fbb);
    if (cpu_limit) rb.add_cpu_limit(*cpu_limit);
    if (memory_limit > 0) rb.add_memory_limit(memory_limit);
    resources = rb.Finish();
  }

  fb::ContainerBuilder b(fbb);
  b.add_id(id_offset);
  b.add_name(name_offset);
  if (!labels.empty()) b.add_labels(labels_offset);
  if (!env.empty()) b.add_env_vars(env_offset);
  b.add_hostname(hostname);
  b.add_image(image_offset);
  if (!ips.empty()) b.add_network_ips(ips_offset);
  if (pid > 0) b.add_pid(pid);
  if (!port_offsets.empty()) b.add_ports(ports_offset);
  b.add_runtime(runtime);
  b.add_state(state_offset);
  b.add_resources(resources);
  b.add_cgroup_path(cgroup_offset);
  if (restart_count) b.add_restart_count(*restart_count);
  return builder.Finish(context.source, EventType::kSet, b.Finish(), observed);
}

std::optional<std::string> CgroupPathFromProc(std::string_view cgroup) {
  std::optional<std::string> memory;
  while (!cgroup.empty()) {
    size_t eol = cgroup.find('\n');
    std::string_view line = cgroup.substr(0, eol);
    cgroup = eol == std::string_view::npos ? std::string_view()
                                           : cgroup.substr(eol + 1);
    // "hierarchy-id:controllers:path"
    size_t first = line.find(':');
    size_t second = first == std::string_view::npos ? std::string_view::npos
                                                    : line.find(':', first + 1);
    if (second == std::string_view::npos) continue;
    std::string_view controllers = line.substr(first + 1, second - first - 1);
    std::string_view path = line.substr(second + 1);
    if (path.empty() || path == "/") continue;
    if (line.substr(0, first) == "0" && controllers.empty()) {
      return SanitizeUtf8(path);
    }
    for (size_t pos = 0; pos <= controllers.size();) {
      size_t comma = controllers.find(',', pos);
      if (comma == std::string_view::npos) comma = controllers.size();
      if (controllers.substr(pos, comma - pos) == "memory") {
        memory = SanitizeUtf8(path);
      }
      pos = comma + 1;
    }
  }
  return memory;
}

}  // namespace wmeta::docker
