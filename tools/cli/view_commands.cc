// The commands on the store's view: list, get, history, diff, watch,
// checkpoint, retention. Each works on a data dir or against a running wmetad
// (through a Backend).

#include <fmt/core.h>

#include <algorithm>
#include <map>

#include "common.h"
#include "wmeta/schema/json.h"

namespace wmeta::tools {
namespace {

// An entity's fields as "path: value" lines (leaves only), for humans.
Result<std::vector<std::pair<std::string, std::string>>> Leaves(
    JsonCodec& codec, const Event& entity) {
  WMETA_ASSIGN_OR_RETURN(std::string json, codec.EntityToJson(entity.view()));
  WMETA_ASSIGN_OR_RETURN(auto diff, DiffJson("{}", json));
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& change : diff)
    out.emplace_back(std::move(change.path), std::move(change.after));
  return out;
}

std::string NamespaceOf(const EventView& e) {
  return VisitEntity(e.record(), [](const auto& entity) -> std::string {
    if constexpr (requires { entity.namespace_(); }) {
      return entity.namespace_() != nullptr ? entity.namespace_()->str() : "";
    } else {
      return "";
    }
  });
}

Result<PointSpec> PointOf(const std::optional<Point>& at) {
  if (!at) return PointSpec{};
  return ParsePoint(*at);
}

void PrintChanges(
    const std::vector<store::HistoryEntry::FieldChange>& changes) {
  for (const auto& c : changes) {
    fmt::print("    {}: {} -> {}\n", c.path,
               c.before.empty() ? "(absent)" : c.before,
               c.after.empty() ? "(absent)" : c.after);
  }
}

}  // namespace

int RunList(const GlobalOptions& global, const ListOptions& options) {
  ListRequest request;
  if (!options.kind.empty()) {
    request.kind = KindFromName(options.kind);
    if (!request.kind)
      return Fail(
          {ErrorCode::kInvalidArgument, "unknown kind '" + options.kind + "'"});
  }
  request.search = options.search;
  request.selector = options.selector;
  request.owner = options.owner;
  request.provenance = options.sources;
  auto at = PointOf(options.at);
  if (!at) return Fail(at.error());
  request.at = *at;
  auto backend = OpenBackend(global, /*read_only=*/true);
  if (!backend) return Fail(backend.error());
  auto result = (*backend)->List(request);
  if (!result) return Fail(result.error());
  JsonCodec codec;
  if (!options.json) {
    fmt::print("{:<40} {:<30} {:<16} {:>10}{}\n", "ENTITY", "NAME", "NAMESPACE",
               "MODIFIED", options.sources ? "  SOURCES" : "");
  }
  size_t unshowable = 0;
  for (const EntityInfo& entity : result->entities) {
    EventView e = entity.merged->view();
    if (options.json) {
      auto json = options.sources ? EntityInfoJson(codec, entity, true)
                                  : codec.EntityToJson(e);
      if (!json) {
        // One entity that JSON cannot show (text that is not UTF-8, from a
        // store older than the checks on the way in) hides nothing else.
        ++unshowable;
        fmt::print(stderr, "wmeta: {}: {}\n", entity.id().ToString(),
                   json.error().message);
        continue;
      }
      fmt::print("{}\n", *json);
    } else {
      fmt::print("{:<40} {:<30} {:<16} {:>10}{}\n", entity.id().ToString(),
                 e.name(), NamespaceOf(e), entity.mod_offset(),
                 options.sources ? "  " + SourcesOf(entity) : "");
    }
  }
  return unshowable == 0 ? 0 : 1;
}

