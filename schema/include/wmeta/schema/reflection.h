// The schema's own description of itself (the binary schema embedded at build
// time), for code that walks entities generically: JSON, merge, equality, diff.
// Field conventions are the attributes documented in schema/wmeta.fbs.
//
// Thread-safety: everything here is immutable after first use.

#pragma once

#include <flatbuffers/reflection.h>

#include <optional>
#include <string>
#include <string_view>

#include "wmeta/schema/kind.h"

namespace wmeta {

inline constexpr std::string_view kTimeAttribute = "wmeta_time";
inline constexpr std::string_view kMapAttribute = "wmeta_map";
inline constexpr std::string_view kUnionKeyAttribute = "wmeta_union_key";

const reflection::Schema& EmbeddedSchema();

// A fingerprint of the embedded binary schema (16 hex digits of its 64-bit
// FNV-1a): files that carry records name the schema they were written with.
const std::string& SchemaHash();

// The table of `kind`'s entities (wmeta.fb.Container, ...).
const reflection::Object& EntityTable(Kind kind);

// The table a field of type Obj, or vector of Obj, refers to.
const reflection::Object& FieldTable(const reflection::Field& field);

// The value of attribute `name` on `field` ("" for a valueless attribute), or
// nullopt when the field does not carry it.
std::optional<std::string_view> FieldAttribute(const reflection::Field& field,
                                               std::string_view name);

}  // namespace wmeta
