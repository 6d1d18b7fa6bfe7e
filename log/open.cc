// Opening a data dir: the format checks, RocksDB's WAL recovery held against
// the acknowledged mark, the checks that the log is whole, and accepting a
// loss (Log::AcceptLoss).

#include <rocksdb/iterator.h>
#include <rocksdb/listener.h>
#include <rocksdb/metadata.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <stdlib.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <random>
#include <system_error>

#include "info_log.h"
#include "log_impl.h"
#include "rocks_util.h"
#include "testing.h"

namespace wmeta::log::internal {
namespace {

namespace fs = std::filesystem;

// How often a reader retries opening beside a running writer: it can catch a
// WAL or table file as the writer deletes it, a race that is over by the
// next attempt.
constexpr int kReaderAttempts = 3;

// What Open's errors add so that an operator knows the way out.
constexpr std::string_view kAcceptLossHint =
    "; nothing acknowledged is handed out again: restore the data dir, or run "
    "`wmeta recover --accept-loss` to keep what can be read under a new store "
    "id (log/FORMAT.md, \"Damage\")";

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
    return DecodeEntityKey(ToView(key)).has_value();
  }
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

std::vector<rocksdb::ColumnFamilyDescriptor> Families(
    const rocksdb::CompactionFilter* filter) {
  return {
      {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()},
      {std::string(kRecordsFamily), RecordsFamilyOptions()},
      {std::string(kEntitiesFamily), EntitiesFamilyOptions(filter)},
  };
}

// RocksDB recovers from a failed write on its own only by waiting for free
// space in the background and then writing on, which after a failed WAL write
// can go on into the WAL that failed (see durability.cc). Hard errors are left
// to the log, which recovers before its next write.
class LeaveRecoveryToTheLog final : public rocksdb::EventListener {
 public:
  void OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason /*reason*/,
                            rocksdb::Status bg_error,
                            bool* auto_recovery) override {
    if (bg_error.severity() >= rocksdb::Status::Severity::kHardError) {
      *auto_recovery = false;
    }
  }
};

rocksdb::DBOptions MakeDbOptions(
    const Options& options, rocksdb::Env* env,
    const std::shared_ptr<rocksdb::EventListener>& listener) {
  rocksdb::DBOptions db;
  if (env != nullptr) db.env = env;
  db.create_if_missing = !options.read_only;
  db.create_missing_column_families = !options.read_only;
  // The writer's recovery stops at a damaged WAL record and fails, so that
  // Open can hold what it could read against the acknowledged mark (a torn
  // tail, the remains of a crash, ends the log without failing).
  db.wal_recovery_mode =
      rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  // RocksDB's LOG file would live on the data dir's disk; see InfoLog.
  db.info_log = NewInfoLogger(options.info_log);
  if (listener != nullptr) db.listeners.push_back(listener);
  db.max_background_jobs = 2;
  return db;
}

// The offsets of the records in RocksDB's table files, as intervals sorted by
// their start.
std::vector<std::pair<uint64_t, uint64_t>> TableRanges(rocksdb::DB& db) {
  std::vector<rocksdb::LiveFileMetaData> files;
  db.GetLiveFilesMetaData(&files);
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const auto& file : files) {
    if (file.column_family_name != kRecordsFamily) continue;
    auto smallest = DecodeOffsetKey(file.smallestkey);
    auto largest = DecodeOffsetKey(file.largestkey);
    if (smallest && largest && *smallest <= *largest) {
      ranges.emplace_back(*smallest, *largest);
    }
  }
  std::sort(ranges.begin(), ranges.end());
  return ranges;
}

// " (000012.log, ...)": the WAL files in `dir` that hold anything, for
// messages about damage.
std::string WalNames(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec);
       !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::error_code size_ec;
    if (it->path().extension() == ".log" && it->file_size(size_ec) > 0 &&
        !size_ec) {
      names.push_back(it->path().filename().string());
    }
  }
  if (names.empty()) return "";
  std::sort(names.begin(), names.end());
  std::string out = " (";
  for (size_t i = 0; i < names.size(); ++i) {
    out += (i ? ", " : "") + names[i];
  }
  return out + ")";
}

}  // namespace

bool TrimmedEntries::Filter(int /*level*/, const rocksdb::Slice& key,
                            const rocksdb::Slice& /*value*/,
                            std::string* /*new_value*/,
                            bool* /*value_changed*/) const {
  auto parts = DecodeEntityKey(ToView(key));
  return parts && parts->offset < first_.load(std::memory_order_relaxed);
}

