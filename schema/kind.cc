#include "wmeta/schema/kind.h"

#include "wmeta/schema/wmeta_generated.h"

namespace wmeta {
namespace {

template <typename FbEnum>
constexpr bool SameValue(Kind kind, FbEnum fb) {
  return static_cast<uint8_t>(kind) == static_cast<uint8_t>(fb);
}

static_assert(SameValue(Kind::kContainer, fb::Kind::container));
static_assert(SameValue(Kind::kKubernetesPod, fb::Kind::kubernetes_pod));
static_assert(SameValue(Kind::kKubernetesMetadata,
                        fb::Kind::kubernetes_metadata));
static_assert(SameValue(Kind::kKubernetesDeployment,
                        fb::Kind::kubernetes_deployment));
static_assert(SameValue(Kind::kEcsTask, fb::Kind::ecs_task));
static_assert(SameValue(Kind::kContainerImageMetadata,
                        fb::Kind::container_image_metadata));
static_assert(SameValue(Kind::kProcess, fb::Kind::process));
static_assert(SameValue(Kind::kGpu, fb::Kind::gpu));
static_assert(SameValue(Kind::kKubelet, fb::Kind::kubelet));
static_assert(SameValue(Kind::kHost, fb::Kind::host));
static_assert(SameValue(Kind::kContainer, fb::Entity::Container));
static_assert(SameValue(Kind::kKubernetesPod, fb::Entity::KubernetesPod));
static_assert(SameValue(Kind::kKubernetesMetadata,
                        fb::Entity::KubernetesMetadata));
static_assert(SameValue(Kind::kKubernetesDeployment,
                        fb::Entity::KubernetesDeployment));
static_assert(SameValue(Kind::kEcsTask, fb::Entity::EcsTask));
static_assert(SameValue(Kind::kContainerImageMetadata,
                        fb::Entity::ContainerImageMetadata));
static_assert(SameValue(Kind::kProcess, fb::Entity::Process));
static_assert(SameValue(Kind::kGpu, fb::Entity::Gpu));
static_assert(SameValue(Kind::kKubelet, fb::Entity::Kubelet));
static_assert(SameValue(Kind::kHost, fb::Entity::Host));
static_assert(static_cast<uint8_t>(fb::Entity::MAX) == kAllKinds.size(),
              "a kind was added to the schema but not to wmeta::Kind");

}  // namespace

std::string_view KindName(Kind kind) {
  // The schema's fb::Kind identifiers are the reference's names.
  return fb::EnumNameKind(static_cast<fb::Kind>(kind));
}

std::optional<Kind> KindFromName(std::string_view name) {
  for (Kind kind : kAllKinds) {
    if (KindName(kind) == name) return kind;
  }
  return std::nullopt;
}

std::optional<Kind> KindFromValue(uint8_t value) {
  if (value < 1 || value > kAllKinds.size()) return std::nullopt;
  return static_cast<Kind>(value);
}

std::string EntityId::ToString() const {
  std::string out(KindName(kind));
  out += '/';
  out += id;
  return out;
}

Result<EntityId> ParseEntityId(std::string_view text) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        "invalid entity '" + std::string(text) + "': expected KIND/ID");
  }
  auto kind = KindFromName(text.substr(0, slash));
  if (!kind) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        "unknown kind '" + std::string(text.substr(0, slash)) + "'");
  }
  if (slash + 1 == text.size()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "invalid entity '" + std::string(text) + "': empty id");
  }
  return EntityId{*kind, std::string(text.substr(slash + 1))};
}

}  // namespace wmeta
