#include "wmeta/log/log.h"

#include <rocksdb/compaction_filter.h>
#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <system_error>
#include <thread>

#include "entity_index.h"
#include "key_format.h"
#include "rocks_util.h"
#include "testing.h"
#include "verify.h"

namespace wmeta::log {
namespace {

namespace fs = std::filesystem;
using internal::AlignedCopy;
using internal::FromRocks;
using internal::OffsetKey;
using internal::RocksError;
using internal::ToSlice;
using internal::ToView;

std::string NewStoreId() {
  std::random_device random;
  std::array<uint8_t, 16> b;
  for (auto& byte : b) byte = static_cast<uint8_t>(random());
  b[6] = static_cast<uint8_t>((b[6] & 0x0f) | 0x40);  // RFC 9562 version 4
  b[8] = static_cast<uint8_t>((b[8] & 0x3f) | 0x80);  // RFC 9562 variant
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  for (size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) id += '-';
    id += kHex[b[i] >> 4];
    id += kHex[b[i] & 0xf];
  }
  return id;
}

rocksdb::ColumnFamilyOptions RecordsFamilyOptions() {
  rocksdb::ColumnFamilyOptions cf;
  // Records are read sequentially: large blocks mean fewer block reads and
  // lookups, LZ4 decompresses faster than the disk delivers.
  rocksdb::BlockBasedTableOptions table;
  table.block_size = 64 << 10;
  cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  cf.compression = rocksdb::kLZ4Compression;
  cf.level_compaction_dynamic_level_bytes = true;
  return cf;
}

// The entity part of an index key: all but its last 8 bytes (key_format.h).
class EntityPrefixTransform final : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "wmeta.EntityPrefix"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    return {key.data(), key.size() - 8};
  }
  bool InDomain(const rocksdb::Slice& key) const override {
    return internal::DecodeEntityKey(ToView(key)).has_value();
  }
};

// Drops index entries of records retention removed, as RocksDB compacts.
class TrimmedEntries final : public rocksdb::CompactionFilter {
 public:
  explicit TrimmedEntries(const std::atomic<uint64_t>& first) : first_(first) {}
  const char* Name() const override { return "wmeta.TrimmedEntries"; }
  bool Filter(int /*level*/, const rocksdb::Slice& key,
              const rocksdb::Slice& /*value*/, std::string* /*new_value*/,
              bool* /*value_changed*/) const override {
    auto parts = internal::DecodeEntityKey(ToView(key));
    return parts && parts->offset < first_.load(std::memory_order_relaxed);
  }

 private:
  const std::atomic<uint64_t>& first_;
};

rocksdb::ColumnFamilyOptions EntitiesFamilyOptions(
    const rocksdb::CompactionFilter* filter) {
  rocksdb::ColumnFamilyOptions cf;
  cf.compaction_filter = filter;
  // Index entries land all over the key space, and a skiplist insert there
  // costs a cache miss per level: most of the index's upkeep. Two things keep
  // it small. A small memtable keeps the skiplist in cache (flushes of 2 MiB
  // are cheap for RocksDB). And each entity's entries arrive in offset order
  // right after its previous one, so a per-entity insert hint skips most of the
  // search.
  cf.write_buffer_size = size_t{2} << 20;
  cf.memtable_insert_with_hint_prefix_extractor =
      std::make_shared<EntityPrefixTransform>();
  cf.compression = rocksdb::kLZ4Compression;
  cf.level_compaction_dynamic_level_bytes = true;
  return cf;
}

rocksdb::DBOptions MakeDbOptions(const Options& options, rocksdb::Env* env) {
  rocksdb::DBOptions db;
  if (env != nullptr) db.env = env;
  db.create_if_missing = !options.read_only;
  db.create_missing_column_families = !options.read_only;
  // Recover every write that completed before a crash; stop at the first
  // damaged one.
  db.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  db.max_background_jobs = 2;
  db.keep_log_file_num = 4;
  db.max_log_file_size = 8 << 20;
  return db;
}

Result<uint64_t> DirectoryBytes(const fs::path& dir) {
  std::error_code ec;
  uint64_t total = 0;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code size_ec;
    if (it->is_regular_file(size_ec)) {
      auto size = it->file_size(size_ec);
      if (!size_ec) total += size;
    }
  }
  if (ec)
    return MakeError(ErrorCode::kIoError,
                     "cannot list " + dir.string() + ": " + ec.message());
  return total;
}

