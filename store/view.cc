#include "wmeta/store/view.h"

#include <algorithm>

#include "entity_ops.h"

namespace wmeta::store {
namespace {

using internal::EntityOf;

std::string_view NamespaceOf(const EventView& e) {
  return VisitEntity(e.record(), [](const auto& entity) -> std::string_view {
    if constexpr (requires { entity.namespace_(); }) {
      return entity.namespace_() != nullptr ? entity.namespace_()->string_view()
                                            : std::string_view();
    } else {
      return {};
    }
  });
}

// The value of label `key`, or nullopt (also for kinds without labels).
std::optional<std::string_view> LabelOf(const EventView& e,
                                        std::string_view key) {
  return VisitEntity(
      e.record(), [&](const auto& entity) -> std::optional<std::string_view> {
        if constexpr (requires { entity.labels(); }) {
          if (entity.labels() == nullptr) return std::nullopt;
          std::string k(key);
          const auto* pair = entity.labels()->LookupByKey(k.c_str());
          if (pair == nullptr) return std::nullopt;
          return pair->value() != nullptr ? pair->value()->string_view()
                                          : std::string_view();
        } else {
          return std::nullopt;
        }
      });
}

// The container a process runs in: its owner when that is a container, else
// its container_id; "" when neither.
std::string_view ProcessContainer(const EventView& e) {
  const fb::Process* process = e.record().entity_as_Process();
  if (process == nullptr) return {};
  if (process->owner() != nullptr && process->owner()->id() != nullptr &&
      process->owner()->kind() == fb::Kind::container) {
    return process->owner()->id()->string_view();
  }
  return process->container_id() != nullptr
             ? process->container_id()->string_view()
             : std::string_view();
}

// The entity that owns `e` (see ListQuery::owner), if any.
std::optional<EntityId> OwnerOf(const EventView& e) {
  if (e.kind() == Kind::kProcess) {
    std::string_view container = ProcessContainer(e);
    if (container.empty()) return std::nullopt;
    return EntityId{Kind::kContainer, std::string(container)};
  }
  const fb::Container* c = e.record().entity_as_Container();
  if (c == nullptr || c->owner() == nullptr || c->owner()->id() == nullptr) {
    return std::nullopt;
  }
  return EntityId{static_cast<Kind>(c->owner()->kind()),
                  c->owner()->id()->str()};
}

bool Matches(const EntityState& entity, const ListQuery& query) {
  EventView e = entity.merged->view();
  if (query.owner && OwnerOf(e) != query.owner) return false;
  if (!query.search.empty()) {
    auto has = [&](std::string_view s) {
      return s.find(query.search) != std::string_view::npos;
    };
    if (!has(e.id()) && !has(e.name()) && !has(NamespaceOf(e))) return false;
  }
  for (const LabelRequirement& r : query.selector) {
    auto value = LabelOf(e, r.key);
    switch (r.op) {
      case LabelRequirement::Op::kEquals:
        if (!value || *value != r.value) return false;
        break;
      case LabelRequirement::Op::kNotEquals:
        if (value && *value == r.value) return false;
        break;
      case LabelRequirement::Op::kExists:
        if (!value) return false;
        break;
      case LabelRequirement::Op::kNotExists:
        if (value) return false;
        break;
    }
  }
  return true;
}

std::unexpected<Error> NotFound(std::string what) {
  return MakeError(ErrorCode::kNotFound, std::move(what));
}

}  // namespace

Result<std::vector<LabelRequirement>> ParseLabelSelector(
    std::string_view text) {
  std::vector<LabelRequirement> out;
  while (!text.empty()) {
    size_t comma = text.find(',');
    std::string_view term = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view()
                                           : text.substr(comma + 1);
    auto trim = [](std::string_view s) {
      while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
      while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
      return s;
    };
    term = trim(term);
    LabelRequirement r;
    if (size_t ne = term.find("!="); ne != std::string_view::npos) {
      r = {std::string(trim(term.substr(0, ne))),
           LabelRequirement::Op::kNotEquals,
           std::string(trim(term.substr(ne + 2)))};
    } else if (size_t eq = term.find('='); eq != std::string_view::npos) {
      size_t value_at = term.substr(eq + 1).starts_with("=") ? eq + 2 : eq + 1;
      r = {std::string(trim(term.substr(0, eq))), LabelRequirement::Op::kEquals,
           std::string(trim(term.substr(value_at)))};
    } else if (term.starts_with("!")) {
      r = {std::string(trim(term.substr(1))),
           LabelRequirement::Op::kNotExists,
           {}};
    } else {
      r = {std::string(term), LabelRequirement::Op::kExists, {}};
    }
    if (r.key.empty()) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "invalid label selector term '" + std::string(term) +
                           "': expected k=v, k!=v, k or !k");
    }
    out.push_back(std::move(r));
  }
  return out;
}

