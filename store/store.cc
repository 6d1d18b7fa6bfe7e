#include "wmeta/store/store.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
#include <shared_mutex>
#include <system_error>
#include <thread>
#include <unordered_map>

#include "change_window.h"
#include "checkpoint.h"
#include "entity_ops.h"
#include "subscription_impl.h"
#include "wmeta/schema/json.h"

namespace wmeta::store {
namespace {

using internal::EntityOf;

using internal::ChangeWindow;
using internal::CheckpointFile;
using internal::CheckpointOrigin;

// How long the checkpointer waits after a failed checkpoint (a full disk, say)
// before it tries again, instead of retrying at every commit.
constexpr auto kCheckpointRetryPause = std::chrono::seconds(1);

// The field-level changes between two versions of a merged entity (either
// may be null: absent).
Result<std::vector<HistoryEntry::FieldChange>> FieldChanges(
    JsonCodec& codec, const Event* before, const Event* after) {
  std::string a = "{}", b = "{}";
  if (before != nullptr) {
    WMETA_ASSIGN_OR_RETURN(a, codec.EntityToJson(before->view()));
  }
  if (after != nullptr) {
    WMETA_ASSIGN_OR_RETURN(b, codec.EntityToJson(after->view()));
  }
  WMETA_ASSIGN_OR_RETURN(std::vector<JsonChange> diff, DiffJson(a, b));
  std::vector<HistoryEntry::FieldChange> out;
  out.reserve(diff.size());
  for (auto& change : diff) {
    if (change.path == "kind" || change.path == "id") continue;
    out.push_back({std::move(change.path), std::move(change.before),
                   std::move(change.after)});
  }
  return out;
}

class StoreImpl final : public Store {
 public:
  StoreImpl(std::string dir, Options options, std::unique_ptr<log::Log> log)
      : dir_(std::move(dir)),
        options_(std::move(options)),
        log_(std::move(log)),
        view_(options_.priorities) {}

  ~StoreImpl() override;

  Status Init();

  Result<ApplyResult> Apply(std::span<const Event> events) override;
  void Read(const std::function<void(const View&)>& fn) const override {
    std::shared_lock lock(view_mu_);
    fn(view_);
  }
  Result<std::unique_ptr<View>> StateAt(uint64_t offset) const override;
  // StateAt, with files_mu_ held (shared).
  Result<std::unique_ptr<View>> StateAtLocked(uint64_t offset) const;
  Result<std::unique_ptr<View>> StateAtTime(Timestamp time) const override;
  Result<uint64_t> OffsetAtTime(Timestamp time) const override;
  Result<std::vector<HistoryEntry>> History(const EntityId& id) const override;
  Result<DiffResult> Diff(uint64_t from, uint64_t to) const override;
  Result<std::unique_ptr<Subscription>> Subscribe(
      SubscribeOptions options) override;
  Result<CheckpointInfo> Checkpoint() override;
  std::vector<CheckpointInfo> Checkpoints() const override;
  Result<RetentionResult> ApplyRetention(
      const RetentionPolicy& policy) override;
  Status Refresh() override;
  log::Log& log() const override { return *log_; }
  uint64_t applied_offset() const override {
    std::shared_lock lock(view_mu_);
    return view_.applied_offset();
  }

 private:
  // One Apply call waiting for its group to be committed.
  struct Pending {
    std::span<const Event> events;
    bool done = false;
    Result<ApplyResult> result = ApplyResult{};
    std::condition_variable cv;
  };

  void Commit(const std::vector<Pending*>& group);
  // Folds `records`, the next ones in the log up to `last`, into the view and
  // hands the changes to the subscriptions.
  void FoldAndPublish(std::vector<std::shared_ptr<const Event>> records,
                      uint64_t last);
  // What a checkpoint after `offset` must match to be used with the log as it
  // is now.
  Result<CheckpointOrigin> OriginAt(uint64_t offset) const;
  // A view of the records after a usable checkpoint at or below `offset` (or
  // none), not yet folded up to `offset`. Requires files_mu_.
  Result<std::unique_ptr<View>> BaseFor(uint64_t offset) const;
  // Folds records (view.applied_offset(), offset] into `view`.
  Status Replay(View& view, uint64_t offset) const;
  // kOutOfRange, naming `asked`, unless the log still holds every record
  // ingested at or after `since`, given that the first one it holds at or
  // after then is `at`.
  Status CheckKeptSince(Timestamp since, uint64_t at, Timestamp asked) const;
  void CheckpointLoop();

