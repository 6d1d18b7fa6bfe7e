// Event builders shared by tests and benchmarks.

#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "wmeta/schema/event.h"

namespace wmeta::testing {

// A container event with only an id (and a name when given). Aborts on failure:
// test inputs are known good.
Event ContainerEvent(std::string_view id, std::string_view name = {},
                     std::string_view source = "runtime",
                     EventType type = EventType::kSet);

// A realistic running docker container (64-hex id, labels, image, state,
// ports), about 400 bytes serialised; `n` varies the id and fields.
Event RealisticContainerEvent(uint64_t n);

// An event from its JSON (DESIGN.md §4 shape). Aborts on invalid JSON: test
// inputs are known good.
Event JsonEvent(std::string_view json);

// A container event from `source` whose entity has `fields` (JSON members,
// e.g. R"("name":"web","pid":1)") besides its kind and id.
Event ContainerFrom(std::string_view source, std::string_view id,
                    std::string_view fields = {},
                    EventType type = EventType::kSet);

// The entity of `event` as JSON (for readable assertions).
std::string EntityJson(const EventView& event);

}  // namespace wmeta::testing