LogImpl::LogImpl(std::string dir, Options options, rocksdb::Env* env, Mode mode)
    : dir_(std::move(dir)), options_(options), mode_(mode), env_(env) {
  if (options_.clock == nullptr) options_.clock = &SystemClock();
}

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
  FinalSync();
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
  // Read before RocksDB opens, so that a reader beside the writer sees a mark
  // no higher than what the WAL it then reads holds.
  auto mark = AckMark::Read(dir_);
  if (mark) {
    mark_at_open_ = *mark;
  } else if (mode_ == Mode::kAcceptLoss) {
    damaged_ = true;
  } else {
    WMETA_RETURN_IF_ERROR(Refuse(mark.error()));
  }
  WMETA_RETURN_IF_ERROR(OpenDb());
  WMETA_RETURN_IF_ERROR(LoadOrCreateMeta());
  WMETA_RETURN_IF_ERROR(LoadBounds());
  auto whole = CheckWhole();
  for (int attempt = 1;
       !whole && mode_ == Mode::kReader && attempt < kReaderAttempts;
       ++attempt) {
    // Opened as the writer flushed and deleted a WAL, a reader can miss what
    // that WAL held; the writer's MANIFEST then names the table file with it.
    auto s = db_->TryCatchUpWithPrimary();
    if (!s.ok()) return RocksError(s, "following the writer of " + dir_);
    WMETA_RETURN_IF_ERROR(LoadBounds());
    whole = CheckWhole();
  }
  WMETA_RETURN_IF_ERROR(whole);
  bool writer = !options_.read_only;
  if (writer && mode_ == Mode::kWriter) {
    // Records recovered at open are on stable storage now (RocksDB flushed
    // them), acknowledged or not: they are the log.
    auto opened =
        AckMark::Open(dir_, mark_at_open_,
                      std::max(mark_at_open_.value_or(0), last_offset_.load()));
    if (!opened) return std::unexpected(opened.error());
    ack_mark_.emplace(std::move(*opened));
  }
  index_ = std::make_unique<EntityIndex>(*db_, records_, entities_, writer);
  if (auto started = index_->Start(last_offset_.load(), writer); !started) {
    WMETA_RETURN_IF_ERROR(Refuse(started.error()));
  }
  if (writer && options_.durability.mode == Durability::Mode::kInterval) {
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

Status LogImpl::Refuse(Error error) {
  if (mode_ != Mode::kVerifier) return std::unexpected(std::move(error));
  open_problems_.push_back({0, std::move(error.message)});
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
  if (!options_.read_only)
    recovery_listener_ = std::make_shared<LeaveRecoveryToTheLog>();
  rocksdb::DBOptions db_options =
      MakeDbOptions(options_, env_, recovery_listener_);
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
          family != kRecordsFamily && family != kEntitiesFamily) {
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

  auto descriptors = Families(&trimmed_entries_);
  rocksdb::DB* db = nullptr;
  rocksdb::Status s;
  if (mode_ == Mode::kVerifier) {
    // As the writer would open it (every table file checked, the WAL read to
    // its first damaged record), changing nothing. Failing that, reading on
    // past damaged WAL records; failing that too (a table file missing or
    // damaged), as a reader, which leaves out what it cannot open: so that
    // verify reports all that can be read.
    for (auto wal_mode :
         {rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords,
          rocksdb::WALRecoveryMode::kSkipAnyCorruptedRecords}) {
      db_options.wal_recovery_mode = wal_mode;
      for (int attempt = 0; attempt < kReaderAttempts; ++attempt) {
        handles_.clear();
        s = rocksdb::DB::OpenForReadOnly(db_options, dir_, descriptors,
                                         &handles_, &db);
        if (!s.IsIOError() || s.IsNoSpace()) break;
      }
      if (s.ok()) break;
      if (open_problems_.empty()) {
        open_problems_.push_back(
            {0, "the writer cannot open this data dir: " + s.ToString()});
      }
    }
  }
  if (options_.read_only && db == nullptr) {
    // A secondary instance: it takes no lock and follows the writer's WAL on
    // Refresh(). It reads the WAL as far as it can, the way a reader must
    // beside a writer that is appending to it.
    std::string pattern =
        (fs::temp_directory_path(ec) / "wmeta-reader-XXXXXX").string();
    if (ec || mkdtemp(pattern.data()) == nullptr) {
      return MakeError(ErrorCode::kIoError,
                       "cannot create a directory for a reader's log");
    }
    secondary_dir_ = pattern;
    db_options.max_open_files = -1;
    db_options.wal_recovery_mode =
        rocksdb::WALRecoveryMode::kPointInTimeRecovery;
    for (int attempt = 0; attempt < kReaderAttempts; ++attempt) {
      handles_.clear();
      s = rocksdb::DB::OpenAsSecondary(db_options, dir_, secondary_dir_,
                                       descriptors, &handles_, &db);
      if (!s.IsIOError() || s.IsNoSpace()) break;
    }
  } else if (!options_.read_only) {
    s = rocksdb::DB::Open(db_options, dir_, descriptors, &handles_, &db);
    if (s.IsCorruption()) {
      if (auto checked = CheckDamagedWal(db_options, s); !checked) {
        if (mode_ != Mode::kAcceptLoss) return checked;
        damaged_ = true;
      }
      db_options.wal_recovery_mode =
          rocksdb::WALRecoveryMode::kPointInTimeRecovery;
      handles_.clear();
      s = rocksdb::DB::Open(db_options, dir_, descriptors, &handles_, &db);
    }
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
        text.find("olumn famil") != std::string::npos) {
      return MakeError(ErrorCode::kUnsupportedFormat,
                       dir_ + " is not a wmeta store: " + text);
    }
    return RocksError(s, "cannot open the store in " + dir_);
  }
  db_.reset(db);
  meta_ = handles_[0];
  records_ = handles_[1];
  entities_ = handles_[2];
  return {};
}

