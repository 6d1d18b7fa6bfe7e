// The Log's implementation, one concern per file: log.cc (group commit,
// readers, reads, stats, trimming), open.cc (opening a data dir: format
// checks, WAL recovery held against the acknowledged mark, the checks that the
// log is whole, accepting a loss), durability.cc (a commit's write, the free
// space it needs, recovery from a failed write, syncs and the acknowledged
// mark). Private to log/.
//
// Lock order: mu_ before wal_mu_ is never needed (the group commit's leader
// releases mu_ before it writes); refresh_mu_ and trim_mu_ are independent
// of both.

#pragma once

#include <rocksdb/compaction_filter.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "ack_mark.h"
#include "entity_index.h"
#include "key_format.h"
#include "wmeta/log/log.h"

namespace wmeta::log::internal {

// Drops index entries of records retention removed, as RocksDB compacts.
class TrimmedEntries final : public rocksdb::CompactionFilter {
 public:
  explicit TrimmedEntries(const std::atomic<uint64_t>& first) : first_(first) {}
  const char* Name() const override { return "wmeta.TrimmedEntries"; }
  bool Filter(int /*level*/, const rocksdb::Slice& key,
              const rocksdb::Slice& /*value*/, std::string* /*new_value*/,
              bool* /*value_changed*/) const override;

 private:
  const std::atomic<uint64_t>& first_;
};

class LogImpl final : public Log {
 public:
  // How the data dir is opened.
  enum class Mode : uint8_t {
    // The single writer: RocksDB's WAL recovery stops at a damaged record and
    // the open fails unless the acknowledged mark shows that nothing
    // acknowledged is lost.
    kWriter,
    // A reader beside the writer (a RocksDB secondary instance); refused
    // whenever the log it sees is not whole.
    kReader,
    // A reader for Verify(): what would refuse the data dir is a problem in the
    // report instead.
    kVerifier,
    // The writer of Log::AcceptLoss: the log as far as it can be read.
    kAcceptLoss,
  };

  LogImpl(std::string dir, Options options, rocksdb::Env* env, Mode mode);
  ~LogImpl() override;

  Status Init();

  Result<AppendResult> Append(std::span<const Event* const> events) override;
  Result<std::unique_ptr<Reader>> NewReader(uint64_t from,
                                            uint64_t to) override;
  Result<uint64_t> OffsetAtTime(Timestamp time) override;
  Result<Event> Read(uint64_t offset) override;
  Result<std::vector<uint64_t>> EntityOffsets(const EntityId& id, uint64_t from,
                                              uint64_t to) override;
  uint64_t first_offset() const override { return first_offset_.load(); }
  uint64_t last_offset() const override { return last_offset_.load(); }
  const std::string& store_id() const override { return store_id_; }
  Result<Stats> GetStats() override;
  Status TrimBefore(uint64_t new_first) override;
  Status Refresh() override;
  Result<uint64_t> ApproximateBytes(uint64_t from, uint64_t to) override;
  Result<VerifyReport> Verify(
      const std::function<void(uint64_t, uint64_t)>& progress) override;

  Status WaitIndexed(uint64_t offset,
                     std::chrono::steady_clock::time_point deadline) {
    return index_->WaitIndexed(offset, deadline);
  }
  // For tests (testing.h).
  Status FlushMemtables();
  void WaitSyncRounds(uint64_t rounds);

  // kAcceptLoss: see Log::AcceptLoss.
  Result<LossReport> AcceptLoss(const LossPreparation& prepare);

 private:
  // One Append call waiting to be committed.
  struct Writer {
    std::span<const Event* const> events;
    size_t bytes = 0;
    bool done = false;
    Result<AppendResult> result =
        MakeError(ErrorCode::kInternal, "not committed");
    std::condition_variable cv;
  };

  // open.cc
  Status OpenDb();
  // After DB::Open failed with `failure` in kWriter mode: whether the log as
  // far as it can be read still holds everything acknowledged (then a damaged
  // tail held only unacknowledged writes, torn by a crash, and may go).
  Status CheckDamagedWal(const rocksdb::DBOptions& db_options,
                         const rocksdb::Status& failure);
  Status LoadOrCreateMeta();
  Status LoadBounds();
  Status LoadBoundsFromFiles(rocksdb::Iterator& it);
  // The log is whole: its table files cover every offset from the first to
  // the last, and it reaches the acknowledged mark.
  Status CheckWhole();
  // A problem that refuses the data dir, except for Verify(), which reports
  // it.
  Status Refuse(Error error);

