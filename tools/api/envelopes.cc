#include "wmeta/tools/api/envelopes.h"

#include <fmt/core.h>

namespace wmeta::tools {
namespace {

// "null" for an absent value in JSON output.
std::string JsonOrNull(const std::string& json) {
  return json.empty() ? "null" : json;
}

}  // namespace

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

std::string SourcesOf(const EntityInfo& entity) {
  std::string out;
  for (const auto& layer : entity.layers) {
    if (!out.empty()) out += ",";
    out += layer->view().source();
  }
  return out;
}

Result<std::string> EntityInfoJson(JsonCodec& codec, const EntityInfo& entity,
                                   bool details) {
  WMETA_ASSIGN_OR_RETURN(std::string json,
                         codec.EntityToJson(entity.merged->view()));
  std::string out = fmt::format(
      "{{\"entity\":{},\"create_offset\":{},\"mod_offset\":{},\"version\":{},"
      "\"sources\":{}",
      json, entity.create_offset, entity.mod_offset(), entity.version,
      Quote(SourcesOf(entity)));
  if (details) {
    out += ",\"provenance\":{";
    bool first = true;
    for (const auto& [path, source] : entity.provenance) {
      out += (first ? "" : ",") + Quote(path) + ":" + Quote(source);
      first = false;
    }
    out += "},\"layers\":{";
    first = true;
    for (const auto& layer : entity.layers) {
      WMETA_ASSIGN_OR_RETURN(std::string layer_json,
                             codec.EntityToJson(layer->view()));
      out +=
          (first ? "" : ",") + Quote(layer->view().source()) + ":" + layer_json;
      first = false;
    }
    out += "}";
  }
  return out + "}";
}

std::string HistoryEntryJson(const store::HistoryEntry& entry) {
  EventView r = entry.record->view();
  return fmt::format(
      "{{\"offset\":{},\"ingest_time\":{},\"source\":{},\"type\":\"{}\","
      "\"exists\":{},\"changes\":{}}}",
      r.offset(), Quote(FormatTime(r.ingest_time())), Quote(r.source()),
      EventTypeName(r.type()), entry.exists, ChangesJson(entry.changes));
}

Result<std::string> MessageJson(JsonCodec& codec,
                                const store::Message& message) {
  switch (message.type) {
    case store::Message::Type::kSnapshotEnd:
      return fmt::format("{{\"snapshot_end\":{}}}", message.offset);
    case store::Message::Type::kBookmark:
      return fmt::format("{{\"bookmark\":{}}}", message.offset);
    case store::Message::Type::kEvent:
      break;
  }
  WMETA_ASSIGN_OR_RETURN(std::string json,
                         codec.EventToJson(message.event->view()));
  // Merged entities carry the offset of the record that reported them.
  return fmt::format("{{\"offset\":{},\"type\":\"{}\",\"event\":{}}}",
                     message.offset, EventTypeName(message.event_type), json);
}

}  // namespace wmeta::tools