Status LogImpl::CheckDamagedWal(const rocksdb::DBOptions& db_options,
                                const rocksdb::Status& failure) {
  // Read what the WAL holds up to the damage, changing nothing.
  rocksdb::DBOptions read_options = db_options;
  read_options.wal_recovery_mode =
      rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  auto s = rocksdb::DB::OpenForReadOnly(
      read_options, dir_, Families(&trimmed_entries_), &handles, &db);
  if (!s.ok()) {
    // Not (only) the WAL: a table file or the MANIFEST.
    return RocksError(failure, "cannot open the store in " + dir_);
  }
  std::unique_ptr<rocksdb::DB> owner(db);
  std::optional<uint64_t> last;
  {
    std::unique_ptr<rocksdb::Iterator> it(
        db->NewIterator(rocksdb::ReadOptions(), handles[1]));
    it->SeekToLast();
    if (it->Valid()) last = DecodeOffsetKey(ToView(it->key()));
    s = it->status();
  }
  for (auto* handle : handles)
    db->DestroyColumnFamilyHandle(handle).PermitUncheckedError();
  if (!s.ok()) return RocksError(s, "reading " + dir_);
  uint64_t readable = last.value_or(0);
  if (mark_at_open_ && readable >= *mark_at_open_) {
    // The damage is past everything acknowledged: the remains of a write a
    // crash tore, never acknowledged. It goes, as a torn tail would.
    if (options_.info_log.sink) {
      options_.info_log.sink(
          InfoLog::Level::kWarn,
          dir_ + ": the write-ahead log is damaged after offset " +
              std::to_string(readable) + " (" + failure.ToString() +
              "); nothing acknowledged was in the damaged part, which is "
              "dropped");
    }
    return {};
  }
  std::string lost =
      mark_at_open_
          ? "offsets " + OffsetRange(readable + 1, *mark_at_open_) +
                " were acknowledged but cannot be read back"
          : "it can be read back to offset " + std::to_string(readable) +
                " only, and the store has no record of what was acknowledged";
  return MakeError(ErrorCode::kCorruption,
                   dir_ + ": the write-ahead log" + WalNames(dir_) +
                       " is damaged (" + failure.ToString() + "): " + lost +
                       std::string(kAcceptLossHint));
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
  auto version = Get(meta_, kFormatVersionKey);
  if (!version && version.error().code != ErrorCode::kNotFound) {
    return Refuse(version.error());
  }
  if (!version) {
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(rocksdb::ReadOptions(), records_));
    it->SeekToFirst();
    if (!it->status().ok()) {
      // Unreadable records are not "no records": never put a new store id on
      // them.
      return Refuse(FromRocks(it->status(), "reading " + dir_));
    }
    if (it->Valid()) {
      // The column families are wmeta's: the metadata was lost, not never
      // written.
      return Refuse({ErrorCode::kCorruption,
                     dir_ +
                         " holds records but no format version: its metadata "
                         "is damaged or missing (a table file?)"});
    }
    if (options_.read_only) {
      return Refuse({ErrorCode::kUnsupportedFormat,
                     dir_ + " is not a wmeta store: it has no format version"});
    }
    // A new store, or one whose creation was interrupted before any record:
    // initialise.
    store_id_ = NewStoreId();
    rocksdb::WriteBatch batch;
    batch.Put(meta_, ToSlice(kFormatVersionKey),
              std::to_string(kFormatVersion));
    batch.Put(meta_, ToSlice(kStoreIdKey), store_id_);
    batch.Put(meta_, ToSlice(kCreatedTimeKey),
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
    return Refuse(
        {ErrorCode::kUnsupportedFormat,
         dir_ + " has an unreadable format version '" + *version + "'"});
  }
  if (number != kFormatVersion) {
    return Refuse({ErrorCode::kUnsupportedFormat,
                   dir_ + " has format version " + std::to_string(number) +
                       "; this build reads version " +
                       std::to_string(kFormatVersion)});
  }
  auto id = Get(meta_, kStoreIdKey);
  if (!id) {
    return Refuse({ErrorCode::kCorruption, dir_ + " has no store id"});
  }
  store_id_ = std::move(*id);
  return {};
}

