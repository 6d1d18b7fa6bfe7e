#include <algorithm>
#include <array>

#include "wmeta/collectors/process.h"

namespace wmeta::collectors {
namespace {

constexpr size_t kIdLength = 64;

bool IsContainerId(std::string_view s) {
  return s.size() == kIdLength && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// The id a cgroup path component names, if any. Either the whole component is
// the id (docker and containerd with the cgroupfs driver, kubepods, GitHub
// actions jobs), or the runtime's prefix precedes it and systemd's ".scope"
// may follow (the systemd driver; podman's cgroupfs manager has no ".scope").
// Nothing looser: "crio-conmon-<id>.scope" is the monitor, not the container.
std::optional<std::string_view> IdOfComponent(std::string_view component) {
  if (IsContainerId(component)) return component;
  static constexpr std::array<std::string_view, 4> kPrefixes = {
      "docker-", "cri-containerd-", "crio-", "libpod-"};
  if (component.ends_with(".scope")) {
    component.remove_suffix(std::string_view(".scope").size());
  }
  for (std::string_view prefix : kPrefixes) {
    if (component.starts_with(prefix) &&
        IsContainerId(component.substr(prefix.size()))) {
      return component.substr(prefix.size());
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> ContainerIdFromCgroup(std::string_view cgroup) {
  while (!cgroup.empty()) {
    size_t eol = cgroup.find('\n');
    std::string_view line = cgroup.substr(0, eol);
    cgroup.remove_prefix(eol == std::string_view::npos ? cgroup.size()
                                                       : eol + 1);
    // "hierarchy-id:controllers:path"; the path may itself hold ':'.
    size_t first = line.find(':');
    size_t second =
        first == std::string_view::npos ? first : line.find(':', first + 1);
    if (second == std::string_view::npos) continue;
    std::string_view path = line.substr(second + 1);
    // The innermost component naming a container wins: a process in a
    // sub-cgroup of its container (podman's ".../libpod-<id>.scope/container",
    // systemd inside a container) still belongs to it.
    while (!path.empty()) {
      size_t slash = path.rfind('/');
      std::string_view component =
          slash == std::string_view::npos ? path : path.substr(slash + 1);
      if (auto id = IdOfComponent(component)) return std::string(*id);
      path = path.substr(0, slash == std::string_view::npos ? 0 : slash);
    }
  }
  return std::nullopt;
}

}  // namespace wmeta::collectors
