#include "wmeta/store/priorities.h"

#include <algorithm>

namespace wmeta::store {
namespace {

// The reference's sources (research/workloadmeta-anchor.md §2). Its merge takes
// each field from the first source in byte order that has it.
const std::vector<std::string>& ReferenceOrder() {
  static const std::vector<std::string> order = [] {
    std::vector<std::string> sources = {"cluster_orchestrator",
                                        "host",
                                        "kubeapiserver",
                                        "language_detection_server",
                                        "local_process_collector",
                                        "node_orchestrator",
                                        "nvml",
                                        "process_collector",
                                        "process_language_collector",
                                        "remote_process_collector",
                                        "remote_workloadmeta",
                                        "runtime",
                                        "service_discovery",
                                        "trivy"};
    std::sort(sources.begin(), sources.end());
    return sources;
  }();
  return order;
}

}  // namespace

SourcePriorities::SourcePriorities() {
  for (Kind kind : kAllKinds)
    orders_[static_cast<size_t>(kind)] = ReferenceOrder();
}

void SourcePriorities::Set(Kind kind, std::vector<std::string> order) {
  orders_[static_cast<size_t>(kind)] = std::move(order);
}

Status SourcePriorities::Parse(std::string_view spec) {
  while (!spec.empty()) {
    size_t end = spec.find(';');
    std::string_view part = spec.substr(0, end);
    spec = end == std::string_view::npos ? std::string_view()
                                         : spec.substr(end + 1);
    if (part.empty()) continue;
    size_t eq = part.find('=');
    auto kind = KindFromName(part.substr(0, eq));
    if (eq == std::string_view::npos || !kind) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "invalid priority '" + std::string(part) +
                           "': expected KIND=SOURCE,SOURCE,...");
    }
    std::vector<std::string> order;
    std::string_view list = part.substr(eq + 1);
    while (!list.empty()) {
      size_t comma = list.find(',');
      std::string_view source = list.substr(0, comma);
      if (!source.empty()) order.emplace_back(source);
      list = comma == std::string_view::npos ? std::string_view()
                                             : list.substr(comma + 1);
    }
    if (order.empty()) {
      return MakeError(
          ErrorCode::kInvalidArgument,
          "invalid priority '" + std::string(part) + "': no sources");
    }
    Set(*kind, std::move(order));
  }
  return {};
}

std::string SourcePriorities::ToString() const {
  std::string out;
  for (Kind kind : kAllKinds) {
    if (!out.empty()) out += ';';
    out += KindName(kind);
    out += '=';
    const auto& order = Order(kind);
    for (size_t i = 0; i < order.size(); ++i) {
      if (i > 0) out += ',';
      out += order[i];
    }
  }
  return out;
}

size_t SourcePriorities::Rank(Kind kind, std::string_view source) const {
  const auto& order = orders_[static_cast<size_t>(kind)];
  auto it = std::find(order.begin(), order.end(), source);
  return static_cast<size_t>(it - order.begin());
}

bool SourcePriorities::Outranks(Kind kind, std::string_view a,
                                std::string_view b) const {
  size_t ra = Rank(kind, a), rb = Rank(kind, b);
  if (ra != rb) return ra < rb;
  return a < b;  // both unlisted (or the same): by name
}

}  // namespace wmeta::store
