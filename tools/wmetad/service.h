// wmetad, the node service: opens the store, runs the configured collectors
// under a supervisor, serves the client protocol (unix socket, optionally TCP)
// and HTTP, keeps metrics, applies retention now and then, and shuts all of it
// down in order. Private to tools/wmetad/.
//
// Thread-safety: Start and the destructor from one thread; the accessors from
// any.

#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "wmeta/schema/error.h"
#include "wmeta/schema/wire.h"
#include "wmeta/store/store.h"

namespace wmeta::tools {

struct ServiceOptions {
  std::string data_dir;
  // sync, interval:<ms> or none.
  std::string durability = "sync";
  // Empty: <data_dir>/wmetad.sock.
  std::string socket_path;
  uint32_t socket_mode = 0660;
  // "HOST:PORT"; empty: no TCP listener.
  std::string tcp;
  // "HOST:PORT"; empty: no HTTP.
  std::string http = "127.0.0.1:7170";
  // Required by non-loopback TCP and HTTP listeners, checked on all TCP and
  // HTTP connections when set.
  std::string token;
  // A client that takes none of its replies for this long is disconnected.
  std::chrono::milliseconds client_send_timeout{60000};
  // Reading an HTTP request, and writing each part of a response.
  std::chrono::milliseconds http_io_timeout{30000};
  // The largest protocol frame accepted, in bytes.
  uint32_t max_frame = wire::kDefaultMaxFrame;
  // Names of the collectors to run: process, docker, podman.
  std::vector<std::string> collectors{"process"};
  std::string proc_root = "/proc";
  std::chrono::milliseconds process_interval{5000};
  std::string docker_socket = "/var/run/docker.sock";
  std::string podman_socket = "/run/podman/podman.sock";
  // Environment variables the runtime collectors keep on containers (a
  // trailing '*' matches a prefix); nullopt: the reference's tagging
  // variables. The rest, secrets among them, are never stored.
  std::optional<std::vector<std::string>> container_env;
  // When set, the runtime collectors (docker, podman) record their input here,
  // a file per collector per start (NAME-YYYYMMDDTHHMMSS.mmmZ.wrec), for `wmeta
  // replay`. Created when missing.
  std::string record_input;
  // SourcePriorities::Parse syntax; empty: the default order.
  std::string priorities;
  uint64_t checkpoint_every_records = 100'000;
  std::chrono::seconds checkpoint_every{300};
  // Applied every retention_every when any limit is set.
  store::RetentionPolicy retention;
  std::chrono::seconds retention_every{600};
};

// Reads a JSON configuration file into `options`: its keys are the long flag
// names of wmetad with '-' as '_' (data_dir, socket, tcp, http, token,
// collectors, proc_root, process_interval, docker_socket, podman_socket,
// container_env, record_input, durability, priorities,
// client_send_timeout, http_io_timeout, max_frame, checkpoint_every_records,
// checkpoint_every, retention_max_age, retention_max_records,
// retention_max_bytes, retention_every); spans as "5s", sizes as "512MiB".
// kInvalidArgument, naming the key, for anything else.
Status LoadConfig(const std::string& path, ServiceOptions& options);

class Service {
 public:
  // Errors: those of opening the store, kInvalidArgument for bad options or
  // an unknown collector, kIoError when a listener cannot bind.
  static Result<std::unique_ptr<Service>> Start(const ServiceOptions& options);

  // Stops the collectors, then the listeners (ending every connection and
  // subscription), then closes the store, which writes a checkpoint.
  virtual ~Service() = default;

  virtual std::string socket_path() const = 0;
  // With actual ports; "" when not listening.
  virtual std::string tcp_address() const = 0;
  virtual std::string http_address() const = 0;
  virtual const std::string& store_id() const = 0;
};

}  // namespace wmeta::tools
