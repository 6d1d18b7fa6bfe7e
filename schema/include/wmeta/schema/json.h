// JSON in and out for events (the shape of DESIGN.md §4), driven by the schema
// itself: FlatBuffers' own parser and text generator, loaded with the binary
// schema embedded at build time. The only adaptation is generic, guided by the
// schema's reflection data: the entity's "kind" key stands for the union type,
// fields marked wmeta_time read and print as RFC 3339 strings, and fields
// marked wmeta_map as JSON objects.
//
//   {"source":"runtime","type":"set","entity":{"kind":"container","id":"3f2a","name":"web"}}
//
// Thread-safety: a JsonCodec is single-threaded; use one per thread.

#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "wmeta/schema/error.h"
#include "wmeta/schema/event.h"

namespace wmeta {

class JsonCodec {
 public:
  JsonCodec();
  ~JsonCodec();
  JsonCodec(const JsonCodec&) = delete;
  JsonCodec& operator=(const JsonCodec&) = delete;

  // Parses one event object. Keys: "source" (required unless `default_source`
  // is given; the object's wins), "type" ("set", the default, or "unset"),
  // "observed_time" (optional), "entity" (required: "kind", "id" and the kind's
  // fields). "offset" and "ingest_time" are accepted and ignored: the log
  // assigns them. null stands for an absent field. Returns kInvalidArgument
  // naming the problem and where it is: malformed JSON (with the column), an
  // unknown key, kind or enum value, a value of the wrong type or out of range,
  // a missing or empty id.
  Result<Event> ParseEvent(std::string_view json,
                           std::string_view default_source = {});

  // Renders `event` as one line of JSON without a trailing newline. "offset"
  // and "ingest_time" appear once the event has been appended. Doubles print
  // with 12 significant digits (FlatBuffers' text generator). kInvalidArgument
  // when a string holds bytes that are not valid UTF-8, or a double is NaN or
  // infinite: JSON can show neither.
  Result<std::string> EventToJson(const EventView& event);

  // Just the entity of `event`, as EventToJson shows it under "entity".
  Result<std::string> EntityToJson(const EventView& event);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// What EventToJson would refuse, found without rendering (a walk of the
// entity, about five times cheaper): kInvalidArgument naming the field when
// text (the source included) is not valid UTF-8, or a double is NaN or
// infinite. For records from outside, checked before they are kept.
Status CheckShowable(const EventView& event);

// One difference between two JSON objects.
struct JsonChange {
  // Dotted path of object keys: "state.running", "labels.app".
  std::string path;
  // The values as JSON; "" where the key is absent.
  std::string before;
  std::string after;
};

// The differences between two JSON objects, key by key: objects are compared
// recursively (also against an absent side, so that changes name leaf
// fields), anything else (arrays included) as a whole. In key order.
// kInvalidArgument when either is not a JSON object.
Result<std::vector<JsonChange>> DiffJson(std::string_view before,
                                         std::string_view after);

}  // namespace wmeta
