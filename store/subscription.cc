#include <algorithm>
#include <deque>

#include "subscription_impl.h"

namespace wmeta::store::internal {
namespace {

using Clock = std::chrono::steady_clock;

// Records read from the log per Next() while catching up, per message a
// bundle may hold: a narrow filter over a long stretch of log must not keep
// one call from its deadline or its bookmarks.
constexpr size_t kCatchUpReadsPerMessage = 16;

template <typename T>
bool Contains(const std::vector<T>& list, const auto& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

class SubscriptionImpl final : public Subscription {
 public:
  SubscriptionImpl(const Store& store, const ChangeWindow& window,
                   SubscribeOptions options, Snapshot snapshot, uint64_t next)
      : store_(store),
        window_(window),
        options_(std::move(options)),
        pending_(snapshot.messages.begin(), snapshot.messages.end()),
        snapshot_owners_(std::move(snapshot.owners)),
        next_(next),
        last_message_(Clock::now()) {}

  Result<Bundle> Next(Clock::time_point deadline) override {
    if (failed_) return std::unexpected(*failed_);
    Bundle out;
    while (true) {
      if (!pending_.empty()) {
        while (!pending_.empty() && out.size() < options_.max_bundle) {
          out.messages.push_back(pending_.front());
          pending_.pop_front();
        }
        out.owners = snapshot_owners_;
        if (pending_.empty()) snapshot_owners_.clear();
        return Delivered(std::move(out));
      }

      if (catch_up_) {
        Status status = CatchUp(out);
        if (!status) {
          // The subscription ends here; what was read before is delivered
          // first, and next_offset() says where to subscribe again.
          failed_ = status.error();
          if (out.empty()) return std::unexpected(*failed_);
        }
        if (!out.empty()) return Delivered(std::move(out));
        if (catch_up_) {
          // Nothing matched so far: a bookmark or the deadline may be due.
          if (auto idle = Idle(deadline)) return std::move(*idle);
        }
        continue;
      }
      ChangeWindow::Slice slice = window_.Read(next_, options_.max_bundle);
      if (slice.closed) {
        return MakeError(ErrorCode::kUnavailable, "the store is closing");
      }
      if (slice.behind) {
        if (Status status = StartCatchUp(); !status) {
          failed_ = status.error();
          return std::unexpected(*failed_);
        }
        continue;
      }
      bool full = false;
      for (const auto& batch : slice.batches) {
        size_t before = out.size();
        for (const Change& change : batch->changes) {
          uint64_t offset = change.record->view().offset();
          if (offset < next_) continue;
          if (out.size() == options_.max_bundle) {
            full = true;  // the rest next time, from this change on
            break;
          }
          if (auto message = ToMessage(options_, change)) {
            out.messages.push_back(*message);
          }
          next_ = offset + 1;
        }
        if (out.size() > before) out.owners.push_back(batch);
        if (full) break;
      }
      if (!full && slice.through >= next_) next_ = slice.through + 1;
      if (!out.empty()) return Delivered(std::move(out));
      if (auto idle = Idle(deadline)) return std::move(*idle);
      window_.Wait(next_, std::min(deadline, BookmarkDue()));
    }
  }

  uint64_t next_offset() const override { return next_; }
  bool catching_up() const override { return catch_up_ != nullptr; }

 private:
  // Reading the log: records [next_, until], folded into a private view of
  // the state just before them when the subscriber wants merged entities.
  struct CatchUpState {
    std::unique_ptr<View> view;
    std::unique_ptr<log::Reader> reader;
    uint64_t until = 0;
  };

  Bundle Delivered(Bundle out) {
    last_message_ = Clock::now();
    return out;
  }

  Clock::time_point BookmarkDue() const {
    return last_message_ + options_.bookmark_interval;
  }

  // With nothing to deliver: a bookmark when one is due, an empty bundle at
  // the deadline, otherwise nothing (keep looking).
  std::optional<Bundle> Idle(Clock::time_point deadline) {
    auto now = Clock::now();
    if (now >= BookmarkDue()) {
      Bundle out;
      out.messages.push_back(
          Message{.type = Message::Type::kBookmark, .offset = next_ - 1});
      return Delivered(std::move(out));
    }
    if (now >= deadline) return Bundle{};
    return std::nullopt;
  }

  Status StartCatchUp() {
    auto state = std::make_unique<CatchUpState>();
    state->until = window_.applied();
    if (catch_up_ != nullptr && catch_up_->view != nullptr) {
      state->view = std::move(catch_up_->view);
    } else if (!options_.raw) {
      WMETA_ASSIGN_OR_RETURN(state->view, store_.StateAt(next_ - 1));
    }
    WMETA_ASSIGN_OR_RETURN(state->reader,
                           store_.log().NewReader(next_, state->until));
    catch_up_ = std::move(state);
    return {};
  }

  // Appends up to max_bundle messages from the log, reading a bounded number
  // of records. Leaves catch-up once the window covers the next offset again.
  Status CatchUp(Bundle& out) {
    size_t reads = kCatchUpReadsPerMessage * options_.max_bundle;
    while (out.size() < options_.max_bundle && reads-- > 0) {
      WMETA_ASSIGN_OR_RETURN(bool more, catch_up_->reader->Next());
      if (!more) break;
      auto record = std::make_shared<const Event>(
          Event::Copy(catch_up_->reader->event()));
      Change change{.record = record};
      if (catch_up_->view != nullptr) {
        if (auto folded = catch_up_->view->Apply(record)) {
          change = std::move(*folded);
        } else {
          change.changed = false;
        }
      }
      next_ = record->view().offset() + 1;
      if (auto message = ToMessage(options_, change)) {
        out.messages.push_back(*message);
        out.owners.push_back(std::make_shared<const Change>(std::move(change)));
      }
    }
    if (next_ > catch_up_->until) {
      if (next_ >= window_.oldest()) {
        catch_up_.reset();
      } else {
        WMETA_RETURN_IF_ERROR(StartCatchUp());
      }
    }
    return {};
  }

  const Store& store_;
  const ChangeWindow& window_;
  const SubscribeOptions options_;
  std::deque<Message> pending_;
  std::vector<std::shared_ptr<const void>> snapshot_owners_;
  uint64_t next_;
  Clock::time_point last_message_;
  std::unique_ptr<CatchUpState> catch_up_;
  // Set once Next() failed: every later call fails the same way.
  std::optional<Error> failed_;
};

}  // namespace

std::optional<Message> ToMessage(const SubscribeOptions& options,
                                 const Change& change) {
  EventView record = change.record->view();
  const SubscriptionFilter& filter = options.filter;
  if (!filter.kinds.empty() && !Contains(filter.kinds, record.kind())) {
    return std::nullopt;
  }
  Message message{.type = Message::Type::kEvent, .offset = record.offset()};
  if (options.raw) {
    message.event_type = record.type();
    message.event = change.record.get();
  } else if (!change.changed) {
    return std::nullopt;
  } else if (!filter.sources.empty()) {
    if (!Contains(filter.sources, record.source())) return std::nullopt;
    message.event_type = record.type();
    message.event = change.layer.get();
  } else {
    message.event_type = change.type;
    message.event = change.merged.get();
  }
  if (options.raw && !filter.sources.empty() &&
      !Contains(filter.sources, record.source())) {
    return std::nullopt;
  }
  if (filter.type && *filter.type != message.event_type) return std::nullopt;
  if (filter.predicate && !filter.predicate(message.event->view())) {
    return std::nullopt;
  }
  return message;
}

std::unique_ptr<Subscription> NewSubscription(const Store& store,
                                              const ChangeWindow& window,
                                              SubscribeOptions options,
                                              Snapshot snapshot,
                                              uint64_t next) {
  return std::make_unique<SubscriptionImpl>(store, window, std::move(options),
                                            std::move(snapshot), next);
}

}  // namespace wmeta::store::internal
