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
#include "wmeta/collectors/recording.h"
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
  // When set, everything the collector receives (responses, stream lines,
  // cgroup files, the time) is also written to this file, created or
  // replaced when the collector first runs: an input recording
  // (wmeta/collectors/recording.h) that NewDockerReplay runs again.
  std::string record_path;
};

// The options for podman's Docker-compatible service: collector "podman",
// runtime "podman", source "runtime:podman", socket /run/podman/podman.sock.
DockerOptions PodmanOptions();

std::unique_ptr<collectors::Collector> NewDockerCollector(
    DockerOptions options);

// The collector run from an input recording instead of an engine, with the
// options it was recorded with: the same code fed what the live one
// received, so that its events are the same, in the same order, at the same
// times (when the store it emits to holds what the live one's held from its
// source at the start). kInvalidArgument for a recording of another
// collector, kCorruption for options it cannot read.
Result<std::unique_ptr<collectors::ReplayCollector>> NewDockerReplay(
    std::unique_ptr<collectors::InputReplay> replay);

}  // namespace wmeta::docker