// Reads records [from, to] in order, checking density, structure and order as
// it goes.
class RangeReader final : public Reader {
 public:
  // Reads [from, last] of `records`. `last` must not exceed the last committed
  // offset.
  RangeReader(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* records,
              uint64_t from, uint64_t last)
      : upper_bound_(OffsetKey(last + 1)), next_(from), last_(last) {
    rocksdb::ReadOptions read;
    upper_bound_slice_ = ToSlice(upper_bound_);
    read.iterate_upper_bound = &upper_bound_slice_;
    read.readahead_size = 2 << 20;
    it_.reset(db.NewIterator(read, records));
  }

  Result<bool> Next() override {
    if (failed_) return std::unexpected(*failed_);
    if (next_ > last_) return false;
    if (started_) {
      it_->Next();
    } else {
      it_->Seek(OffsetKey(next_));
      started_ = true;
    }
    if (!it_->Valid()) {
      if (!it_->status().ok()) {
        return Fail(FromRocks(it_->status(),
                              "reading offset " + std::to_string(next_)));
      }
      return Fail({ErrorCode::kCorruption,
                   "offsets " + internal::OffsetRange(next_, last_) +
                       " are missing from the log"});
    }
    auto offset = internal::DecodeOffsetKey(ToView(it_->key()));
    if (!offset)
      return Fail(
          {ErrorCode::kCorruption,
           "malformed record key after offset " + std::to_string(next_ - 1)});
    if (*offset != next_) {
      return Fail({ErrorCode::kCorruption,
                   "offsets " + internal::OffsetRange(next_, *offset - 1) +
                       " are missing from the log"});
    }
    auto view = EventView::Verify(aligned_.Align(ToView(it_->value())));
    if (!view) {
      return Fail({ErrorCode::kCorruption, "offset " + std::to_string(next_) +
                                               ": " + view.error().message});
    }
    if (view->offset() != next_) {
      return Fail({ErrorCode::kCorruption, "offset " + std::to_string(next_) +
                                               ": record says offset " +
                                               std::to_string(view->offset())});
    }
    if (view->ingest_time() < previous_time_) {
      return Fail({ErrorCode::kCorruption, "offset " + std::to_string(next_) +
                                               ": ingest time goes backwards"});
    }
    previous_time_ = view->ingest_time();
    current_ = *view;
    ++next_;
    return true;
  }

  const EventView& event() const override { return *current_; }

 private:
  std::unexpected<Error> Fail(Error error) {
    failed_ = error;
    return std::unexpected(std::move(error));
  }

  // Declared before it_: the iterator reads its upper bound from them.
  std::string upper_bound_;
  rocksdb::Slice upper_bound_slice_;
  std::unique_ptr<rocksdb::Iterator> it_;
  uint64_t next_;
  const uint64_t last_;
  bool started_ = false;
  Timestamp previous_time_{};
  AlignedCopy aligned_;
  std::optional<EventView> current_;
  std::optional<Error> failed_;
};

class LogImpl final : public Log {
 public:
  LogImpl(std::string dir, Options options, rocksdb::Env* env)
      : dir_(std::move(dir)), options_(options), env_(env) {
    if (options_.clock == nullptr) options_.clock = &SystemClock();
  }

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

  Status OpenDb();
  Status LoadOrCreateMeta();
  Status LoadBounds();
  Status LoadBoundsFromFiles(rocksdb::Iterator& it);
  // Writes the records of `group`, at offsets from `first`, in one RocksDB
  // write. Called by the group's leader only.
  Status WriteGroup(const std::vector<Writer*>& group, uint64_t first,
                    Timestamp ingest);
  Status CheckStart(uint64_t from) const;
  // The bytes of the record at `offset`, read with a point lookup.
  Result<std::string> RecordBytes(uint64_t offset);
  // The ingest time of the record at `offset`, read with a point lookup.
  Result<Timestamp> IngestTimeAt(uint64_t offset);
  Result<std::string> Get(rocksdb::ColumnFamilyHandle* family,
                          std::string_view key);
  void SyncLoop();

  const std::string dir_;
  Options options_;
  // nullptr: RocksDB's default.
  rocksdb::Env* const env_;
  // A reader's own directory (its RocksDB info log), removed at close.
  std::string secondary_dir_;
  // Published after each commit or trim; readers use them as bounds.
  std::atomic<uint64_t> first_offset_{1};
  std::atomic<uint64_t> last_offset_{0};
  // Declared before db_, which uses it until it closes.
  TrimmedEntries trimmed_entries_{first_offset_};
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::ColumnFamilyHandle* meta_ = nullptr;
  rocksdb::ColumnFamilyHandle* records_ = nullptr;
  rocksdb::ColumnFamilyHandle* entities_ = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::string store_id_;

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
  std::optional<Error> write_failure_;