int RunGet(const GlobalOptions& global, const GetOptions& options) {
  auto id = ParseEntityId(options.entity);
  if (!id) return Fail(id.error());
  auto at = PointOf(options.at);
  if (!at) return Fail(at.error());
  auto backend = OpenBackend(global, /*read_only=*/true);
  if (!backend) return Fail(backend.error());
  auto entity = (*backend)->Get(*id, *at, options.sources);
  if (!entity) return Fail(entity.error());
  JsonCodec codec;
  if (options.json) {
    auto json = EntityInfoJson(codec, *entity, options.sources);
    if (!json) return Fail(json.error());
    fmt::print("{}\n", *json);
    return 0;
  }
  fmt::print("{}\n", entity->id().ToString());
  fmt::print("  created at offset {}, modified at offset {} ({}), version {}\n",
             entity->create_offset, entity->mod_offset(),
             FormatTime(entity->merged->view().ingest_time()), entity->version);
  fmt::print("  sources: {}\n", SourcesOf(*entity));
  auto leaves = Leaves(codec, *entity->merged);
  if (!leaves) return Fail(leaves.error());
  std::map<std::string, std::string> provenance(entity->provenance.begin(),
                                                entity->provenance.end());
  // Provenance names map keys as path.key, like the leaves, and union list
  // elements as path[key]: a list shows the sources of its elements.
  auto sources_of = [&](const std::string& path) {
    if (auto it = provenance.find(path); it != provenance.end())
      return it->second;
    std::string out;
    for (auto it = provenance.lower_bound(path + "[");
         it != provenance.end() && it->first.starts_with(path + "["); ++it) {
      if (out.find(it->second) == std::string::npos) {
        out += (out.empty() ? "" : ",") + it->second;
      }
    }
    return out;
  };
  for (const auto& [path, value] : *leaves) {
    if (path == "kind" || path == "id") continue;
    std::string from = options.sources ? sources_of(path) : "";
    fmt::print("  {}: {}{}\n", path, value,
               from.empty() ? "" : "  [" + from + "]");
  }
  return 0;
}

int RunHistory(const GlobalOptions& global, const HistoryOptions& options) {
  auto id = ParseEntityId(options.entity);
  if (!id) return Fail(id.error());
  auto backend = OpenBackend(global, /*read_only=*/true);
  if (!backend) return Fail(backend.error());
  auto history = (*backend)->History(*id);
  if (!history) return Fail(history.error());
  if (history->empty() && !options.json) {
    fmt::print("no records about {} in the log\n", id->ToString());
  }
  for (const auto& entry : *history) {
    if (options.json) {
      fmt::print("{}\n", HistoryEntryJson(entry));
      continue;
    }
    EventView r = entry.record->view();
    fmt::print("{}  offset {}  {} {}{}\n", FormatTime(r.ingest_time()),
               r.offset(), r.source(), EventTypeName(r.type()),
               entry.exists ? "" : " (gone)");
    if (entry.changes.empty())
      fmt::print("    (no change to the merged entity)\n");
    PrintChanges(entry.changes);
  }
  return 0;
}

int RunDiff(const GlobalOptions& global, const DiffOptions& options) {
  auto from = ParsePoint(options.from);
  if (!from) return Fail(from.error());
  auto to = ParsePoint(options.to);
  if (!to) return Fail(to.error());
  auto backend = OpenBackend(global, /*read_only=*/true);
  if (!backend) return Fail(backend.error());
  auto diff = (*backend)->Diff(*from, *to);
  if (!diff) return Fail(diff.error());
  auto print = [&](const char* change, char mark,
                   const std::vector<store::EntityDiff>& list) {
    for (const auto& d : list) {
      if (options.json) {
        fmt::print(
            "{{\"change\":\"{}\",\"kind\":\"{}\",\"id\":{},\"changes\":{}}}\n",
            change, KindName(d.id.kind), Quote(d.id.id),
            ChangesJson(d.changes));
      } else {
        fmt::print("{} {}\n", mark, d.id.ToString());
        if (mark == '~') PrintChanges(d.changes);
      }
    }
  };
  if (!options.json) {
    // A time asked for is shown with the offset it stands for: the view
    // after the last record ingested by then.
    auto point = [](const PointSpec& p, uint64_t offset) {
      return p.time ? fmt::format("{} (offset {})", FormatTime(*p.time), offset)
                    : fmt::format("offset {}", offset);
    };
    fmt::print("from {} to {}: {} added, {} removed, {} changed\n",
               point(*from, diff->from_offset), point(*to, diff->to_offset),
               diff->added.size(), diff->removed.size(), diff->changed.size());
  }
  print("added", '+', diff->added);
  print("removed", '-', diff->removed);
  print("changed", '~', diff->changed);
  return 0;
}