  const std::string dir_;
  const Options options_;
  const std::unique_ptr<log::Log> log_;

  mutable std::shared_mutex view_mu_;
  // Guarded by view_mu_; changed only by the leader of a commit group.
  View view_;
  std::unique_ptr<ChangeWindow> window_;

  std::mutex write_mu_;
  // Guarded by write_mu_: the Apply calls waiting; the front one leads.
  std::deque<Pending*> pending_;
  // Guarded by write_mu_: a commit failed after its records reached the log,
  // so the view no longer matches it; only reopening repairs that.
  bool broken_ = false;

  // Checkpoint writes and retention hold it exclusively, rebuilding past views
  // shared: the checkpoints and records a rebuild reads stay put.
  mutable std::shared_mutex files_mu_;
  std::atomic<uint64_t> records_since_checkpoint_{0};
  std::thread checkpointer_;
  std::mutex checkpointer_mu_;
  std::condition_variable checkpointer_cv_;
  bool stopping_ = false;
};

StoreImpl::~StoreImpl() {
  if (checkpointer_.joinable()) {
    {
      std::lock_guard lock(checkpointer_mu_);
      stopping_ = true;
    }
    checkpointer_cv_.notify_all();
    checkpointer_.join();
  }
  if (window_ != nullptr) window_->Close();
  if (!options_.log.read_only && view_.applied_offset() > 0) {
    auto newest = internal::ListCheckpoints(internal::CheckpointDir(dir_));
    if (newest.empty() || newest[0].offset < view_.applied_offset()) {
      // A clean close leaves a checkpoint, so the next open replays nothing;
      // failing to write one costs only a longer replay.
      (void)Checkpoint();
    }
  }
}

Status StoreImpl::Init() {
  if (!options_.log.read_only) {
    internal::RemoveUnusable(internal::CheckpointDir(dir_),
                             log_->last_offset());
  }
  auto base = BaseFor(log_->last_offset());
  if (!base && base.error().code == ErrorCode::kOutOfRange) {
    return MakeError(ErrorCode::kCorruption,
                     "cannot rebuild the view: " + base.error().message);
  }
  if (!base) return std::unexpected(base.error());
  WMETA_RETURN_IF_ERROR(Replay(**base, log_->last_offset()));
  view_ = std::move(**base);
  window_ = std::make_unique<ChangeWindow>(
      std::max<size_t>(options_.live_changes, 1), view_.applied_offset());
  bool periodic = options_.checkpoint_every_records > 0 ||
                  options_.checkpoint_every.count() > 0;
  if (!options_.log.read_only && periodic) {
    try {
      checkpointer_ = std::thread([this] { CheckpointLoop(); });
    } catch (const std::system_error& e) {
      return MakeError(
          ErrorCode::kUnavailable,
          std::string("cannot start the checkpointer: ") + e.what());
    }
  }
  return {};
}

Result<CheckpointOrigin> StoreImpl::OriginAt(uint64_t offset) const {
  CheckpointOrigin origin{log_->store_id(), offset, Timestamp{},
                          options_.priorities.ToString()};
  if (offset + 1 == log_->first_offset() && offset > 0) {
    // Trimmed: the checkpoint retention left there is all that remembers it.
    origin.ingest_time.reset();
    for (const CheckpointFile& file :
         internal::ListCheckpoints(internal::CheckpointDir(dir_))) {
      if (file.offset == offset) origin.ingest_time = file.ingest_time;
    }
  } else if (offset > 0) {
    WMETA_ASSIGN_OR_RETURN(Event record, log_->Read(offset));
    origin.ingest_time = record.view().ingest_time();
  }
  return origin;
}

Result<std::unique_ptr<View>> StoreImpl::BaseFor(uint64_t offset) const {
  uint64_t first = log_->first_offset();
  for (const CheckpointFile& file :
       internal::ListCheckpoints(internal::CheckpointDir(dir_))) {
    // Usable when it is not past `offset` and the records after it are kept.
    if (file.offset > offset || file.offset + 1 < first) continue;
    WMETA_ASSIGN_OR_RETURN(CheckpointOrigin origin, OriginAt(file.offset));
    auto view = internal::ReadCheckpoint(file, origin, options_.priorities);
    if (view) return view;
    // A damaged or unfitting checkpoint is skipped: an older one, or the log,
    // will do.
  }
  if (first > 1) {
    return MakeError(
        ErrorCode::kOutOfRange,
        "offset " + std::to_string(offset) +
            " is below what this store can rebuild: records before " +
            std::to_string(first) +
            " were removed and no intact checkpoint covers them");
  }
  return std::make_unique<View>(options_.priorities);
}

Status StoreImpl::Replay(View& view, uint64_t offset) const {
  if (offset <= view.applied_offset()) return {};
  WMETA_ASSIGN_OR_RETURN(auto reader,
                         log_->NewReader(view.applied_offset() + 1, offset));
  // Only the end state matters: each entity is merged once, at the end.
  view.DeferMerges();
  while (true) {
    auto more = reader->Next();
    if (!more) {
      view.Settle();
      return std::unexpected(more.error());
    }
    if (!*more) break;
    view.Apply(std::make_shared<const Event>(Event::Copy(reader->event())));
  }
  view.Settle();
  return {};
}

Result<ApplyResult> StoreImpl::Apply(std::span<const Event> events) {
  if (options_.log.read_only) {
    return MakeError(ErrorCode::kUnavailable, "the store was opened read-only");
  }
  if (events.empty()) return ApplyResult{};
  Pending self;
  self.events = events;
  std::unique_lock lock(write_mu_);
  pending_.push_back(&self);
  while (!self.done && pending_.front() != &self) self.cv.wait(lock);
  if (self.done) return std::move(self.result);
  // This call leads: it commits its events and those queued behind it.
  std::vector<Pending*> group(pending_.begin(), pending_.end());
  bool broken = broken_;
  lock.unlock();
  if (broken) {
    for (Pending* p : group) {
      p->result = MakeError(ErrorCode::kUnavailable,
                            "an earlier commit failed half-way; reopen the "
                            "store to rebuild the view from the log");
    }
  } else {
    try {
      Commit(group);
    } catch (const std::exception& e) {  // bad_alloc: nothing else throws
      for (Pending* p : group) {
        p->result = MakeError(ErrorCode::kInternal,
                              std::string("commit failed: ") + e.what());
      }
      broken = true;
    }
  }
  lock.lock();
  broken_ = broken_ || broken;
  for (Pending* p : group) {
    p->done = true;
    pending_.pop_front();
    if (p != &self) p->cv.notify_one();
  }
  if (!pending_.empty()) pending_.front()->cv.notify_one();
  return std::move(self.result);
}

void StoreImpl::Commit(const std::vector<Pending*>& group) {
  // Drop what changes nothing, judged against the view and the group's own
  // earlier events: (kind, id, source) -> the layer it leaves (null: none).
  std::unordered_map<std::string, const Event*> overlay;
  std::vector<const Event*> kept;
  std::vector<size_t> kept_per_call;
  for (Pending* p : group) {
    size_t before = kept.size();
    ApplyResult& result = *p->result;
    for (const Event& event : p->events) {
      EventView e = event.view();
      std::string key;
      key.push_back(static_cast<char>(e.kind()));
      key.append(e.id());
      key.push_back('\0');
      key.append(e.source());
      const Event* current;
      if (auto it = overlay.find(key); it != overlay.end()) {
        current = it->second;
      } else {
        current = view_.Layer({e.kind(), std::string(e.id())}, e.source());
      }
      bool is_set = e.type() == EventType::kSet;
      bool noop = is_set
                      ? current != nullptr &&
                            internal::EntitiesEqual(
                                e.kind(), EntityOf(*current), EntityOf(event))
                      : current == nullptr;
      if (noop) {
        ++result.noops;
        continue;
      }
      overlay[key] = is_set ? &event : nullptr;
      kept.push_back(&event);
    }
    kept_per_call.push_back(kept.size() - before);
  }
  if (kept.empty()) return;

  auto appended = log_->Append(kept);
  if (!appended) {
    // Calls whose events were all no-ops asked nothing of the log.
    for (size_t i = 0; i < group.size(); ++i) {
      if (kept_per_call[i] > 0) {
        group[i]->result = std::unexpected(appended.error());
      }
    }
    return;
  }
  std::vector<std::shared_ptr<const Event>> records;
  records.reserve(kept.size());
  for (size_t i = 0; i < kept.size(); ++i) {
    records.push_back(std::make_shared<const Event>(
        kept[i]->Stamped(appended->first_offset + i, appended->ingest_time)));
  }
  FoldAndPublish(std::move(records), appended->last_offset);

  uint64_t next = appended->first_offset;
  for (size_t i = 0; i < group.size(); ++i) {
    ApplyResult& result = *group[i]->result;
    result.appended = kept_per_call[i];
    if (result.appended > 0) {
      result.synced = appended->synced;
      result.first_offset = next;
      result.last_offset = next + result.appended - 1;
      next += result.appended;
    }
  }
  uint64_t since = records_since_checkpoint_ += kept.size();
  if (options_.checkpoint_every_records > 0 &&
      since >= options_.checkpoint_every_records) {
    // Under the mutex, so the checkpointer cannot miss it between testing the
    // count and going to sleep.
    std::lock_guard lock(checkpointer_mu_);
    checkpointer_cv_.notify_all();
  }
}

void StoreImpl::FoldAndPublish(
    std::vector<std::shared_ptr<const Event>> records, uint64_t last) {
  std::vector<Change> changes;
  changes.reserve(records.size());
  {
    std::unique_lock lock(view_mu_);
    for (auto& record : records) {
      if (auto change = view_.Apply(record)) {
        changes.push_back(std::move(*change));
      } else {
        changes.push_back(
            Change{.record = std::move(record), .changed = false});
      }
    }
  }
  window_->Publish(std::move(changes), last);
}

Status StoreImpl::Refresh() {
  if (!options_.log.read_only) return {};
  // Refreshes fold like a writer's commits, so they must not overlap.
  std::lock_guard write_lock(write_mu_);
  WMETA_RETURN_IF_ERROR(log_->Refresh());
  uint64_t applied = view_.applied_offset();
  uint64_t last = log_->last_offset();
  if (last <= applied) return {};
  WMETA_ASSIGN_OR_RETURN(auto reader, log_->NewReader(applied + 1, last));
  // Read first, fold after: the view's lock is not held across reads, and
  // what was read before an error is still folded.
  std::vector<std::shared_ptr<const Event>> records;
  Status status;
  while (true) {
    auto more = reader->Next();
    if (!more) {
      status = std::unexpected(more.error());
      break;
    }
    if (!*more) break;
    records.push_back(
        std::make_shared<const Event>(Event::Copy(reader->event())));
  }
  if (!records.empty()) {
    uint64_t read_up_to = records.back()->view().offset();
    FoldAndPublish(std::move(records), read_up_to);
  }
  return status;
}

Result<std::unique_ptr<View>> StoreImpl::StateAt(uint64_t offset) const {
  std::shared_lock files_lock(files_mu_);
  return StateAtLocked(offset);
}

Result<std::unique_ptr<View>> StoreImpl::StateAtLocked(uint64_t offset) const {
  uint64_t last = log_->last_offset();
  if (offset > last) {
    return MakeError(ErrorCode::kFutureOffset,
                     "offset " + std::to_string(offset) +
                         " is beyond the last offset " + std::to_string(last));
  }
  {
    std::shared_lock lock(view_mu_);
    if (view_.applied_offset() == offset) return std::make_unique<View>(view_);
  }
  // The view just before the first record kept is the checkpoint retention
  // left there; below it, nothing is left to rebuild from.
  if (offset + 1 < log_->first_offset()) {
    return MakeError(ErrorCode::kOutOfRange,
                     "offset " + std::to_string(offset) +
                         " is below the first available offset " +
                         std::to_string(log_->first_offset()));
  }
  WMETA_ASSIGN_OR_RETURN(std::unique_ptr<View> view, BaseFor(offset));
  WMETA_RETURN_IF_ERROR(Replay(*view, offset));
  return view;
}

Result<std::unique_ptr<View>> StoreImpl::StateAtTime(Timestamp time) const {
  WMETA_ASSIGN_OR_RETURN(uint64_t offset, OffsetAtTime(time));
  return StateAt(offset);
}

Result<uint64_t> StoreImpl::OffsetAtTime(Timestamp time) const {
  auto just_after = time + std::chrono::nanoseconds(1);
  WMETA_ASSIGN_OR_RETURN(uint64_t after, log_->OffsetAtTime(just_after));
  WMETA_RETURN_IF_ERROR(CheckKeptSince(just_after, after, time));
  return after - 1;
}

Status StoreImpl::CheckKeptSince(Timestamp since, uint64_t at,
                                 Timestamp asked) const {
  uint64_t first = log_->first_offset();
  if (at != first || first <= 1) return {};
  // Records before `first` are gone; they were all older than `since` if the
  // last of them was, and the checkpoint retention left at first - 1 says
  // when that one was ingested.
  for (const CheckpointFile& file :
       internal::ListCheckpoints(internal::CheckpointDir(dir_))) {
    if (file.offset + 1 == first && file.ingest_time < since) return {};
  }
  return MakeError(ErrorCode::kOutOfRange,
                   FormatTime(asked) +
                       " is before the records this store "
                       "still holds: those before offset " +
                       std::to_string(first) + " were removed");
}

Result<std::vector<HistoryEntry>> StoreImpl::History(const EntityId& id) const {
  std::shared_lock files_lock(files_mu_);
  WMETA_ASSIGN_OR_RETURN(std::vector<uint64_t> offsets,
                         log_->EntityOffsets(id));
  // The entity as it was before the first record the log keeps: from the
  // checkpoint retention left exactly there (none is needed from offset 1).
  View view(options_.priorities);
  uint64_t first = log_->first_offset();
  if (first > 1) {
    auto base = BaseFor(first - 1);
    if (!base) {
      return MakeError(base.error().code,
                       "cannot tell the entity's state before offset " +
                           std::to_string(first) + ": " + base.error().message);
    }
    if (auto entity = (*base)->Get(id)) view.Restore(*entity);
    view.SetApplied(first - 1);
  }
  JsonCodec codec;
  std::vector<HistoryEntry> history;
  for (uint64_t offset : offsets) {
    WMETA_ASSIGN_OR_RETURN(Event record, log_->Read(offset));
    auto before = view.Get(id);
    std::shared_ptr<const Event> previous =
        before ? (*before)->merged : nullptr;
    auto change = view.Apply(std::make_shared<const Event>(std::move(record)));
    if (!change) continue;  // a record that changed nothing
    HistoryEntry entry;
    entry.record = change->record;
    entry.merged = change->merged;
    entry.exists = change->type == EventType::kSet;
    WMETA_ASSIGN_OR_RETURN(
        entry.changes,
        FieldChanges(codec, previous.get(),
                     entry.exists ? entry.merged.get() : nullptr));
    history.push_back(std::move(entry));
  }
  return history;
}

Result<DiffResult> StoreImpl::Diff(uint64_t from, uint64_t to) const {
  // One lock for both views: retention cannot remove the records between.
  std::shared_lock files_lock(files_mu_);
  WMETA_ASSIGN_OR_RETURN(std::unique_ptr<View> a, StateAtLocked(from));
  std::unique_ptr<View> b;
  if (from <= to && to <= log_->last_offset()) {
    // Forward from the first view: only the records between are read, and
    // the entities they did not touch stay shared, equal by pointer below.
    b = std::make_unique<View>(*a);
    WMETA_RETURN_IF_ERROR(Replay(*b, to));
  } else {
    WMETA_ASSIGN_OR_RETURN(b, StateAtLocked(to));
  }
  DiffResult result;
  result.from_offset = from;
  result.to_offset = to;
  std::vector<EntityPtr> before = a->List({}), after = b->List({});
  JsonCodec codec;
  size_t i = 0, j = 0;
  while (i < before.size() || j < after.size()) {
    if (j == after.size() ||
        (i < before.size() && before[i]->id < after[j]->id)) {
      EntityDiff d{before[i]->id, before[i]->merged, nullptr, {}};
      WMETA_ASSIGN_OR_RETURN(d.changes,
                             FieldChanges(codec, d.before.get(), nullptr));
      result.removed.push_back(std::move(d));
      ++i;
    } else if (i == before.size() || after[j]->id < before[i]->id) {
      EntityDiff d{after[j]->id, nullptr, after[j]->merged, {}};
      WMETA_ASSIGN_OR_RETURN(d.changes,
                             FieldChanges(codec, nullptr, d.after.get()));
      result.added.push_back(std::move(d));
      ++j;
    } else {
      if (before[i]->merged != after[j]->merged &&
          !internal::EntitiesEqual(before[i]->id.kind,
                                   EntityOf(*before[i]->merged),
                                   EntityOf(*after[j]->merged))) {
        EntityDiff d{after[j]->id, before[i]->merged, after[j]->merged, {}};
        WMETA_ASSIGN_OR_RETURN(
            d.changes, FieldChanges(codec, d.before.get(), d.after.get()));
        result.changed.push_back(std::move(d));
      }
      ++i;
      ++j;
    }
  }
  return result;
}

Result<std::unique_ptr<Subscription>> StoreImpl::Subscribe(
    SubscribeOptions options) {
  if (!options.store_id.empty() && options.store_id != log_->store_id()) {
    return MakeError(ErrorCode::kStoreMismatch,
                     "this store is " + log_->store_id() + ", not " +
                         options.store_id +
                         ": offsets of another store do not apply here");
  }
  if (options.max_bundle == 0) options.max_bundle = 1;
  using From = SubscribeOptions::From;
  internal::Snapshot snapshot;
  uint64_t next = 0;
  switch (options.from) {
    case From::kSnapshot: {
      if (options.raw) {
        return MakeError(
            ErrorCode::kInvalidArgument,
            "a raw subscription starts at an offset, a time or now, "
            "not at a snapshot");
      }
      const SubscriptionFilter& filter = options.filter;
      auto wanted_kind = [&](Kind kind) {
        return filter.kinds.empty() ||
               std::find(filter.kinds.begin(), filter.kinds.end(), kind) !=
                   filter.kinds.end();
      };
      // Only the pointers are taken under the lock: writers wait for that,
      // not for the filter or the sort.
      std::vector<EntityPtr> entities;
      uint64_t at;
      {
        std::shared_lock lock(view_mu_);
        at = view_.applied_offset();
        if (filter.type != EventType::kUnset) {
          view_.ForEach([&](const EntityPtr& entity) {
            if (wanted_kind(entity->id.kind)) entities.push_back(entity);
          });
        }
      }
      std::sort(
          entities.begin(), entities.end(),
          [](const EntityPtr& a, const EntityPtr& b) { return a->id < b->id; });
      for (const EntityPtr& entity : entities) {
        auto add = [&](const std::shared_ptr<const Event>& event,
                       uint64_t offset) {
          if (filter.predicate && !filter.predicate(event->view())) return;
          snapshot.owners.push_back(event);
          snapshot.messages.push_back(
              {Message::Type::kEvent, offset, EventType::kSet, event.get()});
        };
        if (filter.sources.empty()) {
          add(entity->merged, entity->mod_offset());
        } else {
          // A source's view of the entity last changed with its own record.
          for (const auto& layer : entity->layers) {
            std::string_view source = layer->view().source();
            if (std::find(filter.sources.begin(), filter.sources.end(),
                          source) != filter.sources.end()) {
              add(layer, layer->view().offset());
            }
          }
        }
      }
      snapshot.messages.push_back(
          {.type = Message::Type::kSnapshotEnd, .offset = at});
      next = at + 1;
      break;
    }
    case From::kOffset: {
      uint64_t first = log_->first_offset(), last = log_->last_offset();
      if (options.offset < first) {
        return MakeError(ErrorCode::kOutOfRange,
                         "offset " + std::to_string(options.offset) +
                             " is below the first available offset " +
                             std::to_string(first));
      }
      if (options.offset > last + 1) {
        return MakeError(ErrorCode::kFutureOffset,
                         "offset " + std::to_string(options.offset) +
                             " is beyond the last offset " +
                             std::to_string(last));
      }
      next = options.offset;
      break;
    }
    case From::kTime: {
      WMETA_ASSIGN_OR_RETURN(next, log_->OffsetAtTime(options.time));
      WMETA_RETURN_IF_ERROR(CheckKeptSince(options.time, next, options.time));
      break;
    }
    case From::kLatest:
      next = window_->applied() + 1;
      break;
  }
  return internal::NewSubscription(*this, *window_, std::move(options),
                                   std::move(snapshot), next);
}

Result<CheckpointInfo> StoreImpl::Checkpoint() {
  if (options_.log.read_only) {
    return MakeError(ErrorCode::kUnavailable, "the store was opened read-only");
  }
  std::lock_guard files_lock(files_mu_);
  std::vector<EntityPtr> entities;
  uint64_t offset;
  // Counted records are folded already, so these are all in this checkpoint.
  uint64_t covered = records_since_checkpoint_;
  {
    std::shared_lock lock(view_mu_);
    offset = view_.applied_offset();
    entities.reserve(view_.size());
    view_.ForEach([&](const EntityPtr& e) { entities.push_back(e); });
  }
  std::sort(
      entities.begin(), entities.end(),
      [](const EntityPtr& a, const EntityPtr& b) { return a->id < b->id; });
  WMETA_ASSIGN_OR_RETURN(CheckpointOrigin origin, OriginAt(offset));
  std::string dir = internal::CheckpointDir(dir_);
  WMETA_ASSIGN_OR_RETURN(CheckpointFile file,
                         internal::WriteCheckpoint(dir, origin, entities));
  records_since_checkpoint_ -= covered;
  internal::PruneCheckpoints(
      dir, std::max<size_t>(options_.checkpoints_kept, 1),
      log_->first_offset() - 1, options_.checkpoint_history_every);
  return CheckpointInfo{file.offset, entities.size(), file.bytes, file.path};
}

std::vector<CheckpointInfo> StoreImpl::Checkpoints() const {
  std::vector<CheckpointInfo> out;
  for (const CheckpointFile& file :
       internal::ListCheckpoints(internal::CheckpointDir(dir_))) {
    out.push_back({file.offset, file.entities, file.bytes, file.path});
  }
  return out;
}

Result<RetentionResult> StoreImpl::ApplyRetention(
    const RetentionPolicy& policy) {
  if (options_.log.read_only) {
    return MakeError(ErrorCode::kUnavailable, "the store was opened read-only");
  }
  std::lock_guard files_lock(files_mu_);
  uint64_t first = log_->first_offset(), last = log_->last_offset();
  RetentionResult result{first, first, 0};
  // The first offset each limit wants kept; the strictest wins.
  uint64_t keep_from = first;
  if (policy.max_age.count() > 0) {
    WMETA_ASSIGN_OR_RETURN(
        uint64_t young,
        log_->OffsetAtTime(options_.log.clock != nullptr
                               ? options_.log.clock->Now() - policy.max_age
                               : SystemClock().Now() - policy.max_age));
    keep_from = std::max(keep_from, young);
  }
  if (policy.max_records > 0 && last >= policy.max_records) {
    keep_from = std::max(keep_from, last - policy.max_records + 1);
  }
  if (policy.max_bytes > 0 && last >= first) {
    // The lowest offset from which the rest fits, by bisection on RocksDB's
    // size estimates.
    uint64_t lo = first, hi = last + 1;
    while (lo < hi) {
      uint64_t mid = lo + (hi - lo) / 2;
      WMETA_ASSIGN_OR_RETURN(uint64_t bytes, log_->ApproximateBytes(mid, last));
      if (bytes <= policy.max_bytes) {
        hi = mid;
      } else {
        lo = mid + 1;
      }
    }
    keep_from = std::max(keep_from, lo);
  }
  // Trim only up to a checkpoint, so that every offset still in the log can be
  // rebuilt: the checkpoint at new_first - 1 stands for what was removed.
  std::string dir = internal::CheckpointDir(dir_);
  auto files = internal::ListCheckpoints(dir);
  uint64_t new_first = first;
  for (const CheckpointFile& file : files) {
    if (file.offset + 1 > keep_from || file.offset + 1 <= new_first) continue;
    WMETA_ASSIGN_OR_RETURN(CheckpointOrigin origin, OriginAt(file.offset));
    if (internal::ReadCheckpoint(file, origin, options_.priorities)) {
      new_first = file.offset + 1;
      break;  // newest first: the highest usable one
    }
  }
  if (new_first <= first) return result;
  WMETA_RETURN_IF_ERROR(log_->TrimBefore(new_first));
  // Checkpoints below the one now standing for the removed records are of no
  // use any more.
  for (const CheckpointFile& file : files) {
    if (file.offset + 1 < new_first) {
      std::error_code ec;
      std::filesystem::remove(file.path, ec);  // a leftover is only unused
    }
  }
  result.new_first_offset = new_first;
  result.records_removed = new_first - first;
  return result;
}

void StoreImpl::CheckpointLoop() {
  std::unique_lock lock(checkpointer_mu_);
  auto period =
      options_.checkpoint_every.count() > 0
          ? std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                options_.checkpoint_every)
          : std::chrono::steady_clock::duration::max() / 2;
  auto due = std::chrono::steady_clock::now() + period;
  while (!stopping_) {
    checkpointer_cv_.wait_until(lock, due, [&] {
      return stopping_ ||
             (options_.checkpoint_every_records > 0 &&
              records_since_checkpoint_ >= options_.checkpoint_every_records);
    });
    if (stopping_) break;
    lock.unlock();
    // A failure leaves the previous checkpoint in place.
    bool failed = records_since_checkpoint_ > 0 && !Checkpoint();
    lock.lock();
    if (failed) {
      checkpointer_cv_.wait_for(lock, kCheckpointRetryPause,
                                [&] { return stopping_; });
    }
    due = std::chrono::steady_clock::now() + period;
  }
}

}  // namespace