  // Used by the leader of a group commit only (there is one at a time); members
  // so that their memory is reused from one commit to the next.
  rocksdb::WriteBatch batch_;
  std::string scratch_;

  // Destroyed before db_, which it uses.
  std::unique_ptr<internal::EntityIndex> index_;

  // Durability kInterval: a thread fsyncs the WAL every interval until
  // stopping_.
  std::thread sync_thread_;
  std::mutex sync_mu_;
  std::condition_variable sync_cv_;
  bool stopping_ = false;
};

LogImpl::~LogImpl() {
  if (sync_thread_.joinable()) {
    {
      std::lock_guard lock(sync_mu_);
      stopping_ = true;
    }
    sync_cv_.notify_all();
    sync_thread_.join();
  }
  if (db_ == nullptr) return;
  // Indexes what is committed; closing the database then flushes the entries.
  index_.reset();
  // A clean close leaves every acknowledged record on stable storage, whatever
  // the mode.
  if (!options_.read_only &&
      options_.durability.mode != Durability::Mode::kSync) {
    db_->SyncWAL()
        .PermitUncheckedError();  // Nothing to report it to; verify would show.
  }
  for (auto* handle : handles_)
    db_->DestroyColumnFamilyHandle(handle).PermitUncheckedError();
  db_->Close().PermitUncheckedError();
  db_.reset();
  if (!secondary_dir_.empty()) {
    std::error_code ec;
    fs::remove_all(secondary_dir_, ec);  // a leftover in /tmp is harmless
  }
}

Status LogImpl::Init() {
  WMETA_RETURN_IF_ERROR(OpenDb());
  WMETA_RETURN_IF_ERROR(LoadOrCreateMeta());
  WMETA_RETURN_IF_ERROR(LoadBounds());
  index_ = std::make_unique<internal::EntityIndex>(*db_, records_, entities_,
                                                   !options_.read_only);
  WMETA_RETURN_IF_ERROR(
      index_->Start(last_offset_.load(), !options_.read_only));
  if (!options_.read_only &&
      options_.durability.mode == Durability::Mode::kInterval) {
    try {
      sync_thread_ = std::thread([this] { SyncLoop(); });
    } catch (const std::system_error& e) {
      return MakeError(
          ErrorCode::kUnavailable,
          std::string("cannot start the WAL sync thread: ") + e.what());
    }
  }
  return {};
}