View::View(SourcePriorities priorities) : priorities_(std::move(priorities)) {}

size_t View::size() const {
  size_t n = 0;
  for (const auto& by_id : entities_) n += by_id.size();
  return n;
}

EntityPtr View::Find(Kind kind, std::string_view id) const {
  const Map& map = Entities(kind);
  auto it = map.find(id);
  return it == map.end() ? nullptr : it->second;
}

std::shared_ptr<const Event> View::Merge(
    EntityState& entity, const std::shared_ptr<const Event>& envelope) {
  if (defer_merges_) {
    // The record stands in until Settle(), which uses it as the envelope.
    if (!entity.merge_pending) unsettled_.push_back(entity.id);
    entity.merge_pending = true;
    return envelope;
  }
  std::vector<internal::LayerView> views;
  views.reserve(entity.layers.size());
  for (const auto& layer : entity.layers) {
    views.push_back({layer.get()});
  }
  return std::make_shared<const Event>(
      internal::MergeLayers(entity.id.kind, views, envelope->view()));
}

void View::Settle() {
  defer_merges_ = false;
  for (const EntityId& id : unsettled_) {
    Map& map = Entities(id.kind);
    auto it = map.find(id.id);
    // Gone, or merged since (down to a single layer), or settled under an
    // earlier entry of the list (an entity that went and came back).
    if (it == map.end() || !it->second->merge_pending) continue;
    auto settled = std::make_shared<EntityState>(*it->second);
    settled->merge_pending = false;
    settled->merged = Merge(*settled, settled->merged);
    it->second = std::move(settled);
  }
  unsettled_.clear();
  pods_by_name_.clear();
  processes_by_container_.clear();
  ForEach([this](const EntityPtr& entity) { Index(*entity); });
}

std::optional<Change> View::Apply(std::shared_ptr<const Event> record) {
  EventView e = record->view();
  applied_offset_ = e.offset();
  Kind kind = e.kind();
  Map& map = Entities(kind);
  auto it = map.find(e.id());
  const EntityState* old = it == map.end() ? nullptr : it->second.get();

  auto layer_at =
      old == nullptr
          ? std::vector<std::shared_ptr<const Event>>::const_iterator()
          : std::find_if(old->layers.begin(), old->layers.end(),
                         [&](const auto& layer) {
                           return layer->view().source() == e.source();
                         });
  bool has_layer = old != nullptr && layer_at != old->layers.end();

  Change change;
  change.record = record;
  if (e.type() == EventType::kUnset) {
    if (!has_layer) return std::nullopt;
    change.layer = *layer_at;
    if (old->layers.size() == 1) {
      // The last layer: the entity goes, and subscribers get its last state.
      change.type = EventType::kUnset;
      change.merged = old->merged;
      Unindex(*old);
      map.erase(it);
      return change;
    }
    auto next = std::make_shared<EntityState>(*old);
    next->layers.erase(next->layers.begin() + (layer_at - old->layers.begin()));
    next->merged = next->layers.size() == 1
                       ? std::make_shared<const Event>(next->layers[0]->Stamped(
                             e.offset(), e.ingest_time()))
                       : Merge(*next, record);
    if (next->layers.size() == 1) next->merge_pending = false;
    ++next->version;
    change.merged = next->merged;
    Unindex(*old);
    Index(*next);
    it->second = std::move(next);
    return change;
  }

  if (has_layer &&
      internal::EntitiesEqual(kind, EntityOf(**layer_at), EntityOf(*record))) {
    return std::nullopt;
  }
  auto next = old != nullptr ? std::make_shared<EntityState>(*old)
                             : std::make_shared<EntityState>();
  if (old == nullptr) {
    next->id = e.entity_id();
    next->create_offset = e.offset();
  }
  if (has_layer) {
    next->layers[static_cast<size_t>(layer_at - old->layers.begin())] = record;
  } else {
    auto pos = std::find_if(
        next->layers.begin(), next->layers.end(), [&](const auto& layer) {
          return priorities_.Outranks(kind, e.source(), layer->view().source());
        });
    next->layers.insert(pos, record);
  }
  next->merged = next->layers.size() == 1 ? record : Merge(*next, record);
  if (next->layers.size() == 1) next->merge_pending = false;
  ++next->version;
  change.type = EventType::kSet;
  change.merged = next->merged;
  change.layer = record;
  if (old != nullptr) Unindex(*old);
  Index(*next);
  if (old != nullptr) {
    it->second = std::move(next);
  } else {
    map.emplace(std::string(e.id()), std::move(next));
  }
  return change;
}

void View::Restore(EntityPtr entity) {
  Index(*entity);
  Entities(entity->id.kind).emplace(entity->id.id, std::move(entity));
}

