// The store: the log, the live view folded from it, and what consumers use on
// top of both: queries now and in the past, entity history, diffs,
// subscriptions, checkpoints and retention. The store is the log's only
// writer: Apply() drops sets that change nothing and unsets of layers that do
// not exist, appends the rest, folds them into the view and publishes them to
// subscribers.
//
//   WMETA_ASSIGN_OR_RETURN(auto store, store::Store::Open(dir, {}));
//   WMETA_ASSIGN_OR_RETURN(store::ApplyResult r, store->Apply(events));
//   auto web = store->Get({Kind::kContainer, "3f2a"});
//
// Thread-safety: thread-safe. Apply() from many threads is grouped into one
// log append. Queries run beside Apply() on a consistent view. A writable
// store runs background threads (the log's, a checkpointer); they stop when
// the Store is destroyed, which also writes a final checkpoint. Subscriptions
// read the store they came from: destroy them first (as RocksDB iterators
// before their DB).

#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "wmeta/log/log.h"
#include "wmeta/schema/error.h"
#include "wmeta/schema/event.h"
#include "wmeta/store/priorities.h"
#include "wmeta/store/subscription.h"
#include "wmeta/store/view.h"

namespace wmeta::store {

struct Options {
  // The log's options (durability, read-only, clock).
  log::Options log;
  // Default: the reference's order.
  SourcePriorities priorities;
  // How many recent changes stay in memory for subscribers to read; one that
  // falls further behind reads from the log until it catches up. Default 64k.
  size_t live_changes = size_t{1} << 16;
  // A checkpoint of the view is written after this many records or this much
  // time (whichever first; 0 disables either) and at a clean close.
  uint64_t checkpoint_every_records = 100'000;
  std::chrono::seconds checkpoint_every{300};
  // Checkpoints kept on disk: the newest ones, and the one standing for the
  // records retention removed. At least 1.
  size_t checkpoints_kept = 2;
  // Older checkpoints kept so that a past view (list --at, diff) folds at
  // most about this many records; thinned further for a large view, so that
  // they take at most about a quarter of the log's bytes. 0: none kept.
  uint64_t checkpoint_history_every = 100'000;
};

struct ApplyResult {
  // The offsets of the appended records; both 0 when nothing was appended.
  uint64_t first_offset = 0;
  uint64_t last_offset = 0;
  size_t appended = 0;
  // Sets equal to their source's layer and unsets of absent layers: dropped.
  size_t noops = 0;
  // The appended records were fsynced before this acknowledgement.
  bool synced = false;
};

// One record in an entity's history, with what it changed in the merged
// entity.
struct HistoryEntry {
  std::shared_ptr<const Event> record;
  // The merged entity after the record (for the unset that removed it, its
  // last state), and whether it still exists.
  std::shared_ptr<const Event> merged;
  bool exists = true;
  // Field path, value before, value after (JSON; "" when absent).
  struct FieldChange {
    std::string path;
    std::string before;
    std::string after;
  };
  std::vector<FieldChange> changes;
};

struct EntityDiff {
  EntityId id;
  // Present on the side where the entity exists.
  std::shared_ptr<const Event> before;
  std::shared_ptr<const Event> after;
  std::vector<HistoryEntry::FieldChange> changes;
};

struct DiffResult {
  uint64_t from_offset = 0;
  uint64_t to_offset = 0;
  // Each sorted by (kind, id).
  std::vector<EntityDiff> added;
  std::vector<EntityDiff> removed;
  std::vector<EntityDiff> changed;
};

struct CheckpointInfo {
  uint64_t offset = 0;
  size_t entities = 0;
  uint64_t bytes = 0;
  std::string path;
};

struct RetentionPolicy {
  // Keep records younger than this (0: no age limit).
  std::chrono::seconds max_age{0};
  // Keep at most this many records / bytes of records, newest first (0: none).
  uint64_t max_records = 0;
  uint64_t max_bytes = 0;
};

struct RetentionResult {
  uint64_t old_first_offset = 0;
  uint64_t new_first_offset = 0;
  uint64_t records_removed = 0;
};

class Store {
 public:
  // Opens the store in `dir` (creating it when missing and allowed): the log,
  // then the view from the newest valid checkpoint plus the records after it
  // (a damaged checkpoint is skipped, an older one or a full replay used).
  // Errors: those of log::Log::Open, and kCorruption when the log cannot be
  // replayed.
  static Result<std::unique_ptr<Store>> Open(const std::string& dir,
                                             const Options& options);

