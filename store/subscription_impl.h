// The Subscription implementation. Private to store/.

#pragma once

#include <memory>
#include <vector>

#include "change_window.h"
#include "wmeta/store/store.h"
#include "wmeta/store/subscription.h"

namespace wmeta::store::internal {

// A subscription reading `window`, and `store`'s log when it falls behind.
// `snapshot` are the messages to deliver first (a snapshot and its end
// marker); `next` the first offset after them. REQUIRES: `store` and `window`
// outlive the subscription.
std::unique_ptr<Subscription> NewSubscription(const Store& store,
                                              const ChangeWindow& window,
                                              SubscribeOptions options,
                                              std::vector<Message> snapshot,
                                              uint64_t next);

// The message a subscriber with `options` gets for `change`, if any.
std::optional<Message> ToMessage(const SubscribeOptions& options,
                                 const Change& change);

}  // namespace wmeta::store::internal
