// What the CLI's commands and the daemon's client protocol ask of a store,
// whether it is opened on a data dir (LocalBackend) or reached through a
// running wmetad (RemoteBackend, client.h). The server answers the protocol
// with a LocalBackend on its live store, so both paths run the same code.
//
// Thread-safety: a LocalBackend is as thread-safe as its store; a
// RemoteBackend is used by one thread at a time.

#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "wmeta/log/log.h"
#include "wmeta/schema/error.h"
#include "wmeta/schema/event.h"
#include "wmeta/store/store.h"

namespace wmeta::tools {

// A point in the log: an offset, or a time standing for the last record
// ingested at or before it. Neither: now.
struct PointSpec {
  std::optional<uint64_t> offset;
  std::optional<Timestamp> time;
};

struct EntityInfo {
  std::shared_ptr<const Event> merged;
  // Highest priority first.
  std::vector<std::shared_ptr<const Event>> layers;
  uint64_t create_offset = 0;
  uint64_t version = 0;
  // The source of each merged field, when asked for.
  std::vector<std::pair<std::string, std::string>> provenance;

  uint64_t mod_offset() const { return merged->view().offset(); }
  EntityId id() const { return merged->view().entity_id(); }
};

struct EntitiesResult {
  std::vector<EntityInfo> entities;
  // The offset of the view they come from.
  uint64_t at_offset = 0;
};

struct ListRequest {
  std::optional<Kind> kind;
  std::string search;
  // Kubernetes-style, parsed by the store's side.
  std::string selector;
  PointSpec at;
  bool provenance = false;
  // "KIND/ID": only what it owns (ListQuery::owner); "": everything.
  std::string owner;
};

struct WatchRequest {
  store::SubscribeOptions::From from = store::SubscribeOptions::From::kSnapshot;
  // For kOffset; 0: the first offset the log holds.
  uint64_t offset = 0;
  Timestamp time{};
  std::vector<Kind> kinds;
  std::vector<std::string> sources;
  std::optional<EventType> type;
  bool raw = false;
  std::string store_id;
  size_t max_bundle = 1024;
  std::chrono::milliseconds bookmark_interval{1000};
  // Non-zero: the stream ends once every record up to this offset was
  // delivered.
  uint64_t until = 0;
  // The stream ends at the log's last offset as of the request.
  bool until_now = false;
};

// A subscription's stream, as a consumer reads it.
class Stream {
 public:
  virtual ~Stream() = default;
  // The next bundle (empty at the deadline); nullopt once the stream ended.
  virtual Result<std::optional<store::Bundle>> Next(
      std::chrono::steady_clock::time_point deadline) = 0;
  // The offset of the next change it will deliver.
  virtual uint64_t next_offset() const = 0;
  // Whether it reads from the log because it fell behind the live window.
  virtual bool catching_up() const = 0;
};

struct CollectorStatus {
  std::string name;
  std::string state;
  bool healthy = false;
  uint64_t restarts = 0;
  uint64_t pulls = 0;
  uint64_t pull_errors = 0;
  std::string last_error;
};

struct ServiceStats {
  log::Stats log;
  std::string data_dir;
  uint64_t applied_offset = 0;
  uint64_t entities = 0;
  // Only from a daemon.
  uint64_t subscribers = 0;
  std::vector<CollectorStatus> collectors;
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual Result<store::ApplyResult> Push(std::span<const Event> events) = 0;
  // The durability the backend's writes have ("sync", "interval:100", ...).
  virtual std::string durability() const = 0;

  virtual Result<EntitiesResult> List(const ListRequest& request) = 0;
  // kNotFound when the entity does not exist at that point.
  virtual Result<EntityInfo> Get(const EntityId& id, const PointSpec& at,
                                 bool provenance) = 0;
  virtual Result<std::vector<store::HistoryEntry>> History(
      const EntityId& id) = 0;
  virtual Result<store::DiffResult> Diff(const PointSpec& from,
                                         const PointSpec& to) = 0;
  virtual Result<std::unique_ptr<Stream>> Watch(
      const WatchRequest& request) = 0;
  virtual Result<store::CheckpointInfo> Checkpoint() = 0;
  virtual Result<store::RetentionResult> Retention(
      const store::RetentionPolicy& policy) = 0;
  virtual Result<ServiceStats> Stats() = 0;
  // Progress goes to `progress` (done, total) when the work is local.
  virtual Result<log::VerifyReport> Verify(
      const std::function<void(uint64_t, uint64_t)>& progress) = 0;
};

// Extra state a daemon reports in its stats.
class ServiceState {
 public:
  virtual ~ServiceState() = default;
  virtual uint64_t subscribers() const = 0;
  virtual std::vector<CollectorStatus> collectors() const = 0;
};

// A backend on `store`, which must outlive it; `service` (optional, likewise)
// adds a daemon's state to Stats(). A read-only store's streams follow the
// data dir's writer.
std::unique_ptr<Backend> NewLocalBackend(store::Store& store,
                                         std::string data_dir,
                                         std::string durability,
                                         const ServiceState* service = nullptr);
// The same, owning the store.
std::unique_ptr<Backend> NewLocalBackend(std::unique_ptr<store::Store> store,
                                         std::string data_dir,
                                         std::string durability);

// The offset `point` names in `store`: the offset itself (checked against
// the log's range by the caller's query), or the last record ingested at or
// before the time (0 when none; kOutOfRange when retention removed records
// ingested after it); `now` when neither is set.
Result<uint64_t> ResolvePoint(const store::Store& store, const PointSpec& point,
                              uint64_t now);

}  // namespace wmeta::tools
