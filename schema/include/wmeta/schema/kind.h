// Entity kinds and identities: the primary key of the data model is (kind, id).
//
// Thread-safety: plain values and pure functions.

#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "wmeta/schema/error.h"

namespace wmeta {

// Values equal those of fb::Kind and of the fb::Entity union members; they are
// persisted and never renumbered.
enum class Kind : uint8_t {
  kContainer = 1,
  kKubernetesPod = 2,
  kKubernetesMetadata = 3,
  kKubernetesDeployment = 4,
  kEcsTask = 5,
  kContainerImageMetadata = 6,
  kProcess = 7,
  kGpu = 8,
  kKubelet = 9,
  kHost = 10,
};

inline constexpr std::array<Kind, 10> kAllKinds = {
    Kind::kContainer,
    Kind::kKubernetesPod,
    Kind::kKubernetesMetadata,
    Kind::kKubernetesDeployment,
    Kind::kEcsTask,
    Kind::kContainerImageMetadata,
    Kind::kProcess,
    Kind::kGpu,
    Kind::kKubelet,
    Kind::kHost,
};

// The reference's name of a kind: "container", "kubernetes_pod", ...
std::string_view KindName(Kind kind);

// The kind named `name`, or nullopt.
std::optional<Kind> KindFromName(std::string_view name);

// The kind with persisted value `value`, or nullopt when no kind has it.
std::optional<Kind> KindFromValue(uint8_t value);

struct EntityId {
  Kind kind;
  std::string id;

  friend auto operator<=>(const EntityId&, const EntityId&) = default;

  // "kind/id", e.g. "container/3f2a...".
  std::string ToString() const;
};

// Parses "kind/id"; the id may itself contain '/'. kInvalidArgument for an
// unknown kind or an empty id.
Result<EntityId> ParseEntityId(std::string_view text);

}  // namespace wmeta