int RunWatch(const GlobalOptions& global, const WatchOptions& options) {
  CatchInterrupts();
  WatchRequest request;
  request.raw = options.raw;
  for (const auto& name : options.kinds) {
    auto kind = KindFromName(name);
    if (!kind)
      return Fail({ErrorCode::kInvalidArgument, "unknown kind '" + name + "'"});
    request.kinds.push_back(*kind);
  }
  request.sources = options.sources;
  if (auto from = ParseWatchFrom(options.from, request); !from) {
    return Fail(from.error());
  }
  auto backend = OpenBackend(global, /*read_only=*/true);
  if (!backend) return Fail(backend.error());
  auto stream = (*backend)->Watch(request);
  if (!stream) return Fail(stream.error());

  JsonCodec codec;
  uint64_t events = 0;
  size_t unshowable = 0;
  while (!Interrupted() && (options.limit == 0 || events < options.limit)) {
    auto bundle = (*stream)->Next(std::chrono::steady_clock::now() +
                                  std::chrono::milliseconds(200));
    if (!bundle) return Fail(bundle.error());
    if (!*bundle) break;
    for (const store::Message& m : **bundle) {
      if (options.json) {
        auto line = MessageJson(codec, m);
        if (line) {
          fmt::print("{}\n", *line);
        } else {
          // Reported, and the stream goes on (see RunList).
          ++unshowable;
          fmt::print(stderr, "wmeta: offset {}: {}\n", m.offset,
                     line.error().message);
        }
      } else if (m.type == store::Message::Type::kSnapshotEnd) {
        fmt::print("--- snapshot at offset {}; live from here ---\n", m.offset);
      } else if (m.type == store::Message::Type::kEvent) {
        EventView e = m.event->view();
        fmt::print("{:<10} {:<6} {:<20} {}{}\n", m.offset,
                   EventTypeName(m.event_type), e.source(),
                   e.entity_id().ToString(),
                   e.name().empty() ? "" : " (" + std::string(e.name()) + ")");
      }
      if (m.type == store::Message::Type::kEvent && options.limit != 0 &&
          ++events >= options.limit) {
        break;
      }
    }
    std::fflush(stdout);
  }
  return unshowable == 0 ? 0 : 1;
}

int RunCheckpoint(const GlobalOptions& global,
                  const CheckpointOptions& options) {
  auto backend = OpenBackend(global, /*read_only=*/false);
  if (!backend) return Fail(backend.error());
  auto info = (*backend)->Checkpoint();
  if (!info) return Fail(info.error());
  if (options.json) {
    fmt::print("{{\"offset\":{},\"entities\":{},\"bytes\":{},\"path\":{}}}\n",
               info->offset, info->entities, info->bytes, Quote(info->path));
  } else {
    fmt::print("checkpoint at offset {}: {} entities, {} ({})\n", info->offset,
               info->entities, HumanBytes(info->bytes), info->path);
  }
  return 0;
}

int RunRetention(const GlobalOptions& global, const RetentionOptions& options) {
  store::RetentionPolicy policy;
  if (!options.max_age.empty()) {
    auto age = ParseDuration(options.max_age);
    if (!age) return Fail(age.error());
    policy.max_age = std::chrono::duration_cast<std::chrono::seconds>(*age);
  }
  policy.max_records = options.max_records;
  if (!options.max_bytes.empty()) {
    auto bytes = ParseBytes(options.max_bytes);
    if (!bytes) return Fail(bytes.error());
    policy.max_bytes = *bytes;
  }
  auto backend = OpenBackend(global, /*read_only=*/false);
  if (!backend) return Fail(backend.error());
  auto result = (*backend)->Retention(policy);
  if (!result) return Fail(result.error());
  if (options.json) {
    fmt::print(
        "{{\"old_first_offset\":{},\"new_first_offset\":{},\"records_removed\":"
        "{}}}\n",
        result->old_first_offset, result->new_first_offset,
        result->records_removed);
  } else if (result->records_removed == 0) {
    fmt::print(
        "nothing removed: the log starts at offset {} (retention removes "
        "records only "
        "up to a checkpoint; `wmeta checkpoint` writes one)\n",
        result->new_first_offset);
  } else {
    fmt::print("removed {} records: the log now starts at offset {}\n",
               result->records_removed, result->new_first_offset);
  }
  return 0;
}

}  // namespace wmeta::tools