Status LogImpl::LoadBounds() {
  // Retention's first offset is persisted before its records are deleted, so
  // it is the truth even if the deletion was lost in a crash.
  uint64_t kept_from = 1;
  auto persisted = Get(meta_, kFirstOffsetKey);
  if (persisted) {
    auto decoded = DecodeOffsetKey(*persisted);
    if (!decoded || *decoded == 0) {
      return Refuse(
          {ErrorCode::kCorruption, dir_ + ": malformed first_offset"});
    }
    kept_from = *decoded;
  } else if (persisted.error().code != ErrorCode::kNotFound) {
    return Refuse(persisted.error());
  }
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), records_));
  it->SeekToFirst();
  if (it->Valid() && !options_.read_only) {
    auto below = DecodeOffsetKey(ToView(it->key()));
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
    first = DecodeOffsetKey(ToView(it->key()));
    it->SeekToLast();
    if (it->Valid()) last = DecodeOffsetKey(ToView(it->key()));
  }
  if (!it->status().ok()) {
    Error error = FromRocks(it->status(), "reading " + dir_);
    // Verify reads on past a damaged first or last block.
    if (mode_ != Mode::kVerifier) return std::unexpected(error);
    open_problems_.push_back({0, error.message});
    return LoadBoundsFromFiles(*it);
  }
  if (!first || !last || *first == 0 || *first > *last || *last > kMaxOffset) {
    return Refuse({ErrorCode::kCorruption, dir_ + ": malformed record keys"});
  }
  if (*first > kept_from) {
    // Records below the first one are gone although retention kept them.
    WMETA_RETURN_IF_ERROR(
        Refuse({ErrorCode::kCorruption,
                dir_ + ": offsets " + OffsetRange(kept_from, *first - 1) +
                    " are missing (a table file is damaged or missing)"}));
  }
  first_offset_ = std::max(*first, kept_from);
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
  std::optional<uint64_t> first, last;
  for (auto [smallest, largest] : TableRanges(*db_)) {
    first = std::min(first.value_or(smallest), smallest);
    last = std::max(last.value_or(largest), largest);
  }
  // Records newer than every table file are in the memtable, replayed from the
  // WAL and readable; offsets only grow, so they all sort after the files'
  // keys.
  for (it.Seek(OffsetKey(last.value_or(0) + 1)); it.Valid(); it.Next()) {
    last = DecodeOffsetKey(ToView(it.key()));
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

Status LogImpl::CheckWhole() {
  uint64_t first = first_offset_.load(), last = last_offset_.load();
  // Table files hold the older records, the memtable (replayed from the WAL)
  // the newer ones. A reader's RocksDB skips a table file it cannot open and
  // shows the database as it was before that file was written; a gap between
  // the files' ranges, or between them and the memtable, is what betrays it.
  uint64_t covered = first - 1;
  for (auto [smallest, largest] : TableRanges(*db_)) {
    if (largest < first) continue;
    if (smallest > covered + 1) break;
    covered = std::max(covered, largest);
  }
  if (covered < last) {
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(rocksdb::ReadOptions(), records_));
    it->Seek(OffsetKey(covered + 1));
    std::optional<uint64_t> next;
    if (it->Valid()) next = DecodeOffsetKey(ToView(it->key()));
    if (!it->status().ok()) {
      WMETA_RETURN_IF_ERROR(Refuse(FromRocks(it->status(), "reading " + dir_)));
    } else if (next != covered + 1) {
      WMETA_RETURN_IF_ERROR(
          Refuse({ErrorCode::kCorruption,
                  dir_ + ": offsets " +
                      OffsetRange(covered + 1, next ? *next - 1 : last) +
                      " are missing (a table file is damaged or missing)"}));
    }
  }
  if (mark_at_open_ && last < *mark_at_open_) {
    // What AcceptLoss is for.
    if (mode_ == Mode::kAcceptLoss) {
      damaged_ = true;
      return {};
    }
    WMETA_RETURN_IF_ERROR(Refuse(
        {ErrorCode::kCorruption,
         dir_ + ": the log ends at offset " + std::to_string(last) +
             " but offsets up to " + std::to_string(*mark_at_open_) +
             " were acknowledged: the write-ahead log was damaged, truncated "
             "or deleted, or a table file is missing" +
             std::string(kAcceptLossHint)}));
  }
  return {};
}