Status LogImpl::OpenDb() {
  fs::path dir(dir_);
  std::error_code ec;
  auto io_error = [&](std::string_view what) {
    return MakeError(ErrorCode::kIoError,
                     std::string(what) + " " + dir_ + ": " + ec.message());
  };
  bool exists = fs::exists(dir, ec);
  if (ec) return io_error("cannot access");
  if (!exists) {
    if (options_.read_only || !options_.create_if_missing) {
      return MakeError(ErrorCode::kNotFound, "no data dir at " + dir_);
    }
    fs::create_directories(dir, ec);
    if (ec) return io_error("cannot create");
  } else {
    bool is_directory = fs::is_directory(dir, ec);
    if (ec) return io_error("cannot access");
    if (!is_directory) {
      return MakeError(ErrorCode::kUnsupportedFormat,
                       dir_ + " is not a directory");
    }
  }
  rocksdb::DBOptions db_options = MakeDbOptions(options_, env_);
  bool has_store = fs::exists(dir / "CURRENT", ec);
  if (ec) return io_error("cannot access");
  bool empty = has_store || fs::is_empty(dir, ec);
  if (ec) return io_error("cannot list");
  if (has_store) {
    std::vector<std::string> families;
    auto s = rocksdb::DB::ListColumnFamilies(db_options, dir_, &families);
    if (!s.ok()) return RocksError(s, "cannot read the store in " + dir_);
    for (const auto& family : families) {
      if (family != rocksdb::kDefaultColumnFamilyName &&
          family != internal::kRecordsFamily &&
          family != internal::kEntitiesFamily) {
        return MakeError(
            ErrorCode::kUnsupportedFormat,
            dir_ +
                " is a RocksDB database but not a wmeta store (it has column "
                "family '" +
                family + "')");
      }
    }
  } else if (!empty) {
    return MakeError(
        ErrorCode::kUnsupportedFormat,
        dir_ + " is not a wmeta data dir: it is not empty and holds no store");
  } else if (options_.read_only || !options_.create_if_missing) {
    return MakeError(ErrorCode::kNotFound, dir_ + " holds no wmeta store");
  }

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors = {
      {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()},
      {std::string(internal::kRecordsFamily), RecordsFamilyOptions()},
      {std::string(internal::kEntitiesFamily),
       EntitiesFamilyOptions(&trimmed_entries_)},
  };
  rocksdb::DB* db = nullptr;
  rocksdb::Status s;
  if (options_.read_only) {
    // A secondary instance: it takes no lock, follows the writer's WAL on
    // Refresh(), and keeps its own info log in a directory of its own.
    std::string pattern =
        (fs::temp_directory_path(ec) / "wmeta-reader-XXXXXX").string();
    if (ec || mkdtemp(pattern.data()) == nullptr) {
      return MakeError(ErrorCode::kIoError,
                       "cannot create a directory for a reader's log");
    }
    secondary_dir_ = pattern;
    db_options.max_open_files = -1;
    // A reader beside a running writer can catch a WAL file as the writer
    // deletes it; that race is over by the next attempt.
    for (int attempt = 0; attempt < 3; ++attempt) {
      handles_.clear();
      s = rocksdb::DB::OpenAsSecondary(db_options, dir_, secondary_dir_,
                                       descriptors, &handles_, &db);
      if (!s.IsIOError() || s.IsNoSpace()) break;
    }
  } else {
    s = rocksdb::DB::Open(db_options, dir_, descriptors, &handles_, &db);
  }
  if (!s.ok()) {
    // RocksDB's words for "another process (or this one) holds LOCK".
    std::string text = s.ToString();
    if (s.IsIOError() &&
        (text.find("While lock file") != std::string::npos ||
         text.find("lock hold by current process") != std::string::npos)) {
      return MakeError(ErrorCode::kBusy,
                       dir_ + " is in use by another writer (" + text + ")");
    }
    if (s.IsInvalidArgument() &&
        s.ToString().find("olumn famil") != std::string::npos) {
      return MakeError(ErrorCode::kUnsupportedFormat,
                       dir_ + " is not a wmeta store: " + s.ToString());
    }
    return RocksError(s, "cannot open the store in " + dir_);
  }
  db_.reset(db);
  meta_ = handles_[0];
  records_ = handles_[1];
  entities_ = handles_[2];
  return {};
}

Result<std::string> LogImpl::Get(rocksdb::ColumnFamilyHandle* family,
                                 std::string_view key) {
  std::string value;
  auto s = db_->Get(rocksdb::ReadOptions(), family, ToSlice(key), &value);
  if (s.IsNotFound()) return MakeError(ErrorCode::kNotFound, "key not found");
  if (!s.ok()) return RocksError(s, "reading " + dir_);
  return value;
}

Status LogImpl::LoadOrCreateMeta() {
  auto version = Get(meta_, internal::kFormatVersionKey);
  if (!version && version.error().code != ErrorCode::kNotFound) {
    return std::unexpected(version.error());
  }
  if (!version) {
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(rocksdb::ReadOptions(), records_));
    it->SeekToFirst();
    if (!it->status().ok()) {
      // Unreadable records are not "no records": never put a new store id on
      // them.
      return RocksError(it->status(), "reading " + dir_);
    }
    if (it->Valid() || options_.read_only) {
      return MakeError(
          ErrorCode::kUnsupportedFormat,
          dir_ + " is not a wmeta store: it has no format version");
    }
    // A new store, or one whose creation was interrupted before any record:
    // initialise.
    store_id_ = NewStoreId();
    rocksdb::WriteBatch batch;
    batch.Put(meta_, ToSlice(internal::kFormatVersionKey),
              std::to_string(internal::kFormatVersion));
    batch.Put(meta_, ToSlice(internal::kStoreIdKey), store_id_);
    batch.Put(meta_, ToSlice(internal::kCreatedTimeKey),
              FormatTime(options_.clock->Now()));
    rocksdb::WriteOptions write;
    write.sync = true;
    auto s = db_->Write(write, &batch);
    if (!s.ok()) return RocksError(s, "initialising the store in " + dir_);
    return {};
  }
  uint32_t number = 0;
  auto [end, ec] = std::from_chars(version->data(),
                                   version->data() + version->size(), number);
  if (ec != std::errc() || end != version->data() + version->size()) {
    return MakeError(
        ErrorCode::kUnsupportedFormat,
        dir_ + " has an unreadable format version '" + *version + "'");
  }
  if (number != internal::kFormatVersion) {
    return MakeError(ErrorCode::kUnsupportedFormat,
                     dir_ + " has format version " + std::to_string(number) +
                         "; this build reads version " +
                         std::to_string(internal::kFormatVersion));
  }
  auto id = Get(meta_, internal::kStoreIdKey);
  if (!id) {
    return MakeError(ErrorCode::kUnsupportedFormat, dir_ + " has no store id");
  }
  store_id_ = std::move(*id);
  return {};
}

