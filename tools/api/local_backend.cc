#include <algorithm>
#include <functional>

#include "wmeta/tools/api/backend.h"

namespace wmeta::tools {
namespace {

// A subscription's stream. On a read-only store it refreshes when idle, to
// follow the data dir's writer.
class LocalStream final : public Stream {
 public:
  LocalStream(store::Store& store, std::unique_ptr<store::Subscription> sub,
              bool snapshot, std::optional<uint64_t> until)
      : store_(store),
        sub_(std::move(sub)),
        snapshot_pending_(snapshot),
        until_(until) {}

  Result<std::optional<store::Bundle>> Next(
      std::chrono::steady_clock::time_point deadline) override {
    if (!snapshot_pending_ && until_ && sub_->next_offset() > *until_) {
      return std::nullopt;
    }
    WMETA_ASSIGN_OR_RETURN(store::Bundle bundle, sub_->Next(deadline));
    if (snapshot_pending_) {
      snapshot_pending_ = std::none_of(
          bundle.begin(), bundle.end(), [](const store::Message& m) {
            return m.type == store::Message::Type::kSnapshotEnd;
          });
    }
    if (until_) {
      // Cut at the end; a bookmark beyond it says no more than the end does.
      auto past = std::find_if(
          bundle.messages.begin(), bundle.messages.end(),
          [&](const store::Message& m) { return m.offset > *until_; });
      bundle.messages.erase(past, bundle.messages.end());
    }
    // A no-op for a writable store.
    if (bundle.empty()) WMETA_RETURN_IF_ERROR(store_.Refresh());
    return bundle;
  }

  uint64_t next_offset() const override { return sub_->next_offset(); }
  bool catching_up() const override { return sub_->catching_up(); }

 private:
  store::Store& store_;
  std::unique_ptr<store::Subscription> sub_;
  // The snapshot's messages precede next_offset(): not yet at the end.
  bool snapshot_pending_;
  std::optional<uint64_t> until_;
};

EntityInfo Info(const store::View& view, const store::EntityState& entity,
                bool provenance) {
  EntityInfo info{
      entity.merged, entity.layers, entity.create_offset, entity.version, {}};
  if (provenance) info.provenance = view.Provenance(entity);
  return info;
}

class LocalBackend final : public Backend {
 public:
  LocalBackend(store::Store& store, std::unique_ptr<store::Store> owned,
               std::string data_dir, std::string durability,
               const ServiceState* service)
      : owned_(std::move(owned)),
        store_(store),
        data_dir_(std::move(data_dir)),
        durability_(std::move(durability)),
        service_(service) {}

  Result<store::ApplyResult> Push(std::span<const Event> events) override {
    return store_.Apply(events);
  }
  std::string durability() const override { return durability_; }

  Result<EntitiesResult> List(const ListRequest& request) override {
    store::ListQuery query{request.kind, request.search, {}};
    if (!request.selector.empty()) {
      WMETA_ASSIGN_OR_RETURN(query.selector,
                             store::ParseLabelSelector(request.selector));
    }
    if (!request.owner.empty()) {
      WMETA_ASSIGN_OR_RETURN(query.owner, ParseEntityId(request.owner));
    }
    EntitiesResult result;
    WMETA_RETURN_IF_ERROR(WithView(request.at, [&](const store::View& view) {
      result.at_offset = view.applied_offset();
      for (const store::EntityPtr& entity : view.List(query)) {
        result.entities.push_back(Info(view, *entity, request.provenance));
      }
    }));
    return result;
  }

  Result<EntityInfo> Get(const EntityId& id, const PointSpec& at,
                         bool provenance) override {
    Result<EntityInfo> info = MakeError(ErrorCode::kInternal, "no view");
    WMETA_RETURN_IF_ERROR(WithView(at, [&](const store::View& view) {
      auto entity = view.Get(id);
      if (entity) {
        info = Info(view, **entity, provenance);
      } else {
        info = std::unexpected(entity.error());
      }
    }));
    return info;
  }

  Result<std::vector<store::HistoryEntry>> History(
      const EntityId& id) override {
    return store_.History(id);
  }

