// wmetad: the node service. Argument parsing, logging and signals only; the
// service lives in service.cc.

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <exception>

#include "service.h"
#include "wmeta/log/log.h"
#include "wmeta/schema/time.h"
#include "wmeta/tools/api/args.h"

namespace {

int Run(int argc, char** argv) {
  using wmeta::tools::ServiceOptions;
  CLI::App app{
      "wmetad: the node-local workload metadata service. Collects, appends "
      "every event to a durable log, serves the merged view and its history."};
  ServiceOptions options;
  options.data_dir = wmeta::tools::DefaultDataDir();
  std::string config;
  std::string level = "info";
  std::string process_interval;
  app.add_option("--config", config,
                 "A JSON file of options (keys: the long flag names with _); "
                 "flags override it");
  auto* data_dir =
      app.add_option("--data-dir", options.data_dir, "The store's data dir")
          ->capture_default_str();
  auto* socket = app.add_option("--socket", options.socket_path,
                                "Unix socket (default: DATA_DIR/wmetad.sock)");
  auto* tcp = app.add_option(
      "--tcp", options.tcp,
      "Also serve the protocol on HOST:PORT (a token is required off "
      "loopback)");
  auto* http = app.add_option("--http", options.http,
                              "HTTP API on HOST:PORT; \"\" for none")
                   ->capture_default_str();
  auto* token = app.add_option("--token", options.token,
                               "Required by TCP and HTTP clients when set")
                    ->envname("WMETA_TOKEN");
  auto* collectors =
      app.add_option(
             "--collectors", options.collectors,
             "Collectors to run, comma-separated (known: process, docker, "
             "podman); \"\" for none")
          ->delimiter(',')
          ->capture_default_str();
  auto* proc_root = app.add_option("--proc-root", options.proc_root,
                                   "The /proc the process collector reads")
                        ->capture_default_str();
  auto* docker_socket =
      app.add_option("--docker-socket", options.docker_socket,
                     "The Docker Engine socket the docker collector reads")
          ->capture_default_str();
  auto* podman_socket =
      app.add_option("--podman-socket", options.podman_socket,
                     "podman's Docker-compatible socket (podman collector)")
          ->capture_default_str();
  std::vector<std::string> container_env;
  auto* env =
      app.add_option("--container-env", container_env,
                     "Container environment variables to keep, "
                     "comma-separated, NAME or PREFIX* (default: DD_ENV, "
                     "DD_SERVICE, DD_VERSION and orchestrator job names); "
                     "\"\" for none")
          ->delimiter(',');
  auto* record_input = app.add_option(
      "--record-input", options.record_input,
      "Record what the docker and podman collectors receive to files in this "
      "directory, for `wmeta replay`");
  auto* interval = app.add_option("--process-interval", process_interval,
                                  "How often the process collector lists "
                                  "/proc (default 5s)");
  auto* durability = app.add_option("--durability", options.durability,
                                    "sync, interval:<ms> or none")
                         ->capture_default_str();
  auto* priorities = app.add_option(
      "--priorities", options.priorities,
      "Source priorities: KIND=SOURCE,SOURCE[;KIND=...] (highest first)");
  app.add_option("--log-level", level, "trace, debug, info, warn or error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  // Logs go to stderr, like every daemon's; stdout stays free.
  spdlog::set_default_logger(spdlog::stderr_color_mt("wmetad"));
  spdlog::set_level(spdlog::level::from_str(level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %^%l%$ %v",
                      spdlog::pattern_time_type::utc);

  if (!config.empty()) {
    // The file first, then what the command line says on top of it.
    ServiceOptions flags = options;
    options = ServiceOptions{};
    options.data_dir = flags.data_dir;
    if (auto loaded = wmeta::tools::LoadConfig(config, options); !loaded) {
      spdlog::error("{}", loaded.error().ToString());
      return 2;
    }
    auto given = [](CLI::Option* option) { return option->count() > 0; };
    if (given(data_dir)) options.data_dir = flags.data_dir;
    if (given(socket)) options.socket_path = flags.socket_path;
    if (given(tcp)) options.tcp = flags.tcp;
    if (given(http)) options.http = flags.http;
    if (given(token) || !flags.token.empty()) options.token = flags.token;
    if (given(collectors)) options.collectors = flags.collectors;
    if (given(proc_root)) options.proc_root = flags.proc_root;
    if (given(docker_socket)) options.docker_socket = flags.docker_socket;
    if (given(podman_socket)) options.podman_socket = flags.podman_socket;
    if (given(record_input)) options.record_input = flags.record_input;
    if (given(durability)) options.durability = flags.durability;
    if (given(priorities)) options.priorities = flags.priorities;
  }
  if (interval->count() > 0) {
    auto span = wmeta::ParseDuration(process_interval);
    if (!span) {
      spdlog::error("--process-interval: {}", span.error().message);
      return 2;
    }
    options.process_interval =
        std::chrono::duration_cast<std::chrono::milliseconds>(*span);
  }
  std::erase(options.collectors, "");
  if (env->count() > 0) {
    std::erase(container_env, "");
    options.container_env = std::move(container_env);
  }

  // Every thread inherits the mask, so only sigwait below sees the signals.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  auto service = wmeta::tools::Service::Start(options);
  if (!service) {
    spdlog::error("cannot start: {}", service.error().ToString());
    return 1;
  }
  int received = 0;
  sigwait(&signals, &received);
  spdlog::info("{}: stopping", received == SIGTERM ? "SIGTERM" : "SIGINT");
  service->reset();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wmetad: internal error: %s\n", e.what());
    return 1;
  }
}