Status LogImpl::LoadBounds() {
  // Retention's first offset is persisted before its records are deleted, so
  // it is the truth even if the deletion was lost in a crash.
  uint64_t kept_from = 1;
  auto persisted = Get(meta_, internal::kFirstOffsetKey);
  if (persisted) {
    auto decoded = internal::DecodeOffsetKey(*persisted);
    if (!decoded || *decoded == 0) {
      return MakeError(ErrorCode::kCorruption,
                       dir_ + ": malformed first_offset");
    }
    kept_from = *decoded;
  } else if (persisted.error().code != ErrorCode::kNotFound) {
    return std::unexpected(persisted.error());
  }
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), records_));
  it->SeekToFirst();
  if (it->Valid() && !options_.read_only) {
    auto below = internal::DecodeOffsetKey(ToView(it->key()));
    if (below && *below < kept_from) {
      auto s = db_->DeleteRange(rocksdb::WriteOptions(), records_, it->key(),
                                OffsetKey(kept_from));
      if (!s.ok()) return RocksError(s, "finishing retention in " + dir_);
      it.reset(db_->NewIterator(rocksdb::ReadOptions(), records_));
      it->SeekToFirst();
    }
  }
  if (!it->Valid() && it->status().ok()) {
    // No records: none yet, or retention removed them all.
    first_offset_ = kept_from;
    last_offset_ = kept_from - 1;
    return {};
  }
  std::optional<uint64_t> first, last;
  if (it->Valid()) {
    first = internal::DecodeOffsetKey(ToView(it->key()));
    if (first) first = std::max(*first, kept_from);
    it->SeekToLast();
    if (it->Valid()) last = internal::DecodeOffsetKey(ToView(it->key()));
  }
  if (!it->status().ok()) {
    // Let a reader (verify, above all) open a log whose first or last block is
    // damaged.
    if (options_.read_only) return LoadBoundsFromFiles(*it);
    return RocksError(it->status(), "reading " + dir_);
  }
  if (!first || !last || *first == 0 || *first > *last || *last > kMaxOffset) {
    return MakeError(ErrorCode::kCorruption, dir_ + ": malformed record keys");
  }
  first_offset_ = *first;
  last_offset_ = *last;
  AlignedCopy aligned;
  auto view = EventView::Verify(aligned.Align(ToView(it->value())));
  if (view) {
    last_ingest_time_ = view->ingest_time();
  } else if (!options_.read_only) {
    // A writer must continue the ingest times and offsets from an intact last
    // record.
    return MakeError(
        ErrorCode::kCorruption,
        dir_ + ": the last record (offset " + std::to_string(*last) +
            ") is damaged: " + view.error().message + "; run wmeta verify");
  }
  return {};
}

Status LogImpl::LoadBoundsFromFiles(rocksdb::Iterator& it) {
  std::vector<rocksdb::LiveFileMetaData> files;
  db_->GetLiveFilesMetaData(&files);
  std::optional<uint64_t> first, last;
  for (const auto& file : files) {
    if (file.column_family_name != internal::kRecordsFamily) continue;
    auto smallest = internal::DecodeOffsetKey(file.smallestkey);
    auto largest = internal::DecodeOffsetKey(file.largestkey);
    if (!smallest || !largest) continue;
    first = std::min(first.value_or(*smallest), *smallest);
    last = std::max(last.value_or(*largest), *largest);
  }
  // Records newer than every table file are in the memtable, replayed from the
  // WAL and readable; offsets only grow, so they all sort after the files'
  // keys.
  for (it.Seek(OffsetKey(last.value_or(0) + 1)); it.Valid(); it.Next()) {
    last = internal::DecodeOffsetKey(ToView(it.key()));
    if (!last)
      return MakeError(ErrorCode::kCorruption,
                       dir_ + ": malformed record keys");
    if (!first) first = last;
  }
  if (!it.status().ok()) return RocksError(it.status(), "reading " + dir_);
  if (first && last) {
    if (*first == 0 || *first > *last || *last > kMaxOffset) {
      return MakeError(ErrorCode::kCorruption,
                       dir_ + ": malformed record keys");
    }
    first_offset_ = *first;
    last_offset_ = *last;
  }
  return {};
}

