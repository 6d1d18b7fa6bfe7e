// Which source wins a field that several sources set, per kind.
//
// The default is the reference's effective order: its known sources ranked
// alphabetically (so for containers node_orchestrator outranks runtime, for
// pods cluster_orchestrator outranks node_orchestrator), then unknown sources
// by name. Set() replaces the order of one kind.
//
// Thread-safety: a value; const methods are safe to share.

#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "wmeta/schema/error.h"
#include "wmeta/schema/kind.h"

namespace wmeta::store {

class SourcePriorities {
 public:
  SourcePriorities();

  // Ranks `order` (highest first) above every other source for `kind`.
  void Set(Kind kind, std::vector<std::string> order);

  // Parses "KIND=SOURCE,SOURCE,...[;KIND=...]" and applies each part with Set.
  // kInvalidArgument for an unknown kind or an empty list.
  Status Parse(std::string_view spec);

  // Whether `a`'s fields win over `b`'s for `kind`.
  bool Outranks(Kind kind, std::string_view a, std::string_view b) const;

  // Every kind's order in Parse()'s syntax: equal strings, equal priorities.
  std::string ToString() const;

  // The order for `kind`, highest first (unlisted sources come after it).
  const std::vector<std::string>& Order(Kind kind) const {
    return orders_[static_cast<size_t>(kind)];
  }

 private:
  size_t Rank(Kind kind, std::string_view source) const;

  std::array<std::vector<std::string>, kAllKinds.size() + 1> orders_;
};

}  // namespace wmeta::store
