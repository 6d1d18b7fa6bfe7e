// The materialised view: the deterministic fold of log records into one
// merged entity per (kind, id). Each source's latest `set` of an entity is its
// layer; the merged entity combines the layers by SourcePriorities (merge
// rules: store/README.md); an `unset` removes its source's layer, and the
// entity goes when no layer is left.
//
// A View is what the store serves live and what queries "as of" an offset
// rebuild; both answer the same queries.
//
// Thread-safety: externally synchronised. EntityState values are immutable
// once published: readers may keep them after the view moves on.

#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "wmeta/schema/error.h"
#include "wmeta/schema/event.h"
#include "wmeta/schema/kind.h"
#include "wmeta/store/priorities.h"

namespace wmeta::store {

struct EntityState {
  EntityId id;
  // The merged entity, as a record whose envelope (offset, times, source,
  // type) is that of the record that last changed it.
  std::shared_ptr<const Event> merged;
  // Each source's latest set, highest priority first.
  std::vector<std::shared_ptr<const Event>> layers;
  // The offset of the set that created the entity (since it last appeared).
  uint64_t create_offset = 0;
  // How many records changed it since then, the creating one included.
  uint64_t version = 0;
  // The view's own bookkeeping: its merge is owed (see View::DeferMerges).
  bool merge_pending = false;

  uint64_t mod_offset() const { return merged->view().offset(); }
};

// What folding one record did, as subscribers see it.
struct Change {
  // The folded log record.
  std::shared_ptr<const Event> record{};
  // False for a record that changed nothing (one the store did not filter,
  // such as a log written by another tool): only raw subscribers see it.
  bool changed = true;
  // For merged subscribers: kSet with the entity after the change, or kUnset
  // when the entity went away, with its last state.
  EventType type = EventType::kSet;
  std::shared_ptr<const Event> merged{};
  // For subscribers of the record's source: its layer after a set (the record
  // itself), the removed layer after an unset.
  std::shared_ptr<const Event> layer{};
};

// One term of a label selector: "k=v", "k!=v", "k" (exists), "!k".
struct LabelRequirement {
  enum class Op { kEquals, kNotEquals, kExists, kNotExists };
  std::string key;
  Op op = Op::kExists;
  std::string value;
};

// Parses a comma-separated selector in Kubernetes' equality syntax ("==" is
// accepted for "="). kInvalidArgument on an empty key or term.
Result<std::vector<LabelRequirement>> ParseLabelSelector(std::string_view text);

struct ListQuery {
  // Every kind when unset.
  std::optional<Kind> kind{};
  // A substring of the id, the name or the namespace (case-sensitive).
  std::string search{};
  // Every requirement must hold; entities without labels match only
  // kNotEquals and kNotExists terms.
  std::vector<LabelRequirement> selector{};
  // Only entities owned by this one: the processes of a container (their
  // owner, else their container_id), the containers of a pod.
  std::optional<EntityId> owner{};
};

using EntityPtr = std::shared_ptr<const EntityState>;

class View {
 public:
  explicit View(SourcePriorities priorities = {});

  // Folds `record`. REQUIRES: its offset is above applied_offset(). Returns
  // nullopt when it changes nothing: a set equal to its source's layer, an
  // unset of a layer that does not exist.
  std::optional<Change> Apply(std::shared_ptr<const Event> record);

  // The offset of the last record folded (0 before any).
  uint64_t applied_offset() const { return applied_offset_; }
  size_t size() const;
  // The entities of one kind; O(1).
  size_t size(Kind kind) const { return Entities(kind).size(); }

  // kNotFound when the entity is not in the view.
  Result<EntityPtr> Get(const EntityId& id) const;

  // Sorted by (kind, id).
  std::vector<EntityPtr> List(const ListQuery& query) const;

  // The layer `source` holds for `id`, or nullptr.
  const Event* Layer(const EntityId& id, std::string_view source) const;

  // The pod that owns container `container_id` (the container's owner).
  // kNotFound, naming what is missing: the container, its owner, or the pod.
  Result<EntityPtr> PodForContainer(std::string_view container_id) const;

  // The container process `pid` runs in (the process's owner, else its
  // container_id). kNotFound as above.
  Result<EntityPtr> ContainerForProcess(std::string_view pid) const;

  // Pods by namespace and name (more than one while a StatefulSet replaces a
  // pod under the same name), through an index.
  std::vector<EntityPtr> PodsByName(std::string_view ns,
                                    std::string_view name) const;

  // The processes whose container is `container_id`, through an index.
  std::vector<EntityPtr> ProcessesInContainer(
      std::string_view container_id) const;

  // Field path -> source, for `entity`'s merged fields.
  std::vector<std::pair<std::string, std::string>> Provenance(
      const EntityState& entity) const;

  // Every entity, unordered.
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    for (const auto& by_id : entities_) {
      for (const auto& [id, entity] : by_id) fn(entity);
    }
  }

  // Replays fold many records where only the end state matters: from here to
  // Settle(), the merge of entities with several layers (the costly part of a
  // fold) is put off, and done once per entity by Settle(). Apply() then
  // returns changes whose merged entity is not final. REQUIRES: nothing reads
  // the view before Settle().
  void DeferMerges() { defer_merges_ = true; }
  void Settle();

  // Restores an entity saved by a checkpoint. REQUIRES: it is not in the view.
  void Restore(EntityPtr entity);
  // Marks the view as folded up to `offset` (a checkpoint's offset).
  // REQUIRES: offset >= applied_offset().
  void SetApplied(uint64_t offset) { applied_offset_ = offset; }

  const SourcePriorities& priorities() const { return priorities_; }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const {
      return std::hash<std::string_view>()(s);
    }
  };
  using Map = std::unordered_map<std::string, EntityPtr, Hash, std::equal_to<>>;

  Map& Entities(Kind kind) { return entities_[static_cast<size_t>(kind)]; }
  const Map& Entities(Kind kind) const {
    return entities_[static_cast<size_t>(kind)];
  }
  EntityPtr Find(Kind kind, std::string_view id) const;
  // Keeps the secondary indexes in step with an entity's merged state.
  void Unindex(const EntityState& entity);
  void Index(const EntityState& entity);
  // The merge of `entity`'s layers, as a record with `envelope`'s offset,
  // times and source; while merges are deferred, `envelope` itself.
  std::shared_ptr<const Event> Merge(
      EntityState& entity, const std::shared_ptr<const Event>& envelope);

  SourcePriorities priorities_;
  std::array<Map, kAllKinds.size() + 1> entities_;
  // See DeferMerges(): entities whose merge is owed, and whether merges (and
  // the secondary indexes, rebuilt by Settle) are put off.
  bool defer_merges_ = false;
  std::vector<EntityId> unsettled_;
  uint64_t applied_offset_ = 0;
  // (namespace, name) -> pod ids.
  std::map<std::pair<std::string, std::string>, std::set<std::string>,
           std::less<>>
      pods_by_name_;
  // container id -> process ids.
  std::map<std::string, std::set<std::string>, std::less<>>
      processes_by_container_;
};

}  // namespace wmeta::store
