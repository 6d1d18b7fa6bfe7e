#include "service.h"

#include <fmt/chrono.h>
#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "metrics.h"
#include "wmeta/collectors/process.h"
#include "wmeta/collectors/supervisor.h"
#include "wmeta/docker/collector.h"
#include "wmeta/tools/api/args.h"
#include "wmeta/tools/api/envelopes.h"
#include "wmeta/tools/protocol/handler.h"
#include "wmeta/tools/server/http.h"
#include "wmeta/tools/server/server.h"

namespace wmeta::tools {
namespace {

namespace bj = boost::json;

// Where collectors' events go: the store, counted.
// The metrics follower: every record from now on, as appended.
store::SubscribeOptions FollowerOptions() {
  return {.from = store::SubscribeOptions::From::kLatest,
          .raw = true,
          .max_bundle = 4096};
}

class StoreSink final : public collectors::Sink {
 public:
  StoreSink(store::Store& store, Metrics& metrics)
      : store_(store), metrics_(metrics) {}

  Status Emit(std::span<const Event> events) override {
    auto start = std::chrono::steady_clock::now();
    auto result = store_.Apply(events);
    metrics_.Observe("wmeta_append_seconds",
                     std::chrono::steady_clock::now() - start);
    if (!result) return std::unexpected(result.error());
    metrics_.Add("wmeta_noop_events_total", {}, result->noops);
    return {};
  }

  Result<std::vector<std::string>> Known(Kind kind,
                                         std::string_view source) override {
    std::vector<std::string> ids;
    store_.Read([&](const store::View& view) {
      for (const store::EntityPtr& entity : view.List({.kind = kind})) {
        for (const auto& layer : entity->layers) {
          if (layer->view().source() == source) {
            ids.push_back(entity->id.id);
            break;
          }
        }
      }
    });
    return ids;
  }

 private:
  store::Store& store_;
  Metrics& metrics_;
};

Result<std::unique_ptr<collectors::Collector>> MakeCollector(
    const std::string& name, const ServiceOptions& options) {
  if (name == "process") {
    return collectors::NewProcessCollector(
        {options.proc_root, options.process_interval});
  }
  if (name == "docker" || name == "podman") {
    docker::DockerOptions runtime =
        name == "docker" ? docker::DockerOptions{} : docker::PodmanOptions();
    runtime.socket =
        name == "docker" ? options.docker_socket : options.podman_socket;
    runtime.proc_root = options.proc_root;
    if (options.container_env) {
      runtime.env = docker::EnvFilter(*options.container_env);
    }
    if (!options.record_input.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(options.record_input, ec);
      if (ec) {
        return MakeError(ErrorCode::kIoError,
                         options.record_input + ": " + ec.message());
      }
      // The time to the millisecond: a restart never replaces the last one.
      auto now = std::chrono::floor<std::chrono::milliseconds>(
          std::chrono::system_clock::now());
      auto seconds = std::chrono::floor<std::chrono::seconds>(now);
      runtime.record_path = fmt::format("{}/{}-{:%Y%m%dT%H%M%S}.{:03}Z.wrec",
                                        options.record_input, name, seconds,
                                        (now - seconds).count());
      spdlog::info("collector {}: recording its input to {}", name,
                   runtime.record_path);
    }
    return docker::NewDockerCollector(std::move(runtime));
  }
  return MakeError(
      ErrorCode::kInvalidArgument,
      "unknown collector '" + name + "' (known: process, docker, podman)");
}

class ServiceImpl final : public Service, public ServiceState {
 public:
  explicit ServiceImpl(ServiceOptions options) : options_(std::move(options)) {}
  ~ServiceImpl() override;

  Status Init();

  std::string socket_path() const override { return socket_path_; }
  std::string tcp_address() const override {
    return server_ != nullptr ? server_->tcp_address() : "";
  }
  std::string http_address() const override {
    return http_ != nullptr ? http_->address() : "";
  }
  const std::string& store_id() const override {
    return store_->log().store_id();
  }