Status LogImpl::WriteGroup(const std::vector<Writer*>& group, uint64_t first,
                           Timestamp ingest) {
  batch_.Clear();
  uint64_t offset = first;
  char key[8];
  for (Writer* w : group) {
    for (const Event* e : w->events) {
      // The WriteBatch copies what it is given, so one aligned scratch copy to
      // patch is enough.
      scratch_.assign(e->bytes());
      auto* record = fb::GetMutableRecord(scratch_.data());
      // Present by construction: Event verification requires both fields.
      record->mutate_offset(offset);
      record->mutate_ingest_time(ToUnixNanos(ingest));
      internal::EncodeOffsetKey(offset, key);
      batch_.Put(records_, rocksdb::Slice(key, sizeof(key)), scratch_);
      ++offset;
    }
  }
  rocksdb::WriteOptions write;
  write.sync = options_.durability.mode == Durability::Mode::kSync;
  auto s = db_->Write(write, &batch_);
  if (!s.ok()) return RocksError(s, "appending to " + dir_);
  return {};
}

Result<AppendResult> LogImpl::Append(std::span<const Event* const> events) {
  if (options_.read_only) {
    return MakeError(ErrorCode::kUnavailable, "the log was opened read-only");
  }
  if (events.empty())
    return MakeError(ErrorCode::kInvalidArgument, "empty batch");

  Writer self;
  self.events = events;
  for (const Event* e : events) self.bytes += e->bytes().size();

  std::unique_lock lock(mu_);
  writers_.push_back(&self);
  while (!self.done && writers_.front() != &self) self.cv.wait(lock);
  if (self.done) return std::move(self.result);

  // This append leads a group commit: it writes its own batch and those queued
  // behind it.
  std::vector<Writer*> group;
  size_t group_bytes = 0;
  size_t group_events = 0;
  for (Writer* w : writers_) {
    if (!group.empty() && group_bytes + w->bytes > options_.max_group_bytes)
      break;
    group.push_back(w);
    group_bytes += w->bytes;
    group_events += w->events.size();
  }
  std::optional<Error> failure = write_failure_;
  uint64_t first = last_offset_.load() + 1;
  Timestamp ingest = std::max(options_.clock->Now(), last_ingest_time_);
  lock.unlock();

  // Only the front of the queue gets here, so writing needs no lock.
  if (!failure) {
    auto written = WriteGroup(group, first, ingest);
    if (!written) failure = written.error();
  }

  lock.lock();
  if (failure) {
    // The outcome of a failed write is unknown (it may reach the disk), so no
    // later write may reuse its offsets: the log stays failed until it is
    // reopened and recovers.
    if (!write_failure_)
      write_failure_ = Error{ErrorCode::kUnavailable,
                             "the log failed a write and must be reopened (" +
                                 failure->ToString() + ")"};
  } else {
    last_offset_.store(first + group_events - 1);
    last_ingest_time_ = ingest;
    index_->Committed(first + group_events - 1);
  }
  uint64_t next = first;
  for (Writer* w : group) {
    if (failure) {
      w->result = std::unexpected(*failure);
    } else {
      w->result =
          AppendResult{next, next + w->events.size() - 1, ingest,
                       options_.durability.mode == Durability::Mode::kSync};
      next += w->events.size();
    }
    w->done = true;
    writers_.pop_front();
    if (w != &self) w->cv.notify_one();
  }
  if (!writers_.empty()) writers_.front()->cv.notify_one();
  return std::move(self.result);
}

Status LogImpl::CheckStart(uint64_t from) const {
  uint64_t first = first_offset_.load();
  uint64_t last = last_offset_.load();
  if (from < first) {
    return MakeError(ErrorCode::kOutOfRange,
                     "offset " + std::to_string(from) +
                         " is below the first available offset " +
                         std::to_string(first));
  }
  if (from > last + 1) {
    return MakeError(ErrorCode::kFutureOffset,
                     "offset " + std::to_string(from) +
                         " is beyond the last offset " + std::to_string(last));
  }
  return {};
}

