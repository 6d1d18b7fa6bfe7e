// The Subscription implementation. Private to store/.

#pragma once

#include <memory>
#include <vector>

#include "change_window.h"
#include "wmeta/store/store.h"
#include "wmeta/store/subscription.h"

namespace wmeta::store::internal {

// A snapshot to deliver first: its messages and what keeps their events
// alive.
struct Snapshot {
  std::vector<Message> messages;
  std::vector<std::shared_ptr<const void>> owners;
};

// A subscription reading `window`, and `store`'s log when it falls behind.
// `snapshot` is delivered first (with its end marker); `next` is the first
// offset after it. REQUIRES: `store` and `window` outlive the subscription.
std::unique_ptr<Subscription> NewSubscription(const Store& store,
                                              const ChangeWindow& window,
                                              SubscribeOptions options,
                                              Snapshot snapshot, uint64_t next);

// The message a subscriber with `options` gets for `change`, if any.
std::optional<Message> ToMessage(const SubscribeOptions& options,
                                 const Change& change);

}  // namespace wmeta::store::internal