Result<EntityPtr> Store::Get(const EntityId& id) const {
  Result<EntityPtr> result = MakeError(ErrorCode::kInternal, "unset");
  Read([&](const View& view) { result = view.Get(id); });
  return result;
}

std::vector<EntityPtr> Store::List(const ListQuery& query) const {
  std::vector<EntityPtr> result;
  Read([&](const View& view) { result = view.List(query); });
  return result;
}

Result<log::LossReport> Store::AcceptLoss(const std::string& dir,
                                          const Options& options) {
  std::string checkpoints = internal::CheckpointDir(dir);
  return log::Log::AcceptLoss(
      dir, options.log,
      [&](const std::string& old_id, const std::string& new_id,
          uint64_t last) -> Status {
        for (const CheckpointFile& file :
             internal::ListCheckpoints(checkpoints)) {
          if (file.offset > last) {
            std::error_code ec;
            std::filesystem::remove(file.path, ec);
            if (ec) {
              return MakeError(
                  ErrorCode::kIoError,
                  "cannot remove " + file.path + ": " + ec.message());
            }
            continue;
          }
          // A damaged or foreign checkpoint is skipped when the view is
          // rebuilt, as it was before.
          auto restamped = internal::RestampCheckpoint(file, old_id, new_id);
          if (!restamped && restamped.error().code == ErrorCode::kIoError) {
            return restamped;
          }
        }
        return {};
      });
}

