// Subscriptions: a consumer's ordered, gap-free stream of the store's changes,
// starting from a snapshot of the current state, an offset, a time or now.
//
// Delivery never blocks the writer and never loses an event: the writer
// publishes into a bounded in-memory window of recent changes that every
// subscriber reads at its own pace; a subscriber that falls out of the window
// continues from the log (catching up) and rejoins the window when it has
// caught up. Every message carries an offset; a consumer that reconnects with
// From::kOffset at last + 1 misses nothing and gets nothing twice.
//
// Thread-safety: a Subscription is single-threaded (one consumer). It reads
// the store it came from, so it must be destroyed before that store.

#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "wmeta/schema/error.h"
#include "wmeta/schema/event.h"
#include "wmeta/schema/kind.h"

namespace wmeta::store {

struct SubscriptionFilter {
  // Empty: every kind.
  std::vector<Kind> kinds{};
  // Empty: every source, and events carry the merged entity. Otherwise only
  // these sources' records, and events carry the source's own layer (for an
  // unset, the layer it removed).
  std::vector<std::string> sources{};
  // Only sets, or only unsets.
  std::optional<EventType> type{};
  // In-process only: called with the entity an event would carry.
  std::function<bool(const EventView&)> predicate{};
};

struct SubscribeOptions {
  enum class From {
    // A set for every matching entity (ordered by kind, then id), then a
    // snapshot-end message at the offset S they reflect, then changes from S+1.
    kSnapshot,
    // Changes from `offset` on (inclusive).
    kOffset,
    // Changes from the first record ingested at or after `time`.
    kTime,
    // Changes from now on.
    kLatest,
  };
  From from = From::kSnapshot;
  uint64_t offset = 0;
  Timestamp time{};
  SubscriptionFilter filter{};
  // Deliver the log's records themselves rather than merged entities (the
  // kind, source and type filters still apply; no snapshot).
  bool raw = false;
  // When set, the store's id must be this one (a consumer resuming with
  // offsets from a wiped and recreated store gets kStoreMismatch).
  std::string store_id{};
  // A bookmark is sent when this long passes without a message.
  std::chrono::milliseconds bookmark_interval{1000};
  // The most messages one Next() returns.
  size_t max_bundle = 1024;
};

struct Message {
  enum class Type { kEvent, kSnapshotEnd, kBookmark };
  Type type = Type::kEvent;
  // kEvent: the offset of the record it reports (in a snapshot, the entity's
  // last change). kSnapshotEnd and kBookmark: every matching change up to this
  // offset has been delivered; resume at offset + 1.
  uint64_t offset = 0;
  // kEvent: set or unset, and the entity, layer or record it carries. Valid
  // while the Bundle holding the message lives.
  EventType event_type = EventType::kSet;
  const Event* event = nullptr;
};

// Messages in offset order, and what keeps their events alive: many
// subscribers share the same events, and counting references per message
// would have them all write to the same memory.
struct Bundle {
  std::vector<Message> messages{};
  std::vector<std::shared_ptr<const void>> owners{};

  bool empty() const { return messages.empty(); }
  size_t size() const { return messages.size(); }
  const Message& operator[](size_t i) const { return messages[i]; }
  auto begin() const { return messages.begin(); }
  auto end() const { return messages.end(); }
};

class Subscription {
 public:
  virtual ~Subscription() = default;

  // The next messages, in offset order: as many as are ready (up to
  // max_bundle), waiting for one until `deadline`; a bookmark when the
  // bookmark interval passed without one; empty at the deadline. Errors:
  // kOutOfRange when retention removed records the subscriber had not read
  // yet (naming the first available offset), kUnavailable once the store is
  // closing, kCorruption or kIoError from the log while catching up. An
  // error ends the subscription: later calls return it again, and the
  // consumer resubscribes from next_offset(), having got every message
  // before it.
  virtual Result<Bundle> Next(
      std::chrono::steady_clock::time_point deadline) = 0;

  // The offset of the next change it will deliver.
  virtual uint64_t next_offset() const = 0;
  // Whether it is reading from the log because it fell behind.
  virtual bool catching_up() const = 0;
};

}  // namespace wmeta::store