Result<std::unique_ptr<Reader>> LogImpl::NewReader(uint64_t from, uint64_t to) {
  WMETA_RETURN_IF_ERROR(CheckStart(from));
  if (to < from) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        "empty range: " + std::to_string(to) + " < " + std::to_string(from));
  }
  // Read the bound first: the iterator, created after, sees at least this much.
  uint64_t last = std::min(to, last_offset_.load());
  return std::make_unique<RangeReader>(*db_, records_, from, last);
}

Result<std::string> LogImpl::RecordBytes(uint64_t offset) {
  auto value = Get(records_, OffsetKey(offset));
  if (!value && value.error().code == ErrorCode::kNotFound) {
    // The caller checked that `offset` is within the log.
    return MakeError(
        ErrorCode::kCorruption,
        "offset " + std::to_string(offset) + " is missing from the log");
  }
  return value;
}

Result<Timestamp> LogImpl::IngestTimeAt(uint64_t offset) {
  WMETA_ASSIGN_OR_RETURN(std::string value, RecordBytes(offset));
  AlignedCopy aligned;
  auto view = EventView::Verify(aligned.Align(value));
  if (!view) {
    return MakeError(
        ErrorCode::kCorruption,
        "offset " + std::to_string(offset) + ": " + view.error().message);
  }
  return view->ingest_time();
}

Result<uint64_t> LogImpl::OffsetAtTime(Timestamp time) {
  // Ingest times never decrease with the offset, so the answer is a partition
  // point.
  uint64_t lo = first_offset_.load();
  uint64_t hi = last_offset_.load() + 1;
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo) / 2;
    WMETA_ASSIGN_OR_RETURN(Timestamp t, IngestTimeAt(mid));
    if (t >= time) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo;
}

Result<Event> LogImpl::Read(uint64_t offset) {
  WMETA_RETURN_IF_ERROR(CheckStart(offset));
  if (offset > last_offset_.load()) {
    return MakeError(ErrorCode::kFutureOffset,
                     "offset " + std::to_string(offset) +
                         " is beyond the last offset " +
                         std::to_string(last_offset_.load()));
  }
  WMETA_ASSIGN_OR_RETURN(std::string value, RecordBytes(offset));
  auto event = Event::FromBytes(std::move(value));
  if (!event) {
    return MakeError(
        ErrorCode::kCorruption,
        "offset " + std::to_string(offset) + ": " + event.error().message);
  }
  if (event->view().offset() != offset) {
    return MakeError(ErrorCode::kCorruption,
                     "offset " + std::to_string(offset) +
                         ": record says offset " +
                         std::to_string(event->view().offset()));
  }
  return event;
}

Result<std::vector<uint64_t>> LogImpl::EntityOffsets(const EntityId& id,
                                                     uint64_t from,
                                                     uint64_t to) {
  if (from == 0) {
    from = first_offset_.load();
  } else {
    WMETA_RETURN_IF_ERROR(CheckStart(from));
  }
  std::shared_lock lock(refresh_mu_);
  return index_->Offsets(id, from, to, last_offset_.load());
}

Result<Stats> LogImpl::GetStats() {
  Stats stats;
  stats.store_id = store_id_;
  stats.format_version = internal::kFormatVersion;
  stats.first_offset = first_offset_.load();
  stats.last_offset = last_offset_.load();
  stats.durability = options_.durability.ToString();
  stats.indexed_offset = index_->watermark();
  if (stats.last_offset >= stats.first_offset) {
    stats.record_count = stats.last_offset - stats.first_offset + 1;
    WMETA_ASSIGN_OR_RETURN(stats.first_ingest_time,
                           IngestTimeAt(stats.first_offset));
    WMETA_ASSIGN_OR_RETURN(stats.last_ingest_time,
                           IngestTimeAt(stats.last_offset));
  }
  WMETA_ASSIGN_OR_RETURN(stats.bytes_on_disk, DirectoryBytes(dir_));
  return stats;
}

Status LogImpl::Refresh() {
  if (!options_.read_only) return {};
  std::unique_lock lock(refresh_mu_);
  auto s = db_->TryCatchUpWithPrimary();
  if (!s.ok()) return RocksError(s, "following the writer of " + dir_);
  return LoadBounds();
}

