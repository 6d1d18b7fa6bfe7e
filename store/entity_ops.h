// Generic operations on entities, driven by the schema's reflection data:
// equality (to recognise a set that changes nothing) and the merge of several
// sources' layers into one entity, with the provenance of each field. Private
// to store/.
//
// Merge rules (DESIGN.md §3): each field comes from the highest-priority layer
// that has it present; tables merge field by field; maps (wmeta_map) merge key
// by key; lists come whole from one layer, except those marked wmeta_union_key
// (container ports), which are the union keyed by the named fields, the
// higher-priority element winning a key. "Present" is explicit for optional
// scalars (false and 0 are values) and means "not the default" for the other
// scalars (times: 0 is unknown); strings, tables and lists are present when
// stored, even empty.
//
// Thread-safety: pure functions.

#pragma once

#include <flatbuffers/flatbuffers.h>

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wmeta/schema/event.h"
#include "wmeta/schema/kind.h"

namespace wmeta::store::internal {

// One source's layer of an entity: the source's latest set of it (whose
// source is the layer's).
struct LayerView {
  const Event* record;
};

// Field path -> the source it came from: "state.running", "labels.app",
// "ports[80/tcp]". Leaf fields only, in schema order.
using Provenance = std::vector<std::pair<std::string, std::string>>;

// The entity table of a record.
inline const flatbuffers::Table& EntityOf(const Event& event) {
  return *reinterpret_cast<const flatbuffers::Table*>(
      event.view().record().entity());
}

// Whether `a` and `b`, entities of `kind`, hold the same fields (by the
// presence rules above) with the same values.
bool EntitiesEqual(Kind kind, const flatbuffers::Table& a,
                   const flatbuffers::Table& b);

// The merge of `layers` (highest priority first; at least one) as a set
// record whose offset, times and source are `envelope`'s. Appends the
// provenance of every field to `provenance` when it is not null.
Event MergeLayers(Kind kind, std::span<const LayerView> layers,
                  const EventView& envelope, Provenance* provenance = nullptr);

}  // namespace wmeta::store::internal