Result<LossReport> LogImpl::AcceptLoss(const LossPreparation& prepare) {
  LossReport report;
  report.old_store_id = store_id_;
  report.last_offset = last_offset_.load();
  report.acknowledged = mark_at_open_;
  // An earlier, interrupted run chose the new id already.
  auto pending = Get(meta_, kPendingStoreIdKey);
  if (!pending && pending.error().code != ErrorCode::kNotFound) {
    return std::unexpected(pending.error());
  }
  if (!damaged_ && !pending) return report;
  report.new_store_id = pending ? *pending : NewStoreId();
  rocksdb::WriteOptions sync;
  sync.sync = true;
  if (!pending) {
    auto s =
        db_->Put(sync, meta_, ToSlice(kPendingStoreIdKey), report.new_store_id);
    if (!s.ok()) return RocksError(s, "recovering " + dir_);
  }
  WMETA_RETURN_IF_ERROR(
      prepare(report.old_store_id, report.new_store_id, report.last_offset));
  rocksdb::WriteBatch batch;
  batch.Put(meta_, ToSlice(kStoreIdKey), report.new_store_id);
  batch.Delete(meta_, ToSlice(kPendingStoreIdKey));
  std::string note = FormatTime(options_.clock->Now()) + ": continues store " +
                     report.old_store_id + " up to offset " +
                     std::to_string(report.last_offset) + "; acknowledged: " +
                     (report.acknowledged ? std::to_string(*report.acknowledged)
                                          : std::string("unknown"));
  batch.Put(meta_, ToSlice(kRecoveredKey), note);
  auto s = db_->Write(sync, &batch);
  if (!s.ok()) return RocksError(s, "recovering " + dir_);
  store_id_ = report.new_store_id;
  auto mark = AckMark::Open(dir_, std::nullopt, report.last_offset);
  if (!mark) return std::unexpected(mark.error());
  report.accepted = true;
  return report;
}

}  // namespace wmeta::log::internal

namespace wmeta::log {

Result<std::unique_ptr<Log>> Log::Open(const std::string& dir,
                                       const Options& options) {
  return internal::OpenWithEnv(dir, options, nullptr);
}

Result<LossReport> Log::AcceptLoss(const std::string& dir,
                                   const Options& options,
                                   const LossPreparation& prepare) {
  Options writer = options;
  writer.read_only = false;
  writer.for_verify = false;
  writer.create_if_missing = false;
  auto log = std::make_unique<internal::LogImpl>(
      dir, writer, nullptr, internal::LogImpl::Mode::kAcceptLoss);
  WMETA_RETURN_IF_ERROR(log->Init());
  return log->AcceptLoss(prepare);
}

namespace internal {

Result<std::unique_ptr<Log>> OpenWithEnv(const std::string& dir,
                                         const Options& options,
                                         rocksdb::Env* env) {
  LogImpl::Mode mode = !options.read_only   ? LogImpl::Mode::kWriter
                       : options.for_verify ? LogImpl::Mode::kVerifier
                                            : LogImpl::Mode::kReader;
  auto log = std::make_unique<LogImpl>(dir, options, env, mode);
  WMETA_RETURN_IF_ERROR(log->Init());
  return log;
}

}  // namespace internal
}  // namespace wmeta::log