  // log::Log::AcceptLoss for the store in `dir`: the log keeps what can be
  // read under a new store id, its checkpoints follow the new id, and those
  // after the last offset kept (they reflect lost records) are removed.
  // Nothing changes for a store that is whole.
  static Result<log::LossReport> AcceptLoss(const std::string& dir,
                                            const Options& options);

  virtual ~Store() = default;

  // See the file comment. Errors: those of log::Log::Append; nothing of a
  // failed group is folded or published. A call whose events all change
  // nothing succeeds without touching the log. kInternal when folding failed
  // after the append (out of memory); every later call then fails with
  // kUnavailable, as the view no longer matches the log until reopened.
  virtual Result<ApplyResult> Apply(std::span<const Event> events) = 0;

  // Runs `fn` on the live view, locked for reading: keep it short. Entities
  // it returns stay valid afterwards.
  virtual void Read(const std::function<void(const View&)>& fn) const = 0;

  Result<EntityPtr> Get(const EntityId& id) const;
  std::vector<EntityPtr> List(const ListQuery& query) const;

  // The view as it was after `offset` (0: empty), rebuilt from the newest
  // checkpoint at or below it plus the records up to it. Errors: kOutOfRange
  // below what retention kept (naming the first available offset),
  // kFutureOffset beyond the last record.
  virtual Result<std::unique_ptr<View>> StateAt(uint64_t offset) const = 0;
  // The view with every record ingested at or before `time`. kOutOfRange when
  // retention removed records ingested after `time`.
  virtual Result<std::unique_ptr<View>> StateAtTime(Timestamp time) const = 0;
  // The offset of that view: the last record ingested at or before `time` (0
  // when none), with the same kOutOfRange.
  virtual Result<uint64_t> OffsetAtTime(Timestamp time) const = 0;

  // Every record about `id` that the log still holds and that changed the
  // view, in order, with the field-level changes of the merged entity,
  // through the per-entity index; after retention, starting from the
  // entity's state in the checkpoint left before the first record kept.
  virtual Result<std::vector<HistoryEntry>> History(
      const EntityId& id) const = 0;

  // Entities added, removed and changed between the views after `from` and
  // after `to`.
  virtual Result<DiffResult> Diff(uint64_t from, uint64_t to) const = 0;

  // Errors: kStoreMismatch (options.store_id), kOutOfRange for an offset or a
  // time whose records retention removed, kFutureOffset past the next offset,
  // kInvalidArgument for a raw subscription from a snapshot.
  virtual Result<std::unique_ptr<Subscription>> Subscribe(
      SubscribeOptions options) = 0;

  // Writes a checkpoint of the live view now. Checkpoints are skipped, never
  // trusted blindly: a damaged one, one merged with other source priorities
  // and one reflecting records a power loss took from the log are not used.
  virtual Result<CheckpointInfo> Checkpoint() = 0;
  virtual std::vector<CheckpointInfo> Checkpoints() const = 0;

  // Removes the records `policy` does not keep, in one range ending at a
  // checkpoint (so every offset left can still be rebuilt): the highest
  // checkpoint that leaves kept everything the policy keeps. With no
  // checkpoint, nothing is removed.
  virtual Result<RetentionResult> ApplyRetention(
      const RetentionPolicy& policy) = 0;

  // A read-only store follows the data dir's writer: the records appended
  // since it opened or last refreshed are folded into its view and published
  // to its subscriptions. Nothing for a writable store. kOutOfRange when
  // retention removed records it had not folded yet (reopen it).
  virtual Status Refresh() = 0;

  // The log underneath (thread-safe; read it freely, never append to it
  // directly: that would bypass the view).
  virtual log::Log& log() const = 0;
  // The offset of the last record folded into the live view.
  virtual uint64_t applied_offset() const = 0;
};

// Everything log::Log::Verify checks on `log`, and the store's checkpoints
// beside it in `dir`: each must be intact, and when retention removed records
// an intact checkpoint of this store must stand for them, or the view cannot
// be rebuilt. Works on a log opened with for_verify (a store Open refuses).
Result<log::VerifyReport> Verify(
    log::Log& log, const std::string& dir,
    const std::function<void(uint64_t, uint64_t)>& progress = {});

}  // namespace wmeta::store