Status LogImpl::TrimBefore(uint64_t new_first) {
  if (options_.read_only) {
    return MakeError(ErrorCode::kUnavailable, "the log was opened read-only");
  }
  std::lock_guard lock(trim_mu_);
  uint64_t first = first_offset_.load(), last = last_offset_.load();
  if (new_first <= first || new_first > last + 1) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "cannot trim to " + std::to_string(new_first) +
                         ": the log holds " +
                         internal::OffsetRange(first, last));
  }
  rocksdb::WriteOptions sync;
  sync.sync = true;
  auto s = db_->Put(sync, meta_, ToSlice(internal::kFirstOffsetKey),
                    OffsetKey(new_first));
  if (!s.ok()) return RocksError(s, "trimming " + dir_);
  first_offset_ = new_first;
  // The trim is done: nothing reads below the stored first offset. What
  // follows only gives the space back, now rather than at some later
  // compaction; if it fails, the next trim's range (from offset 1) covers it.
  s = db_->DeleteRange(rocksdb::WriteOptions(), records_, OffsetKey(1),
                       OffsetKey(new_first));
  if (s.ok()) {
    std::string end = OffsetKey(new_first);
    rocksdb::Slice end_slice = ToSlice(end);
    (void)db_->CompactRange(rocksdb::CompactRangeOptions(), records_, nullptr,
                            &end_slice);
  }
  return {};
}

Result<uint64_t> LogImpl::ApproximateBytes(uint64_t from, uint64_t to) {
  std::string start = OffsetKey(from), limit = OffsetKey(to + 1);
  rocksdb::Range range(ToSlice(start), ToSlice(limit));
  rocksdb::SizeApproximationOptions options;
  options.include_memtables = true;
  uint64_t size = 0;
  auto s = db_->GetApproximateSizes(options, records_, &range, 1, &size);
  if (!s.ok()) return RocksError(s, "sizing " + dir_);
  return size;
}

Result<VerifyReport> LogImpl::Verify(
    const std::function<void(uint64_t, uint64_t)>& progress) {
  std::shared_lock lock(refresh_mu_);
  return internal::VerifyLog(
      *db_, {meta_, records_, entities_, !options_.read_only},
      first_offset_.load(), last_offset_.load(), progress);
}

void LogImpl::SyncLoop() {
  std::unique_lock lock(sync_mu_);
  while (!sync_cv_.wait_for(lock, options_.durability.interval,
                            [this] { return stopping_; })) {
    lock.unlock();
    // A failed sync leaves the data in the OS cache; the next round tries
    // again.
    db_->SyncWAL().PermitUncheckedError();
    lock.lock();
  }
}

}  // namespace

Result<AppendResult> Log::Append(std::span<const Event> events) {
  std::vector<const Event*> pointers;
  pointers.reserve(events.size());
  for (const Event& e : events) pointers.push_back(&e);
  return Append(std::span<const Event* const>(pointers));
}

Result<Durability> Durability::Parse(std::string_view text) {
  if (text == "sync") return Durability{};
  if (text == "none") return Durability{Mode::kNone, {}};
  constexpr std::string_view kInterval = "interval:";
  if (text.starts_with(kInterval)) {
    std::string_view ms = text.substr(kInterval.size());
    int64_t value = 0;
    auto [end, ec] = std::from_chars(ms.data(), ms.data() + ms.size(), value);
    if (ec == std::errc() && end == ms.data() + ms.size() && value >= 1 &&
        value <= 60000) {
      return Durability{Mode::kInterval, std::chrono::milliseconds(value)};
    }
  }
  return MakeError(ErrorCode::kInvalidArgument,
                   "invalid durability '" + std::string(text) +
                       "': expected sync, interval:<1-60000 ms> or none");
}

std::string Durability::ToString() const {
  switch (mode) {
    case Mode::kSync:
      return "sync";
    case Mode::kInterval:
      return "interval:" + std::to_string(interval.count());
    case Mode::kNone:
      return "none";
  }
  return "unknown";
}

Result<std::unique_ptr<Log>> Log::Open(const std::string& dir,
                                       const Options& options) {
  return internal::OpenWithEnv(dir, options, nullptr);
}

namespace internal {

Result<std::unique_ptr<Log>> OpenWithEnv(const std::string& dir,
                                         const Options& options,
                                         rocksdb::Env* env) {
  auto log = std::make_unique<LogImpl>(dir, options, env);
  WMETA_RETURN_IF_ERROR(log->Init());
  return log;
}

Status WaitIndexed(Log& log, uint64_t offset,
                   std::chrono::steady_clock::time_point deadline) {
  return static_cast<LogImpl&>(log).WaitIndexed(offset, deadline);
}

}  // namespace internal

}  // namespace wmeta::log