Result<log::VerifyReport> Verify(
    log::Log& log, const std::string& dir,
    const std::function<void(uint64_t, uint64_t)>& progress) {
  WMETA_ASSIGN_OR_RETURN(log::VerifyReport report, log.Verify(progress));
  auto problem = [&](uint64_t offset, std::string message) {
    ++report.problem_count;
    if (report.problems.size() < log::VerifyReport::kMaxReportedProblems) {
      report.problems.push_back({offset, std::move(message)});
    }
  };
  uint64_t first = log.first_offset(), last = log.last_offset();
  // Offsets from 1 are rebuilt from the log alone.
  bool rebuildable = first <= 1;
  for (const CheckpointFile& file :
       internal::ListCheckpoints(internal::CheckpointDir(dir))) {
    auto header = internal::InspectCheckpoint(file);
    if (!header) {
      problem(0, "checkpoint damaged (skipped when the view is rebuilt): " +
                     header.error().message);
      continue;
    }
    if (header->store_id != log.store_id()) {
      problem(0, "checkpoint " + file.path + " belongs to store " +
                     header->store_id + ", not this one");
      continue;
    }
    // Above the log (a power loss took records, the next writer removes it),
    // or below what it stands for: never used, not damage.
    if (file.offset > last || file.offset + 1 < first) continue;
    if (file.offset >= first) {
      auto record = log.Read(file.offset);
      if (!record || record->view().ingest_time() != header->ingest_time) {
        continue;
      }
    }
    rebuildable = true;
  }
  if (!rebuildable) {
    problem(first, "records before offset " + std::to_string(first) +
                       " were removed by retention and no intact checkpoint "
                       "of this store stands for them: the view cannot be "
                       "rebuilt");
  }
  return report;
}

Result<std::unique_ptr<Store>> Store::Open(const std::string& dir,
                                           const Options& options) {
  WMETA_ASSIGN_OR_RETURN(std::unique_ptr<log::Log> log,
                         log::Log::Open(dir, options.log));
  auto store = std::make_unique<StoreImpl>(dir, options, std::move(log));
  WMETA_RETURN_IF_ERROR(store->Init());
  return store;
}

}  // namespace wmeta::store
