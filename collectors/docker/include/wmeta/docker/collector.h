// The container runtime collector for engines that speak the Docker Engine
// API over a unix socket: Docker itself, and podman's Docker-compatible
// service. It negotiates the API version, subscribes to /events first, then
// lists and inspects every image and container (so that nothing that happens
// while it lists is missed), reconciles that listing with what the store
// holds from its source, and then follows the stream: a container event
// re-inspects that container, an image event re-lists the images. A quiet
// stream lists everything again every `resync`. A broken stream (the daemon
// restarted, the socket went away) ends the session; it is reported as a
// failed pull (the collector shows unhealthy) and a new one, which lists and
// reconciles again, starts after `reconnect`. Every request has a deadline,
// so a hung daemon shows as an unhealthy collector, never as a hung service.
//
// Thread-safety: a Collector (one Run at a time).

#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "wmeta/collectors/collector.h"
#include "wmeta/docker/parse.h"

namespace wmeta::docker {

struct DockerOptions {
  // Names the collector in health, metrics and logs.
  std::string name = "docker";
  // The containers' `runtime` field.
  std::string runtime = "docker";
  // The events' source. Two collectors must not share one: each reconciles
  // what its source holds with its own listing.
  std::string source = "runtime";
  std::string socket = "/var/run/docker.sock";
  // Where the cgroup of a container's process is read (PID/cgroup).
  std::string proc_root = "/proc";
  EnvFilter env = EnvFilter::Default();
  // Bounds each request, connect to last byte.
  std::chrono::milliseconds timeout{10000};
  // Between the end of a session and the next attempt, doubling to 30 s
  // while sessions fail before they listed.
  std::chrono::milliseconds reconnect{1000};
  // A session lists everything again after this long without an event: it
  // heals what an engine's dropped events left stale, and finds a daemon
  // that hung.
  std::chrono::milliseconds resync{300000};
};

// The options for podman's Docker-compatible service: collector "podman",
// runtime "podman", source "runtime:podman", socket /run/podman/podman.sock.
DockerOptions PodmanOptions();

std::unique_ptr<collectors::Collector> NewDockerCollector(
    DockerOptions options);

}  // namespace wmeta::docker
