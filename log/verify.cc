#include "verify.h"

#include <rocksdb/iterator.h>
#include <rocksdb/snapshot.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "key_format.h"
#include "rocks_util.h"

namespace wmeta::log::internal {
namespace {

// Beyond this many offsets the per-offset cross-check of the index (9 bytes per
// offset) would not fit in memory; the other checks still run.
constexpr uint64_t kMaxCrossChecked = uint64_t{1} << 32;

std::string Hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes.substr(0, 32)) {
    out += kHex[c >> 4];
    out += kHex[c & 0xf];
  }
  if (bytes.size() > 32) out += "...";
  return out;
}

std::string Offsets(uint64_t first, uint64_t last) {
  return (first == last ? "offset " : "offsets ") + OffsetRange(first, last);
}

// A non-zero digest of an entity id; 0 marks "no intact record here".
uint64_t EntityDigest(Kind kind, std::string_view id) {
  uint64_t h =
      std::hash<std::string_view>()(id) * 31 + static_cast<uint64_t>(kind);
  return h | 1;
}

bool IsUuid(std::string_view id) {
  if (id.size() != 36) return false;
  for (size_t i = 0; i < id.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    char c = id[i];
    if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

// Everything runs on one snapshot, so that a writer appending (and indexing)
// meanwhile cannot make a consistent log look damaged.
class Checker {
 public:
  Checker(rocksdb::DB& db, const Families& families, uint64_t first,
          uint64_t last,
          const std::function<void(uint64_t, uint64_t)>& progress)
      : db_(db),
        families_(families),
        first_(first),
        last_(last),
        progress_(progress) {
    if (families.snapshots) snapshot_.emplace(&db);
  }

  VerifyReport Run() {
    auto s = db_.VerifyChecksum();
    if (!s.ok()) Problem(0, "RocksDB block checksums: " + s.ToString());
    CheckMeta();
    FindLast();
    uint64_t count = last_ >= first_ ? last_ - first_ + 1 : 0;
    if (count <= kMaxCrossChecked) {
      digests_.assign(count, 0);
      has_entry_.assign(count, false);
    } else {
      Problem(0, Offsets(first_, last_) +
                     ": too many to cross-check the index in memory");
    }
    CheckRecords();
    CheckIndex();
    return std::move(report_);
  }

 private:
  rocksdb::ReadOptions Read() {
    rocksdb::ReadOptions read;
    read.snapshot = snapshot_ ? snapshot_->snapshot() : nullptr;
    read.fill_cache = false;
    return read;
  }

  void Problem(uint64_t offset, std::string message) {
    ++report_.problem_count;
    if (report_.problems.size() < VerifyReport::kMaxReportedProblems) {
      report_.problems.push_back({offset, std::move(message)});
    }
  }

  bool Tracked(uint64_t offset) const {
    return offset >= first_ && offset - first_ < digests_.size();
  }

  std::optional<std::string> GetMeta(std::string_view key) {
    std::string value;
    auto s = db_.Get(Read(), families_.meta, ToSlice(key), &value);
    if (s.ok()) return value;
    if (!s.IsNotFound()) Problem(0, "reading metadata: " + s.ToString());
    return std::nullopt;
  }

  void CheckMeta() {
    auto version = GetMeta(kFormatVersionKey);
    if (!version || *version != std::to_string(kFormatVersion)) {
      Problem(0, "format_version is missing or not " +
                     std::to_string(kFormatVersion));
    }
    auto id = GetMeta(kStoreIdKey);
    if (!id || !IsUuid(*id)) Problem(0, "store_id is missing or not a UUID");
    auto created = GetMeta(kCreatedTimeKey);
    if (!created || !ParseTime(*created)) {
      Problem(0, "created_time is missing or not an RFC 3339 time");
    }
  }

  // The last record in the snapshot, which may be past what the Log knew.
  void FindLast() {
    std::unique_ptr<rocksdb::Iterator> it(
        db_.NewIterator(Read(), families_.records));
    it->SeekToLast();
    if (!it->Valid()) return;  // damaged or empty: keep the Log's bound
    auto last = DecodeOffsetKey(ToView(it->key()));
    if (last && *last > last_ && *last <= kMaxOffset) last_ = *last;
  }

  // After an unreadable stretch starting at `expected`: the position of the
  // first offset past it, found by probing ever further ahead, then bisecting
  // between the last unreadable probe and the first readable one. Returns the
  // first offset after the damage, or nullopt if nothing past it is readable.
  std::optional<uint64_t> SkipDamage(rocksdb::Iterator& it, uint64_t expected) {
    uint64_t bad = expected;
    std::optional<uint64_t> good;
    for (uint64_t step = 1; expected + step <= last_; step *= 2) {
      it.Seek(OffsetKey(expected + step));
      if (it.status().ok()) {
        good = expected + step;
        break;
      }
      bad = expected + step;
    }
    if (!good) return std::nullopt;
    while (*good - bad > 1) {
      uint64_t mid = bad + (*good - bad) / 2;
      it.Seek(OffsetKey(mid));
      if (it.status().ok()) {
        good = mid;
      } else {
        bad = mid;
      }
    }
    it.Seek(OffsetKey(*good));  // leave the iterator on the first readable key
    return good;
  }

  void CheckRecords() {
    rocksdb::ReadOptions read = Read();
    read.readahead_size = 2 << 20;
    std::unique_ptr<rocksdb::Iterator> it(
        db_.NewIterator(read, families_.records));
    uint64_t expected = first_;
    Timestamp previous_time{};
    AlignedCopy aligned;
    it->SeekToFirst();
    while (true) {
      if (!it->Valid()) {
        if (it->status().ok()) break;
        std::string error = it->status().ToString();
        auto resume = SkipDamage(*it, expected);
        Problem(expected, Offsets(expected, resume ? *resume - 1 : last_) +
                              " unreadable: " + error);
        if (!resume) {
          expected = last_ + 1;
          break;
        }
        expected = *resume;
        continue;
      }
      auto offset = DecodeOffsetKey(ToView(it->key()));
      if (!offset) {
        Problem(0, "malformed record key " + Hex(ToView(it->key())));
        it->Next();
        continue;
      }
      if (*offset > expected) {
        Problem(expected, Offsets(expected, *offset - 1) +
                              " missing (the log must be dense)");
      } else if (*offset < expected) {
        Problem(*offset,
                "record below the first offset " + std::to_string(first_));
      }
      CheckRecord(*offset, ToView(it->value()), aligned, previous_time);
      expected = std::max(expected, *offset + 1);
      if (++report_.records_checked % 65536 == 0 && progress_) {
        progress_(report_.records_checked, last_ - first_ + 1);
      }
      it->Next();
    }
    if (expected <= last_) {
      Problem(expected, Offsets(expected, last_) + " missing at the end");
    }
    if (progress_) progress_(report_.records_checked, last_ - first_ + 1);
  }

  void CheckRecord(uint64_t offset, std::string_view value,
                   AlignedCopy& aligned, Timestamp& previous_time) {
    auto view = EventView::Verify(aligned.Align(value));
    if (!view) {
      Problem(offset, view.error().message);
      return;
    }
    if (view->offset() != offset) {
      Problem(offset, "record says offset " + std::to_string(view->offset()));
      return;
    }
    if (view->ingest_time() < previous_time) {
      Problem(offset, "ingest time " + FormatTime(view->ingest_time()) +
                          " is earlier than the previous record's " +
                          FormatTime(previous_time));
    }
    previous_time = view->ingest_time();
    if (Tracked(offset)) {
      digests_[offset - first_] = EntityDigest(view->kind(), view->id());
    }
  }

  void CheckIndex() {
    std::unique_ptr<rocksdb::Iterator> it(
        db_.NewIterator(Read(), families_.entities));
    uint64_t watermark = 0;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (ToView(it->key()) == kIndexWatermarkKey) {
        auto decoded = DecodeOffsetKey(ToView(it->value()));
        if (!decoded) {
          Problem(0, "malformed index watermark " + Hex(ToView(it->value())));
        } else if (*decoded > last_) {
          Problem(*decoded, "index watermark is beyond the last record " +
                                std::to_string(last_));
        } else {
          watermark = *decoded;
        }
        continue;
      }
      ++report_.index_entries_checked;
      auto parts = DecodeEntityKey(ToView(it->key()));
      if (!parts) {
        Problem(0, "malformed index key " + Hex(ToView(it->key())));
        continue;
      }
      std::string entity =
          EntityId{parts->kind, std::string(parts->id)}.ToString();
      // Entries of records retention removed go at the next compaction.
      if (parts->offset < first_) continue;
      if (parts->offset > last_) {
        Problem(parts->offset,
                "index entry for " + entity + " points outside the log");
        continue;
      }
      if (!Tracked(parts->offset)) continue;
      uint64_t slot = parts->offset - first_;
      if (digests_[slot] != 0 &&
          digests_[slot] != EntityDigest(parts->kind, parts->id)) {
        Problem(parts->offset, "index entry for " + entity +
                                   " but the record is about another entity");
      }
      has_entry_[slot] = true;
    }
    if (!it->status().ok()) {
      Problem(0, "unreadable index: " + it->status().ToString());
    }
    // Records above the watermark are not indexed yet: that is not damage.
    for (uint64_t slot = 0;
         slot < digests_.size() && first_ + slot <= watermark; ++slot) {
      if (digests_[slot] != 0 && !has_entry_[slot]) {
        Problem(first_ + slot, "record has no index entry");
      }
    }
  }

  rocksdb::DB& db_;
  const Families families_;
  std::optional<rocksdb::ManagedSnapshot> snapshot_;
  const uint64_t first_;
  uint64_t last_;
  const std::function<void(uint64_t, uint64_t)>& progress_;
  // Per offset in [first_, last_]: the digest of the intact record's entity,
  // and whether an index entry points at it.
  std::vector<uint64_t> digests_;
  std::vector<bool> has_entry_;
  VerifyReport report_;
};

}  // namespace

Result<VerifyReport> VerifyLog(
    rocksdb::DB& db, const Families& families, uint64_t first, uint64_t last,
    const std::function<void(uint64_t, uint64_t)>& progress) {
  return Checker(db, families, first, last, progress).Run();
}

}  // namespace wmeta::log::internal
