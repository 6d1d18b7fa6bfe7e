// The commands on the store's view: list, get, history, diff, watch,
// checkpoint, retention.

#include <fmt/core.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <map>

#include "common.h"
#include "wmeta/schema/json.h"

namespace wmeta::tools {
namespace {

using store::EntityPtr;

// JSON text for a string: quoted, with the escapes JSON requires.
std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<int>(c));
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

// "null" for an absent value in JSON output.
std::string JsonOrNull(const std::string& json) {
  return json.empty() ? "null" : json;
}

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

std::string Sources(const store::EntityState& entity) {
  std::string out;
  for (const auto& layer : entity.layers) {
    if (!out.empty()) out += ",";
    out += layer->view().source();
  }
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

// The view a command reads: now, or after a point.
Result<std::unique_ptr<store::View>> ViewAt(store::Store& store,
                                            const std::optional<Point>& at) {
  if (!at) {
    std::unique_ptr<store::View> copy;
    store.Read([&](const store::View& view) {
      copy = std::make_unique<store::View>(view);
    });
    return copy;
  }
  WMETA_ASSIGN_OR_RETURN(uint64_t offset, ResolvePoint(store.log(), *at));
  return store.StateAt(offset);
}

std::string ProvenanceJson(const store::View& view,
                           const store::EntityState& entity) {
  std::string out = "{";
  for (const auto& [path, source] : view.Provenance(entity)) {
    if (out.size() > 1) out += ",";
    out += Quote(path) + ":" + Quote(source);
  }
  return out + "}";
}

std::string ChangesJson(
    const std::vector<store::HistoryEntry::FieldChange>& changes) {
  std::string out = "[";
  for (const auto& c : changes) {
    if (out.size() > 1) out += ",";
    out +=
        fmt::format("{{\"path\":{},\"before\":{},\"after\":{}}}", Quote(c.path),
                    JsonOrNull(c.before), JsonOrNull(c.after));
  }
  return out + "]";
}

void PrintChanges(
    const std::vector<store::HistoryEntry::FieldChange>& changes) {
  for (const auto& c : changes) {
    fmt::print("    {}: {} -> {}\n", c.path,
               c.before.empty() ? "(absent)" : c.before,
               c.after.empty() ? "(absent)" : c.after);
  }
}

std::atomic<bool> interrupted{false};

extern "C" void OnInterrupt(int) { interrupted = true; }

}  // namespace

int RunList(const GlobalOptions& global, const ListOptions& options) {
  store::ListQuery query;
  if (!options.kind.empty()) {
    query.kind = KindFromName(options.kind);
    if (!query.kind)
      return Fail(
          {ErrorCode::kInvalidArgument, "unknown kind '" + options.kind + "'"});
  }
  query.search = options.search;
  if (!options.selector.empty()) {
    auto selector = store::ParseLabelSelector(options.selector);
    if (!selector) return Fail(selector.error());
    query.selector = std::move(*selector);
  }
  auto store = OpenStore(global, /*read_only=*/true);
  if (!store) return Fail(store.error());
  auto view = ViewAt(**store, options.at);
  if (!view) return Fail(view.error());
  JsonCodec codec;
  if (!options.json) {
    fmt::print("{:<40} {:<30} {:<16} {:>10}{}\n", "ENTITY", "NAME", "NAMESPACE",
               "MODIFIED", options.sources ? "  SOURCES" : "");
  }
  for (const EntityPtr& entity : (*view)->List(query)) {
    EventView e = entity->merged->view();
    if (options.json) {
      auto json = codec.EntityToJson(e);
      if (!json) return Fail(json.error());
      if (options.sources) {
        fmt::print("{{\"entity\":{},\"sources\":{},\"provenance\":{}}}\n",
                   *json, Quote(Sources(*entity)),
                   ProvenanceJson(**view, *entity));
      } else {
        fmt::print("{}\n", *json);
      }
    } else {
      fmt::print("{:<40} {:<30} {:<16} {:>10}{}\n", entity->id.ToString(),
                 e.name(), NamespaceOf(e), entity->mod_offset(),
                 options.sources ? "  " + Sources(*entity) : "");
    }
  }
  return 0;
}

int RunGet(const GlobalOptions& global, const GetOptions& options) {
  auto id = ParseEntityId(options.entity);
  if (!id) return Fail(id.error());
  auto store = OpenStore(global, /*read_only=*/true);
  if (!store) return Fail(store.error());
  auto view = ViewAt(**store, options.at);
  if (!view) return Fail(view.error());
  auto entity = (*view)->Get(*id);
  if (!entity) return Fail(entity.error());
  const store::EntityState& state = **entity;
  JsonCodec codec;
  if (options.json) {
    auto json = codec.EntityToJson(state.merged->view());
    if (!json) return Fail(json.error());
    std::string out = fmt::format(
        "{{\"entity\":{},\"create_offset\":{},\"mod_offset\":{},\"version\":{},"
        "\"sources\":{}",
        *json, state.create_offset, state.mod_offset(), state.version,
        Quote(Sources(state)));
    if (options.sources) {
      out +=
          ",\"provenance\":" + ProvenanceJson(**view, state) + ",\"layers\":{";
      bool first = true;
      for (const auto& layer : state.layers) {
        auto layer_json = codec.EntityToJson(layer->view());
        if (!layer_json) return Fail(layer_json.error());
        out += (first ? "" : ",") + Quote(layer->view().source()) + ":" +
               *layer_json;
        first = false;
      }
      out += "}";
    }
    fmt::print("{}}}\n", out);
    return 0;
  }
  fmt::print("{}\n", state.id.ToString());
  fmt::print("  created at offset {}, modified at offset {} ({}), version {}\n",
             state.create_offset, state.mod_offset(),
             FormatTime(state.merged->view().ingest_time()), state.version);
  fmt::print("  sources: {}\n", Sources(state));
  auto leaves = Leaves(codec, *state.merged);
  if (!leaves) return Fail(leaves.error());
  std::map<std::string, std::string> provenance;
  if (options.sources) {
    for (auto& [path, source] : (*view)->Provenance(state))
      provenance[path] = source;
  }
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
  auto store = OpenStore(global, /*read_only=*/true);
  if (!store) return Fail(store.error());
  auto history = (*store)->History(*id);
  if (!history) return Fail(history.error());
  if (history->empty() && !options.json) {
    fmt::print("no records about {} in the log\n", id->ToString());
  }
  for (const auto& entry : *history) {
    EventView r = entry.record->view();
    if (options.json) {
      fmt::print(
          "{{\"offset\":{},\"ingest_time\":{},\"source\":{},\"type\":\"{}\","
          "\"exists\":{},\"changes\":{}}}\n",
          r.offset(), Quote(FormatTime(r.ingest_time())), Quote(r.source()),
          EventTypeName(r.type()), entry.exists, ChangesJson(entry.changes));
      continue;
    }
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
  auto store = OpenStore(global, /*read_only=*/true);
  if (!store) return Fail(store.error());
  auto from = ResolvePoint((*store)->log(), options.from);
  if (!from) return Fail(from.error());
  auto to = ResolvePoint((*store)->log(), options.to);
  if (!to) return Fail(to.error());
  auto diff = (*store)->Diff(*from, *to);
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
    fmt::print(
        "from offset {} to offset {}: {} added, {} removed, {} changed\n",
        diff->from_offset, diff->to_offset, diff->added.size(),
        diff->removed.size(), diff->changed.size());
  }
  print("added", '+', diff->added);
  print("removed", '-', diff->removed);
  print("changed", '~', diff->changed);
  return 0;
}

int RunWatch(const GlobalOptions& global, const WatchOptions& options) {
  interrupted = false;
  std::signal(SIGINT, OnInterrupt);
  std::signal(SIGTERM, OnInterrupt);
  store::SubscribeOptions subscribe;
  subscribe.raw = options.raw;
  for (const auto& name : options.kinds) {
    auto kind = KindFromName(name);
    if (!kind)
      return Fail({ErrorCode::kInvalidArgument, "unknown kind '" + name + "'"});
    subscribe.filter.kinds.push_back(*kind);
  }
  subscribe.filter.sources = options.sources;
  auto store = OpenStore(global, /*read_only=*/true);
  if (!store) return Fail(store.error());
  using From = store::SubscribeOptions::From;
  bool is_offset = !options.from.empty() &&
                   std::all_of(options.from.begin(), options.from.end(),
                               [](char c) { return c >= '0' && c <= '9'; });
  if (options.from == "snapshot") {
    subscribe.from = From::kSnapshot;
  } else if (options.from == "latest") {
    subscribe.from = From::kLatest;
  } else if (is_offset) {
    subscribe.from = From::kOffset;
    subscribe.offset = std::stoull(options.from);
  } else {
    auto time = ParseTimeOrSpan(options.from);
    if (!time) return Fail(time.error());
    subscribe.from = From::kTime;
    subscribe.time = *time;
  }
  auto sub = (*store)->Subscribe(std::move(subscribe));
  if (!sub) return Fail(sub.error());

  JsonCodec codec;
  uint64_t events = 0;
  while (!interrupted && (options.limit == 0 || events < options.limit)) {
    auto bundle = (*sub)->Next(std::chrono::steady_clock::now() +
                               std::chrono::milliseconds(200));
    if (!bundle) return Fail(bundle.error());
    if (bundle->empty()) {
      // Follow the data dir's writer (the daemon, another push).
      if (auto refreshed = (*store)->Refresh(); !refreshed)
        return Fail(refreshed.error());
      continue;
    }
    for (const store::Message& m : *bundle) {
      if (m.type == store::Message::Type::kSnapshotEnd) {
        if (options.json) {
          fmt::print("{{\"snapshot_end\":{}}}\n", m.offset);
        } else {
          fmt::print("--- snapshot at offset {}; live from here ---\n",
                     m.offset);
        }
        continue;
      }
      if (m.type == store::Message::Type::kBookmark) {
        if (options.json) fmt::print("{{\"bookmark\":{}}}\n", m.offset);
        continue;
      }
      EventView e = m.event->view();
      if (options.json) {
        auto json = codec.EventToJson(e);
        if (!json) return Fail(json.error());
        // Merged entities carry the offset of the record that reported them.
        fmt::print("{{\"offset\":{},\"type\":\"{}\",\"event\":{}}}\n", m.offset,
                   EventTypeName(m.event_type), *json);
      } else {
        fmt::print("{:<10} {:<6} {:<20} {}{}\n", m.offset,
                   EventTypeName(m.event_type), e.source(),
                   e.entity_id().ToString(),
                   e.name().empty() ? "" : " (" + std::string(e.name()) + ")");
      }
      std::fflush(stdout);
      if (options.limit != 0 && ++events >= options.limit) break;
    }
    std::fflush(stdout);
  }
  return 0;
}

int RunCheckpoint(const GlobalOptions& global,
                  const CheckpointOptions& options) {
  auto store = OpenStore(global, /*read_only=*/false);
  if (!store) return Fail(store.error());
  auto info = (*store)->Checkpoint();
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
  auto store = OpenStore(global, /*read_only=*/false);
  if (!store) return Fail(store.error());
  auto result = (*store)->ApplyRetention(policy);
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