  // durability.cc
  // At close: syncs what a clean close must leave on stable storage and
  // records it in the acknowledged mark.
  void FinalSync();
  // The leader's write of a group, with everything a write needs first: the
  // free space, recovery from an earlier failure. Takes wal_mu_.
  Status CommitGroup(const std::vector<Writer*>& group, uint64_t first,
                     Timestamp ingest, size_t bytes);
  // Writes the records of `group`, at offsets from `first`, in one RocksDB
  // write. REQUIRES: wal_mu_.
  Status WriteGroup(const std::vector<Writer*>& group, uint64_t first,
                    Timestamp ingest);
  // kIoError unless the data dir's file system has room for `bytes` more of
  // WAL and for flushing what the memtables hold.
  Status CheckSpace(size_t bytes);
  // After a failed write: RocksDB's own recovery (DB::Resume), then the
  // checks that the log can go on in this process. REQUIRES: wal_mu_.
  Status RecoverFromFailure();
  // Whether some memtable holds data; see durability.cc.
  bool SomeMemtableHoldsData();
  // Leaves an entry in a memtable; see durability.cc.
  void KeepAMemtableBusy();
  void SyncLoop();

  // log.cc
  Status CheckStart(uint64_t from) const;
  // The bytes of the record at `offset`, read with a point lookup.
  Result<std::string> RecordBytes(uint64_t offset);
  // The ingest time of the record at `offset`, read with a point lookup.
  Result<Timestamp> IngestTimeAt(uint64_t offset);
  Result<std::string> Get(rocksdb::ColumnFamilyHandle* family,
                          std::string_view key);

  const std::string dir_;
  Options options_;
  const Mode mode_;
  // nullptr: RocksDB's default.
  rocksdb::Env* const env_;
  // A reader's own directory (what RocksDB keeps for a secondary instance),
  // removed at close.
  std::string secondary_dir_;
  // Published after each commit or trim; readers use them as bounds.
  std::atomic<uint64_t> first_offset_{1};
  std::atomic<uint64_t> last_offset_{0};
  // Declared before db_, which uses it until it closes.
  TrimmedEntries trimmed_entries_{first_offset_};
  // RocksDB's background error handling reports to it; see durability.cc.
  std::shared_ptr<rocksdb::EventListener> recovery_listener_;
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::ColumnFamilyHandle* meta_ = nullptr;
  rocksdb::ColumnFamilyHandle* records_ = nullptr;
  rocksdb::ColumnFamilyHandle* entities_ = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::string store_id_;
  // The acknowledged mark as read at open (nullopt: none).
  std::optional<uint64_t> mark_at_open_;
  // kVerifier: what would have refused the data dir.
  std::vector<VerifyProblem> open_problems_;
  // kAcceptLoss: what a writer's open would have refused, found.
  bool damaged_ = false;

  // Serialises trims (appends need not wait: they only add above the last).
  std::mutex trim_mu_;
  // A reader's refreshes take it exclusively, the reads that span several
  // lookups (verify, entity offsets) shared: a secondary instance has no
  // snapshots to hold its state still.
  std::shared_mutex refresh_mu_;
  std::mutex mu_;
  // Guarded by mu_: the queue of waiting appends; its front is the one
  // committing.
  std::deque<Writer*> writers_;
  // Guarded by mu_.
  Timestamp last_ingest_time_{};

  // Serialises everything that touches RocksDB's WAL: a commit's write, the
  // interval sync, recovery from a failed write. RocksDB's WAL writer must
  // never be synced once a write to it failed (Debian's librocksdb asserts and
  // aborts), so a sync may not overlap a write.
  std::mutex wal_mu_;
  // Guarded by wal_mu_: the last write failed; the next append first
  // recovers.
  std::optional<Error> write_failure_;
  // Guarded by wal_mu_: a failure this process cannot recover from; every
  // append fails until the log is reopened.
  std::optional<Error> broken_;
  // Guarded by wal_mu_; absent when read-only.
  std::optional<AckMark> ack_mark_;
  // Guarded by wal_mu_: KeepAMemtableBusy() ran since the last time every
  // memtable was flushed.
  bool memtable_busy_ = false;

  // Used by the leader of a group commit only (there is one at a time); members
  // so that their memory is reused from one commit to the next.
  rocksdb::WriteBatch batch_;
  std::string scratch_;

  // Destroyed before db_, which it uses.
  std::unique_ptr<EntityIndex> index_;

  // Durability kInterval: a thread fsyncs the WAL every interval until
  // stopping_.
  std::thread sync_thread_;
  std::mutex sync_mu_;
  std::condition_variable sync_cv_;
  bool stopping_ = false;
  // Guarded by sync_mu_: rounds of the sync thread so far (for tests).
  uint64_t sync_rounds_ = 0;
};

}  // namespace wmeta::log::internal