  uint64_t subscribers() const override { return subscribers_.size(); }
  std::vector<CollectorStatus> collectors() const override;

 private:
  void DeclareMetrics();
  std::string RenderMetrics();
  std::pair<bool, std::string> Health() const;
  // Counts every record appended, by kind, source and type, from a raw
  // subscription: whoever appended it.
  void FollowLoop();
  void RetentionLoop();
  // Waits up to `timeout` for the service to stop; true when it is stopping.
  bool WaitStop(std::chrono::steady_clock::duration timeout);

  const ServiceOptions options_;
  std::string socket_path_;
  Metrics metrics_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<StoreSink> sink_;
  std::unique_ptr<collectors::Supervisor> supervisor_;
  std::unique_ptr<Backend> backend_;
  SubscriberRegistry subscribers_;
  std::unique_ptr<Handler> handler_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<store::Subscription> follower_;

  std::mutex render_mu_;
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread follow_thread_;
  std::thread retention_thread_;
};

ServiceImpl::~ServiceImpl() {
  // Collectors first: nothing new is written while the rest stops. The
  // supervisor itself stays until no client can ask for its health.
  if (supervisor_ != nullptr) supervisor_->Stop();
  {
    std::lock_guard lock(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (retention_thread_.joinable()) retention_thread_.join();
  // Then every client: their subscriptions end before the store closes.
  http_.reset();
  server_.reset();
  if (follow_thread_.joinable()) follow_thread_.join();
  follower_.reset();
  supervisor_.reset();
  handler_.reset();
  backend_.reset();
  // Closing the store writes a checkpoint.
  store_.reset();
  spdlog::info("wmetad stopped");
}

Status ServiceImpl::Init() {
  socket_path_ = options_.socket_path.empty()
                     ? options_.data_dir + "/wmetad.sock"
                     : options_.socket_path;
  store::Options store_options;
  WMETA_ASSIGN_OR_RETURN(store_options.log.durability,
                         log::Durability::Parse(options_.durability));
  if (!options_.priorities.empty()) {
    WMETA_RETURN_IF_ERROR(store_options.priorities.Parse(options_.priorities));
  }
  store_options.checkpoint_every_records = options_.checkpoint_every_records;
  store_options.checkpoint_every = options_.checkpoint_every;
  // The log's diagnostics and RocksDB's join wmetad's own log: RocksDB's
  // chatter (flushes, compactions) at debug, its warnings and errors as such.
  store_options.log.info_log.level = spdlog::should_log(spdlog::level::debug)
                                         ? log::InfoLog::Level::kInfo
                                         : log::InfoLog::Level::kWarn;
  store_options.log.info_log.sink = [](log::InfoLog::Level level,
                                       std::string_view message) {
    switch (level) {
      case log::InfoLog::Level::kDebug:
      case log::InfoLog::Level::kInfo:
        spdlog::debug("storage: {}", message);
        break;
      case log::InfoLog::Level::kWarn:
        spdlog::warn("storage: {}", message);
        break;
      case log::InfoLog::Level::kError:
        spdlog::error("storage: {}", message);
        break;
    }
  };
  std::vector<std::unique_ptr<collectors::Collector>> collectors;
  for (const std::string& name : options_.collectors) {
    WMETA_ASSIGN_OR_RETURN(auto collector, MakeCollector(name, options_));
    collectors.push_back(std::move(collector));
  }

  auto opened_at = std::chrono::steady_clock::now();
  WMETA_ASSIGN_OR_RETURN(store_,
                         store::Store::Open(options_.data_dir, store_options));
  spdlog::info("opened {} (store {}): {} records, view at offset {} in {} ms",
               options_.data_dir, store_->log().store_id(),
               store_->log().last_offset() + 1 - store_->log().first_offset(),
               store_->applied_offset(),
               std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - opened_at)
                   .count());
  if (auto stats = store_->log().GetStats();
      stats && !stats->recovered.empty()) {
    spdlog::warn("this store lost records once and was recovered: {}",
                 stats->recovered);
  }
  DeclareMetrics();

  WMETA_ASSIGN_OR_RETURN(follower_, store_->Subscribe(FollowerOptions()));
  backend_ = NewLocalBackend(*store_, options_.data_dir,
                             store_options.log.durability.ToString(), this);
  HandlerHooks hooks;
  hooks.pushed = [this](const Result<store::ApplyResult>& result,
                        std::chrono::steady_clock::duration took) {
    metrics_.Observe("wmeta_append_seconds", took);
    if (result) metrics_.Add("wmeta_noop_events_total", {}, result->noops);
  };
  handler_ = std::make_unique<Handler>(*backend_, subscribers_, hooks);

  // Collectors before the listeners, whose threads read their health: the
  // store and the metrics follower they feed are ready.
  sink_ = std::make_unique<StoreSink>(*store_, metrics_);
  collectors::SupervisorOptions supervision;
  supervision.on_health_change = [](const collectors::CollectorHealth& h) {
    if (h.healthy()) {
      spdlog::info("collector {}: healthy again", h.name);
    } else {
      spdlog::warn("collector {}: unhealthy: {}", h.name,
                   h.last_error ? h.last_error->ToString() : "stopped");
    }
  };
  WMETA_ASSIGN_OR_RETURN(
      supervisor_, collectors::Supervisor::Start(std::move(collectors), *sink_,
                                                 std::move(supervision)));

  ServerOptions server_options;
  server_options.socket_path = socket_path_;
  server_options.socket_mode = options_.socket_mode;
  server_options.tcp = options_.tcp;
  server_options.token = options_.token;
  server_options.max_frame = options_.max_frame;
  server_options.send_timeout = options_.client_send_timeout;
  WMETA_ASSIGN_OR_RETURN(server_, Server::Start(server_options, *handler_,
                                                store_->log().store_id()));
  if (!options_.http.empty()) {
    HttpOptions http_options{options_.http, options_.token};
    http_options.io_timeout = options_.http_io_timeout;
    WMETA_ASSIGN_OR_RETURN(
        http_, HttpServer::Start(http_options, *backend_,
                                 {[this] { return RenderMetrics(); },
                                  [this] { return Health(); }}));
  }
  try {
    follow_thread_ = std::thread([this] { FollowLoop(); });
    if (options_.retention.max_age.count() > 0 ||
        options_.retention.max_records > 0 ||
        options_.retention.max_bytes > 0) {
      retention_thread_ = std::thread([this] { RetentionLoop(); });
    }
  } catch (const std::system_error& e) {
    return MakeError(ErrorCode::kUnavailable,
                     std::string("cannot start a thread: ") + e.what());
  }
  spdlog::info("serving on {}{}{}", socket_path_,
               tcp_address().empty() ? "" : ", tcp " + tcp_address(),
               http_address().empty() ? "" : ", http " + http_address());
  return {};
}

std::vector<CollectorStatus> ServiceImpl::collectors() const {
  std::vector<CollectorStatus> out;
  if (supervisor_ == nullptr) return out;
  for (const collectors::CollectorHealth& h : supervisor_->Health()) {
    out.push_back({h.name, std::string(collectors::StateName(h.state)),
                   h.healthy(), h.restarts, h.pulls, h.pull_errors,
                   h.last_error ? h.last_error->ToString() : ""});
  }
  return out;
}

std::pair<bool, std::string> ServiceImpl::Health() const {
  bool healthy = true;
  std::string out = "{\"collectors\":{";
  bool first = true;
  for (const CollectorStatus& c : collectors()) {
    healthy = healthy && c.healthy;
    out += fmt::format(
        "{}{}:{{\"healthy\":{},\"state\":\"{}\",\"restarts\":{},"
        "\"last_error\":{}}}",
        first ? "" : ",", Quote(c.name), c.healthy, c.state, c.restarts,
        c.last_error.empty() ? "null" : Quote(c.last_error));
    first = false;
  }
  out += fmt::format("}},\"healthy\":{}}}", healthy);
  return {healthy, out};
}

void ServiceImpl::DeclareMetrics() {
  auto& m = metrics_;
  m.Declare("wmeta_records_appended_total", "counter",
            "Records appended to the log, by kind, source and type.");
  m.Declare("wmeta_noop_events_total", "counter",
            "Events dropped because they changed nothing.");
  m.Declare("wmeta_append_seconds", "histogram",
            "Time to append a batch and make it as durable as configured.");
  m.Declare("wmeta_log_bytes", "gauge", "Bytes the data dir takes on disk.");
  m.Declare("wmeta_log_first_offset", "gauge",
            "First offset still in the log.");
  m.Declare("wmeta_log_last_offset", "gauge", "Last offset in the log.");
  m.Declare("wmeta_view_offset", "gauge", "Last offset folded into the view.");
  m.Declare("wmeta_entities", "gauge", "Entities in the view, by kind.");
  m.Declare("wmeta_subscribers", "gauge", "Running subscriptions.");
  m.Declare("wmeta_subscriber_lag_records", "gauge",
            "Records appended that a subscriber has not reached yet.");
  m.Declare("wmeta_subscriber_catching_up", "gauge",
            "1 while a subscriber reads from the log, behind the live window.");
  m.Declare("wmeta_collector_pulls_total", "counter", "Pulls per collector.");
  m.Declare("wmeta_collector_pull_errors_total", "counter",
            "Failed pulls per collector.");
  m.Declare("wmeta_collector_restarts_total", "counter",
            "Collector runs that failed and were restarted.");
  m.Declare("wmeta_collector_healthy", "gauge",
            "1 when a collector is healthy.");
}

std::string ServiceImpl::RenderMetrics() {
  // One scrape at a time: each clears and refills the per-subscriber series.
  std::lock_guard lock(render_mu_);
  auto& m = metrics_;
  if (auto stats = store_->log().GetStats()) {
    m.Set("wmeta_log_bytes", {}, static_cast<double>(stats->bytes_on_disk));
    m.Set("wmeta_log_first_offset", {},
          static_cast<double>(stats->first_offset));
    m.Set("wmeta_log_last_offset", {}, static_cast<double>(stats->last_offset));
  }
  uint64_t applied = 0;
  std::map<Kind, size_t> kinds;
  store_->Read([&](const store::View& view) {
    applied = view.applied_offset();
    for (Kind kind : kAllKinds) {
      if (size_t n = view.size(kind); n > 0) kinds[kind] = n;
    }
  });
  m.Set("wmeta_view_offset", {}, static_cast<double>(applied));
  m.Clear("wmeta_entities");
  for (auto [kind, count] : kinds) {
    m.Set("wmeta_entities", {{"kind", std::string(KindName(kind))}},
          static_cast<double>(count));
  }
  auto subscribers = subscribers_.List();
  m.Set("wmeta_subscribers", {}, static_cast<double>(subscribers.size()));
  m.Clear("wmeta_subscriber_lag_records");
  m.Clear("wmeta_subscriber_catching_up");
  for (const auto& s : subscribers) {
    Labels labels{{"id", std::to_string(s.id)}, {"peer", s.peer}};
    uint64_t lag =
        applied + 1 > s.next_offset ? applied + 1 - s.next_offset : 0;
    m.Set("wmeta_subscriber_lag_records", labels, static_cast<double>(lag));
    m.Set("wmeta_subscriber_catching_up", labels, s.catching_up ? 1 : 0);
  }
  for (const CollectorStatus& c : collectors()) {
    Labels labels{{"collector", c.name}};
    m.Set("wmeta_collector_pulls_total", labels, static_cast<double>(c.pulls));
    m.Set("wmeta_collector_pull_errors_total", labels,
          static_cast<double>(c.pull_errors));
    m.Set("wmeta_collector_restarts_total", labels,
          static_cast<double>(c.restarts));
    m.Set("wmeta_collector_healthy", labels, c.healthy ? 1 : 0);
  }
  return m.Render();
}

bool ServiceImpl::WaitStop(std::chrono::steady_clock::duration timeout) {
  std::unique_lock lock(stop_mu_);
  return stop_cv_.wait_for(lock, timeout, [&] { return stopping_; });
}

void ServiceImpl::FollowLoop() {
  // Sources are named by whoever pushes: past this many, the rest share one
  // label value, so that a client cannot grow the metrics without bound.
  constexpr size_t kMaxSourceLabels = 64;
  std::set<std::string, std::less<>> sources;
  while (!WaitStop(std::chrono::steady_clock::duration::zero())) {
    auto bundle = follower_->Next(std::chrono::steady_clock::now() +
                                  std::chrono::milliseconds(100));
    if (!bundle) {
      if (bundle.error().code == ErrorCode::kUnavailable) return;  // closing
      // Behind a retention trim, say: counting goes on from now.
      spdlog::warn("metrics follower: {}; following from the latest record",
                   bundle.error().ToString());
      auto again = store_->Subscribe(FollowerOptions());
      if (!again) {
        spdlog::error("metrics follower: {}", again.error().ToString());
        return;
      }
      follower_ = std::move(*again);
      continue;
    }
    for (const store::Message& m : *bundle) {
      if (m.type != store::Message::Type::kEvent) continue;
      EventView e = m.event->view();
      std::string source(e.source());
      if (!sources.contains(source)) {
        if (sources.size() < kMaxSourceLabels) {
          sources.insert(source);
        } else {
          source = "(other)";
        }
      }
      metrics_.Add("wmeta_records_appended_total",
                   {{"kind", std::string(KindName(e.kind()))},
                    {"source", std::move(source)},
                    {"type", std::string(EventTypeName(e.type()))}});
    }
  }
}

void ServiceImpl::RetentionLoop() {
  while (!WaitStop(options_.retention_every)) {
    auto result = store_->ApplyRetention(options_.retention);
    if (!result) {
      spdlog::warn("retention: {}", result.error().ToString());
    } else if (result->records_removed > 0) {
      spdlog::info("retention removed {} records; the log starts at {}",
                   result->records_removed, result->new_first_offset);
    }
  }
}

Result<std::chrono::milliseconds> SpanOf(const bj::value& value,
                                         const std::string& key) {
  if (!value.is_string()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     key + ": expected a span such as \"5s\"");
  }
  WMETA_ASSIGN_OR_RETURN(auto span, ParseDuration(value.as_string()));
  return std::chrono::duration_cast<std::chrono::milliseconds>(span);
}

}  // namespace

Status LoadConfig(const std::string& path, ServiceOptions& options) {
  std::ifstream in(path);
  if (!in) return MakeError(ErrorCode::kNotFound, "cannot read " + path);
  std::stringstream text;
  text << in.rdbuf();
  boost::system::error_code ec;
  bj::value root = bj::parse(text.str(), ec);
  if (ec || !root.is_object()) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        path + ": not a JSON object" + (ec ? " (" + ec.message() + ")" : ""));
  }
  for (const auto& [key_view, value] : root.as_object()) {
    std::string key(key_view);
    auto bad = [&](std::string_view expected) {
      return MakeError(
          ErrorCode::kInvalidArgument,
          path + ": " + key + ": expected " + std::string(expected));
    };
    auto string = [&](std::string& out) -> Status {
      if (!value.is_string()) return bad("a string");
      out = value.as_string();
      return {};
    };
    auto count = [&](uint64_t& out) -> Status {
      if (!value.is_uint64() && !(value.is_int64() && value.as_int64() >= 0)) {
        return bad("a non-negative integer");
      }
      out = value.to_number<uint64_t>();
      return {};
    };
    Status status;
    if (key == "data_dir") {
      status = string(options.data_dir);
    } else if (key == "socket") {
      status = string(options.socket_path);
    } else if (key == "tcp") {
      status = string(options.tcp);
    } else if (key == "http") {
      status = string(options.http);
    } else if (key == "token") {
      status = string(options.token);
    } else if (key == "durability") {
      status = string(options.durability);
    } else if (key == "priorities") {
      status = string(options.priorities);
    } else if (key == "proc_root") {
      status = string(options.proc_root);
    } else if (key == "collectors") {
      if (!value.is_array()) return bad("an array of collector names");
      options.collectors.clear();
      for (const bj::value& name : value.as_array()) {
        if (!name.is_string()) return bad("an array of collector names");
        options.collectors.emplace_back(name.as_string());
      }
    } else if (key == "docker_socket") {
      status = string(options.docker_socket);
    } else if (key == "podman_socket") {
      status = string(options.podman_socket);
    } else if (key == "record_input") {
      status = string(options.record_input);
    } else if (key == "container_env") {
      if (!value.is_array()) return bad("an array of variable names");
      options.container_env.emplace();
      for (const bj::value& name : value.as_array()) {
        if (!name.is_string()) return bad("an array of variable names");
        if (!name.as_string().empty()) {
          options.container_env->emplace_back(name.as_string());
        }
      }
    } else if (key == "process_interval") {
      WMETA_ASSIGN_OR_RETURN(options.process_interval, SpanOf(value, key));
    } else if (key == "client_send_timeout") {
      WMETA_ASSIGN_OR_RETURN(options.client_send_timeout, SpanOf(value, key));
    } else if (key == "http_io_timeout") {
      WMETA_ASSIGN_OR_RETURN(options.http_io_timeout, SpanOf(value, key));
    } else if (key == "max_frame") {
      if (!value.is_string()) return bad("a size such as \"16MiB\"");
      WMETA_ASSIGN_OR_RETURN(uint64_t bytes, ParseBytes(value.as_string()));
      if (bytes < 4096 || bytes > (uint64_t{1} << 30)) {
        return bad("a size from 4KiB to 1GiB");
      }
      options.max_frame = static_cast<uint32_t>(bytes);
    } else if (key == "checkpoint_every_records") {
      status = count(options.checkpoint_every_records);
    } else if (key == "checkpoint_every") {
      WMETA_ASSIGN_OR_RETURN(auto span, SpanOf(value, key));
      options.checkpoint_every =
          std::chrono::duration_cast<std::chrono::seconds>(span);
    } else if (key == "retention_max_age") {
      WMETA_ASSIGN_OR_RETURN(auto span, SpanOf(value, key));
      options.retention.max_age =
          std::chrono::duration_cast<std::chrono::seconds>(span);
    } else if (key == "retention_max_records") {
      status = count(options.retention.max_records);
    } else if (key == "retention_max_bytes") {
      if (!value.is_string()) return bad("a size such as \"512MiB\"");
      WMETA_ASSIGN_OR_RETURN(options.retention.max_bytes,
                             ParseBytes(value.as_string()));
    } else if (key == "retention_every") {
      WMETA_ASSIGN_OR_RETURN(auto span, SpanOf(value, key));
      options.retention_every =
          std::chrono::duration_cast<std::chrono::seconds>(span);
    } else {
      return MakeError(ErrorCode::kInvalidArgument,
                       path + ": unknown key '" + key + "'");
    }
    if (!status) {
      return MakeError(ErrorCode::kInvalidArgument,
                       path + ": " + status.error().message);
    }
  }
  return {};
}

Result<std::unique_ptr<Service>> Service::Start(const ServiceOptions& options) {
  auto service = std::make_unique<ServiceImpl>(options);
  WMETA_RETURN_IF_ERROR(service->Init());
  return service;
}

}  // namespace wmeta::tools