void View::Unindex(const EntityState& entity) {
  if (defer_merges_) return;  // Settle() rebuilds the indexes
  EventView e = entity.merged->view();
  if (entity.id.kind == Kind::kKubernetesPod) {
    auto it = pods_by_name_.find(
        std::make_pair(std::string(NamespaceOf(e)), std::string(e.name())));
    if (it != pods_by_name_.end()) {
      it->second.erase(entity.id.id);
      if (it->second.empty()) pods_by_name_.erase(it);
    }
  } else if (entity.id.kind == Kind::kProcess) {
    auto it = processes_by_container_.find(ProcessContainer(e));
    if (it != processes_by_container_.end()) {
      it->second.erase(entity.id.id);
      if (it->second.empty()) processes_by_container_.erase(it);
    }
  }
}

void View::Index(const EntityState& entity) {
  if (defer_merges_) return;  // Settle() rebuilds the indexes
  EventView e = entity.merged->view();
  if (entity.id.kind == Kind::kKubernetesPod) {
    pods_by_name_[{std::string(NamespaceOf(e)), std::string(e.name())}].insert(
        entity.id.id);
  } else if (entity.id.kind == Kind::kProcess) {
    std::string_view container = ProcessContainer(e);
    if (!container.empty()) {
      processes_by_container_[std::string(container)].insert(entity.id.id);
    }
  }
}

Result<EntityPtr> View::Get(const EntityId& id) const {
  EntityPtr entity = Find(id.kind, id.id);
  if (entity == nullptr) return NotFound(id.ToString() + " not found");
  return entity;
}

std::vector<EntityPtr> View::List(const ListQuery& query) const {
  std::vector<EntityPtr> out;
  auto scan = [&](Kind kind) {
    for (const auto& [id, entity] : Entities(kind)) {
      if (Matches(*entity, query)) out.push_back(entity);
    }
  };
  if (query.kind) {
    scan(*query.kind);
  } else {
    for (Kind kind : kAllKinds) scan(kind);
  }
  std::sort(out.begin(), out.end(), [](const EntityPtr& a, const EntityPtr& b) {
    return a->id < b->id;
  });
  return out;
}

const Event* View::Layer(const EntityId& id, std::string_view source) const {
  EntityPtr entity = Find(id.kind, id.id);
  if (entity == nullptr) return nullptr;
  for (const auto& layer : entity->layers) {
    if (layer->view().source() == source) return layer.get();
  }
  return nullptr;
}

Result<EntityPtr> View::PodForContainer(std::string_view container_id) const {
  EntityPtr container = Find(Kind::kContainer, container_id);
  if (container == nullptr) {
    return NotFound("container/" + std::string(container_id) + " not found");
  }
  const fb::Container* c =
      container->merged->view().record().entity_as_Container();
  if (c->owner() == nullptr || c->owner()->id() == nullptr ||
      c->owner()->kind() != fb::Kind::kubernetes_pod) {
    return NotFound("container/" + std::string(container_id) +
                    " has no pod owner");
  }
  std::string_view pod_id = c->owner()->id()->string_view();
  EntityPtr pod = Find(Kind::kKubernetesPod, pod_id);
  if (pod == nullptr) {
    return NotFound("kubernetes_pod/" + std::string(pod_id) + " not found");
  }
  return pod;
}

Result<EntityPtr> View::ContainerForProcess(std::string_view pid) const {
  EntityPtr process = Find(Kind::kProcess, pid);
  if (process == nullptr) {
    return NotFound("process/" + std::string(pid) + " not found");
  }
  std::string_view container_id = ProcessContainer(process->merged->view());
  if (container_id.empty()) {
    return NotFound("process/" + std::string(pid) + " has no container");
  }
  EntityPtr container = Find(Kind::kContainer, container_id);
  if (container == nullptr) {
    return NotFound("container/" + std::string(container_id) + " not found");
  }
  return container;
}

std::vector<EntityPtr> View::PodsByName(std::string_view ns,
                                        std::string_view name) const {
  std::vector<EntityPtr> out;
  auto it =
      pods_by_name_.find(std::make_pair(std::string(ns), std::string(name)));
  if (it == pods_by_name_.end()) return out;
  for (const auto& id : it->second) {
    if (EntityPtr pod = Find(Kind::kKubernetesPod, id)) out.push_back(pod);
  }
  return out;
}

std::vector<EntityPtr> View::ProcessesInContainer(
    std::string_view container_id) const {
  std::vector<EntityPtr> out;
  auto it = processes_by_container_.find(container_id);
  if (it == processes_by_container_.end()) return out;
  for (const auto& id : it->second) {
    if (EntityPtr process = Find(Kind::kProcess, id)) out.push_back(process);
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> View::Provenance(
    const EntityState& entity) const {
  std::vector<internal::LayerView> views;
  for (const auto& layer : entity.layers) {
    views.push_back({layer.get()});
  }
  internal::Provenance provenance;
  internal::MergeLayers(entity.id.kind, views, entity.merged->view(),
                        &provenance);
  return provenance;
}

}  // namespace wmeta::store