  Result<store::DiffResult> Diff(const PointSpec& from,
                                 const PointSpec& to) override {
    uint64_t now = store_.applied_offset();
    WMETA_ASSIGN_OR_RETURN(uint64_t a, ResolvePoint(store_, from, now));
    WMETA_ASSIGN_OR_RETURN(uint64_t b, ResolvePoint(store_, to, now));
    return store_.Diff(a, b);
  }

  Result<std::unique_ptr<Stream>> Watch(const WatchRequest& request) override {
    store::SubscribeOptions options;
    options.from = request.from;
    options.offset =
        request.offset != 0 ? request.offset : store_.log().first_offset();
    options.time = request.time;
    options.filter.kinds = request.kinds;
    options.filter.sources = request.sources;
    options.filter.type = request.type;
    options.raw = request.raw;
    options.store_id = request.store_id;
    options.max_bundle = std::max<size_t>(request.max_bundle, 1);
    options.bookmark_interval = request.bookmark_interval;
    std::optional<uint64_t> until;
    if (request.until_now) {
      until = store_.log().last_offset();
    } else if (request.until != 0) {
      until = request.until;
    }
    WMETA_ASSIGN_OR_RETURN(auto sub, store_.Subscribe(std::move(options)));
    return std::make_unique<LocalStream>(
        store_, std::move(sub),
        request.from == store::SubscribeOptions::From::kSnapshot, until);
  }

  Result<store::CheckpointInfo> Checkpoint() override {
    return store_.Checkpoint();
  }

  Result<store::RetentionResult> Retention(
      const store::RetentionPolicy& policy) override {
    return store_.ApplyRetention(policy);
  }

  Result<ServiceStats> Stats() override {
    ServiceStats stats;
    WMETA_ASSIGN_OR_RETURN(stats.log, store_.log().GetStats());
    stats.data_dir = data_dir_;
    store_.Read([&](const store::View& view) {
      stats.applied_offset = view.applied_offset();
      stats.entities = view.size();
    });
    if (service_ != nullptr) {
      stats.subscribers = service_->subscribers();
      stats.collectors = service_->collectors();
    }
    return stats;
  }

  Result<log::VerifyReport> Verify(
      const std::function<void(uint64_t, uint64_t)>& progress) override {
    return store::Verify(store_.log(), data_dir_, progress);
  }

 private:
  // Runs `fn` on the view at `at`: the live one (under the store's read
  // lock, so `fn` must be quick and copy out only entity pointers), or one
  // rebuilt for a past point.
  Status WithView(const PointSpec& at,
                  const std::function<void(const store::View&)>& fn) {
    if (!at.offset && !at.time) {
      store_.Read(fn);
      return {};
    }
    WMETA_ASSIGN_OR_RETURN(uint64_t offset,
                           ResolvePoint(store_, at, store_.applied_offset()));
    WMETA_ASSIGN_OR_RETURN(auto view, store_.StateAt(offset));
    fn(*view);
    return {};
  }

  const std::unique_ptr<store::Store> owned_;
  store::Store& store_;
  const std::string data_dir_;
  const std::string durability_;
  const ServiceState* const service_;
};

}  // namespace

Result<uint64_t> ResolvePoint(const store::Store& store, const PointSpec& point,
                              uint64_t now) {
  if (point.offset) return *point.offset;
  if (!point.time) return now;
  return store.OffsetAtTime(*point.time);
}

std::unique_ptr<Backend> NewLocalBackend(store::Store& store,
                                         std::string data_dir,
                                         std::string durability,
                                         const ServiceState* service) {
  return std::make_unique<LocalBackend>(store, nullptr, std::move(data_dir),
                                        std::move(durability), service);
}

std::unique_ptr<Backend> NewLocalBackend(std::unique_ptr<store::Store> store,
                                         std::string data_dir,
                                         std::string durability) {
  store::Store& ref = *store;
  return std::make_unique<LocalBackend>(ref, std::move(store),
                                        std::move(data_dir),
                                        std::move(durability), nullptr);
}

}  // namespace wmeta::tools
