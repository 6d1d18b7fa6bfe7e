// Turns "the full current list from this source" into the sets and unsets
// that bring the store to it: the seen-set diff every pull collector needs.
//
//   ListDiff diff("process_collector", {Kind::kProcess});
//   WMETA_RETURN_IF_ERROR(diff.Apply(sink, std::move(current_sets)));
//
// Thread-safety: not thread-safe; one per collector.

#pragma once

#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "wmeta/collectors/collector.h"
#include "wmeta/schema/error.h"
#include "wmeta/schema/event.h"
#include "wmeta/schema/kind.h"

namespace wmeta::collectors {

class ListDiff {
 public:
  // `kinds`: what the list covers; an entity of these kinds from `source` that
  // is not in a list is unset.
  // `clock` times the unsets (a replay's gives the recorded times); it must
  // outlive the diff.
  ListDiff(std::string source, std::vector<Kind> kinds,
           Clock& clock = SystemClock());

  // Emits sets for the entities of `current` that are new or changed since
  // the last successful Apply, and unsets for those missing from it, all in
  // one Emit. The first Apply takes "the last list" from sink.Known(), so
  // entities that vanished while nobody listed are unset too. `current`: set
  // events from this source, of the covered kinds (kInvalidArgument
  // otherwise), each entity at most once. Changes are found by comparing a
  // hash of each entity's fields, so how an event was built (what else its
  // buffer held, in which order) does not matter. `replaced`: entities of
  // `current` that are another thing than the one of the same id in the last
  // list (a reused pid): each that the last list held is unset and then set,
  // ahead of the other events, whatever its content. Nothing is remembered
  // from a call that fails, so the next one emits it again.
  Status Apply(Sink& sink, std::vector<Event> current,
               std::span<const EntityId> replaced = {});

  // Forgets `id`, which the caller unset itself (a deletion it was told of):
  // a later list that holds it sets it again, whatever its content.
  void Forget(const EntityId& id);

  // The number of entities of the last successful list.
  size_t size() const { return seen_.size(); }

 private:
  std::string source_;
  std::vector<Kind> kinds_;
  Clock* clock_;
  bool seeded_ = false;
  // (kind, id) key -> a hash of the entity's fields as last emitted (0: not
  // known, from Known()).
  std::unordered_map<std::string, uint64_t> seen_;
};

}  // namespace wmeta::collectors
