#include "verify.h"

#include <rocksdb/iterator.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "key_format.h"
#include "rocks_util.h"

namespace wmeta::log::internal {
namespace {

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

std::string Range(uint64_t first, uint64_t last) {
  return first == last
             ? "offset " + std::to_string(first)
             : "offsets " + std::to_string(first) + ".." + std::to_string(last);
}

// A non-zero digest of an entity id; 0 marks "no intact record here".
uint64_t EntityDigest(Kind kind, std::string_view id) {
  uint64_t h =
      std::hash<std::string_view>()(id) * 31 + static_cast<uint64_t>(kind);
  return h | 1;
}

class Checker {
 public:
  Checker(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* records,
          rocksdb::ColumnFamilyHandle* entities, uint64_t first, uint64_t last,
          uint64_t indexed,
          const std::function<void(uint64_t, uint64_t)>& progress)
      : db_(db),
        records_(records),
        entities_(entities),
        first_(first),
        last_(last),
        indexed_(indexed),
        progress_(progress) {
    uint64_t count = last >= first ? last - first + 1 : 0;
    digests_.assign(count, 0);
    has_entry_.assign(count, false);
  }

  VerifyReport Run() {
    auto s = db_.VerifyChecksum();
    if (!s.ok()) Problem(0, "RocksDB block checksums: " + s.ToString());
    CheckRecords();
    CheckIndex();
    return std::move(report_);
  }

 private:
  void Problem(uint64_t offset, std::string message) {
    ++report_.problem_count;
    if (report_.problems.size() < VerifyReport::kMaxReportedProblems) {
      report_.problems.push_back({offset, std::move(message)});
    }
  }

  bool InLog(uint64_t offset) const {
    return offset >= first_ && offset <= last_;
  }

  void CheckRecords() {
    rocksdb::ReadOptions read;
    read.readahead_size = 2 << 20;
    read.fill_cache = false;
    std::unique_ptr<rocksdb::Iterator> it(db_.NewIterator(read, records_));
    uint64_t expected = first_;
    Timestamp previous_time{};
    AlignedCopy aligned;
    it->SeekToFirst();
    while (true) {
      if (!it->Valid()) {
        if (it->status().ok()) break;
        // Unreadable data (a damaged block): report it and look for where
        // readable records resume, probing further and further ahead.
        std::string error = it->status().ToString();
        std::optional<uint64_t> resume;
        for (uint64_t step = 1; expected + step <= last_; step *= 2) {
          it->Seek(OffsetKey(expected + step));
          if (it->Valid() && it->status().ok()) {
            resume = DecodeOffsetKey(ToView(it->key()));
            break;
          }
        }
        uint64_t end = resume && *resume > expected ? *resume - 1 : last_;
        Problem(expected, Range(expected, end) + " unreadable: " + error);
        if (!resume) {
          expected = last_ + 1;
          break;
        }
        expected = std::max(expected, *resume);
        continue;
      }
      auto offset = DecodeOffsetKey(ToView(it->key()));
      if (!offset) {
        Problem(0, "malformed record key " + Hex(ToView(it->key())));
        it->Next();
        continue;
      }
      if (*offset > expected) {
        Problem(expected, Range(expected, *offset - 1) +
                              " missing (the log must be dense)");
      } else if (*offset < expected) {
        Problem(*offset,
                "record below the first offset " + std::to_string(first_));
      }
      CheckRecord(*offset, ToView(it->value()), aligned, previous_time);
      expected = std::max(expected, *offset + 1);
      if (++report_.records_checked % 65536 == 0 && progress_) {
        progress_(report_.records_checked, digests_.size());
      }
      it->Next();
    }
    if (expected <= last_)
      Problem(expected, Range(expected, last_) + " missing at the end");
    if (progress_) progress_(report_.records_checked, digests_.size());
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
    if (InLog(offset))
      digests_[offset - first_] = EntityDigest(view->kind(), view->id());
  }

  void CheckIndex() {
    rocksdb::ReadOptions read;
    read.fill_cache = false;
    std::unique_ptr<rocksdb::Iterator> it(db_.NewIterator(read, entities_));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (ToView(it->key()) == kIndexWatermarkKey) continue;
      ++report_.index_entries_checked;
      auto parts = DecodeEntityKey(ToView(it->key()));
      if (!parts) {
        Problem(0, "malformed index key " + Hex(ToView(it->key())));
        continue;
      }
      std::string entity =
          EntityId{parts->kind, std::string(parts->id)}.ToString();
      if (!InLog(parts->offset)) {
        Problem(parts->offset,
                "index entry for " + entity + " points outside the log");
        continue;
      }
      uint64_t slot = parts->offset - first_;
      if (digests_[slot] != 0 &&
          digests_[slot] != EntityDigest(parts->kind, parts->id)) {
        Problem(parts->offset, "index entry for " + entity +
                                   " but the record is about another entity");
      }
      has_entry_[slot] = true;
    }
    if (!it->status().ok())
      Problem(0, "unreadable index: " + it->status().ToString());
    // Records above the watermark are not indexed yet: that is not damage.
    for (uint64_t slot = 0; slot < digests_.size() && first_ + slot <= indexed_;
         ++slot) {
      if (digests_[slot] != 0 && !has_entry_[slot]) {
        Problem(first_ + slot, "record has no index entry");
      }
    }
  }

  rocksdb::DB& db_;
  rocksdb::ColumnFamilyHandle* records_;
  rocksdb::ColumnFamilyHandle* entities_;
  const uint64_t first_;
  const uint64_t last_;
  const uint64_t indexed_;
  const std::function<void(uint64_t, uint64_t)>& progress_;
  // Per offset in [first_, last_]: the digest of the intact record's entity,
  // and whether an index entry points at it.
  std::vector<uint64_t> digests_;
  std::vector<bool> has_entry_;
  VerifyReport report_;
};

}  // namespace

Result<VerifyReport> VerifyLog(
    rocksdb::DB& db, rocksdb::ColumnFamilyHandle* records,
    rocksdb::ColumnFamilyHandle* entities, uint64_t first, uint64_t last,
    uint64_t indexed, const std::function<void(uint64_t, uint64_t)>& progress) {
  return Checker(db, records, entities, first, last, indexed, progress).Run();
}

}  // namespace wmeta::log::internal
