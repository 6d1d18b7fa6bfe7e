#include "wmeta/replay/capture.h"

#include <fcntl.h>
#include <unistd.h>
#include <zstd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "wmeta/schema/crc32c.h"
#include "wmeta/schema/json.h"
#include "wmeta/schema/reflection.h"

namespace wmeta::replay {
namespace {

namespace json = boost::json;

// PNG's trick: a high byte, the name, then CR LF and ^Z, which text-mode
// transfers and truncating tools mangle visibly.
constexpr std::string_view kMagic{"\x89WCAP\r\n\x1a", 8};
constexpr size_t kMaxHeader = size_t{1} << 20;
// A block is flushed past this; one record may make it larger.
constexpr size_t kBlockTarget = size_t{1} << 20;
constexpr size_t kMaxFrame = kMaxRecordBytes + kBlockTarget + 4;
constexpr char kBlockFrame = 'B';
// A block compressed with zstd: its length once decompressed, then the zstd
// frame.
constexpr char kCompressedFrame = 'Z';
constexpr char kEndFrame = 'E';
// Fast, and within a few percent of the best ratio on records (measured in
// bench/RESULTS.md).
constexpr int kZstdLevel = 3;
// Type, payload length, payload CRC-32C.
constexpr size_t kFrameHeader = 1 + 4 + 4;

void PutU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}

uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) {
    v |= static_cast<uint32_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  }
  return v;
}

std::unexpected<Error> Damaged(const std::string& path, uint64_t at,
                               const std::string& what) {
  return MakeError(ErrorCode::kCorruption,
                   path + ": at byte " + std::to_string(at) + ": " + what);
}

std::unexpected<Error> IoError(const std::string& what,
                               const std::string& path) {
  return MakeError(ErrorCode::kIoError,
                   what + " " + path + ": " + std::strerror(errno));
}

json::array Strings(const std::vector<std::string>& values) {
  json::array out;
  for (const std::string& v : values) out.emplace_back(v);
  return out;
}

std::string HeaderJson(const CaptureHeader& h, uint32_t version) {
  json::object o;
  o["format"] = version;
  o["schema_hash"] = h.schema_hash;
  o["store_id"] = h.store_id;
  o["from"] = h.from;
  o["to"] = h.to;
  o["kinds"] = Strings(h.kinds);
  o["sources"] = Strings(h.sources);
  o["created"] = FormatTime(h.created);
  o["compression"] = h.compression;
  return json::serialize(o);
}

std::string SummaryJson(const CaptureSummary& s) {
  json::object o;
  o["records"] = s.records;
  o["first_offset"] = s.first_offset;
  o["last_offset"] = s.last_offset;
  o["first_time"] = FormatTime(s.first_time);
  o["last_time"] = FormatTime(s.last_time);
  return json::serialize(o);
}

// The fields of a header or trailer object; false when one is missing or of
// another type.
bool ReadString(const json::object& o, std::string_view key, std::string& out) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || !v->is_string()) return false;
  out = std::string(v->as_string());
  return true;
}

bool ReadCount(const json::object& o, std::string_view key, uint64_t& out) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return false;
  if (const uint64_t* u = v->if_uint64()) {
    out = *u;
    return true;
  }
  if (const int64_t* i = v->if_int64(); i != nullptr && *i >= 0) {
    out = static_cast<uint64_t>(*i);
    return true;
  }
  return false;
}

bool ReadTime(const json::object& o, std::string_view key, Timestamp& out) {
  std::string text;
  if (!ReadString(o, key, text)) return false;
  Result<Timestamp> t = ParseTime(text);
  if (!t) return false;
  out = *t;
  return true;
}

bool ReadStrings(const json::object& o, std::string_view key,
                 std::vector<std::string>& out) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || !v->is_array()) return false;
  for (const json::value& item : v->as_array()) {
    if (!item.is_string()) return false;
    out.emplace_back(item.as_string());
  }
  return true;
}

// Absent in captures written without compression support: none.
bool ReadCompression(const json::object& o, std::string& out) {
  if (!o.contains("compression")) {
    out = "none";
    return true;
  }
  return ReadString(o, "compression", out) && (out == "none" || out == "zstd");
}

std::optional<json::object> ParseObject(std::string_view text) {
  json::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

// Whether `record` may come next in a capture summarised so far by `s`:
// appended (offset above 0), after the last one.
bool Follows(const CaptureSummary& s, const EventView& record) {
  return record.offset() != 0 && record.offset() > s.last_offset;
}

std::string OutOfOrder(const CaptureSummary& s, const EventView& record) {
  return "record offset " + std::to_string(record.offset()) + " after " +
         std::to_string(s.last_offset);
}

void Count(CaptureSummary& s, const EventView& record) {
  if (s.records == 0) {
    s.first_offset = record.offset();
    s.first_time = record.ingest_time();
  }
  ++s.records;
  s.last_offset = record.offset();
  s.last_time = record.ingest_time();
}

class WriterImpl final : public CaptureWriter {
 public:
  WriterImpl(std::string path, int fd, bool compress)
      : path_(std::move(path)), fd_(fd), compress_(compress) {}

  ~WriterImpl() override {
    if (fd_ >= 0) ::close(fd_);
    if (!finished_) {
      std::error_code ec;
      std::filesystem::remove(path_ + ".tmp", ec);
    }
  }

  Status Start(const CaptureHeader& header) {
    // Version 1 readers know no compressed blocks: a file with them says 2.
    const uint32_t version = compress_ ? kCaptureFormatVersion : 1;
    std::string json = HeaderJson(header, version);
    std::string out(kMagic);
    PutU32(out, version);
    PutU32(out, static_cast<uint32_t>(json.size()));
    out += json;
    PutU32(out, Crc32c(json));
    return Write(out);
  }

  Status Add(const EventView& record) override {
    if (done_)
      return MakeError(ErrorCode::kInvalidArgument, "capture finished");
    if (!Follows(summary_, record)) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "capture: " + OutOfOrder(summary_, record));
    }
    Count(summary_, record);
    PutU32(block_, static_cast<uint32_t>(record.bytes().size()));
    block_.append(reinterpret_cast<const char*>(record.bytes().data()),
                  record.bytes().size());
    if (block_.size() >= kBlockTarget) return FlushBlock();
    return {};
  }

  Result<CaptureSummary> Finish() override {
    if (done_)
      return MakeError(ErrorCode::kInvalidArgument, "capture finished");
    done_ = true;
    if (!block_.empty()) WMETA_RETURN_IF_ERROR(FlushBlock());
    block_ = SummaryJson(summary_);
    WMETA_RETURN_IF_ERROR(Flush(kEndFrame));
    if (::fsync(fd_) != 0) return IoError("cannot sync", path_ + ".tmp");
    ::close(fd_);
    fd_ = -1;
    std::error_code ec;
    std::filesystem::rename(path_ + ".tmp", path_, ec);
    if (ec) {
      return MakeError(ErrorCode::kIoError,
                       "cannot rename " + path_ + ".tmp: " + ec.message());
    }
    finished_ = true;
    // The rename is durable once the directory is.
    std::string dir = std::filesystem::absolute(path_).parent_path().string();
    if (int d = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        d >= 0) {
      ::fsync(d);
      ::close(d);
    }
    return summary_;
  }

 private:
  Status FlushBlock() {
    if (!compress_) return Flush(kBlockFrame);
    std::string frame;
    PutU32(frame, static_cast<uint32_t>(block_.size()));
    frame.resize(4 + ZSTD_compressBound(block_.size()));
    size_t n = ZSTD_compress(frame.data() + 4, frame.size() - 4, block_.data(),
                             block_.size(), kZstdLevel);
    if (ZSTD_isError(n)) {
      return MakeError(ErrorCode::kInternal,
                       std::string("zstd: ") + ZSTD_getErrorName(n));
    }
    // Data that does not compress (it grows a little) goes as it is: a
    // block at its largest must stay within a frame.
    if (4 + n >= block_.size()) return Flush(kBlockFrame);
    frame.resize(4 + n);
    block_ = std::move(frame);
    return Flush(kCompressedFrame);
  }

  Status Flush(char type) {
    std::string frame(1, type);
    PutU32(frame, static_cast<uint32_t>(block_.size()));
    PutU32(frame, Crc32c(block_));
    frame += block_;
    block_.clear();
    return Write(frame);
  }

  Status Write(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return IoError("cannot write", path_ + ".tmp");
      data.remove_prefix(static_cast<size_t>(n));
    }
    return {};
  }

  std::string path_;
  int fd_;
  bool compress_;
  std::string block_;
  CaptureSummary summary_;
  bool done_ = false;
  bool finished_ = false;
};

class ReaderImpl final : public CaptureReader {
 public:
  ReaderImpl(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~ReaderImpl() override { ::close(fd_); }

  Status Start() {
    std::string fixed;
    WMETA_ASSIGN_OR_RETURN(size_t got, ReadUpTo(16, fixed));
    if (got < kMagic.size() || std::string_view(fixed).substr(0, 8) != kMagic) {
      return MakeError(ErrorCode::kUnsupportedFormat,
                       path_ + ": not a wmeta capture (no magic at byte 0)");
    }
    if (got < 16) return Damaged(path_, got, "the file ends inside the header");
    uint32_t version = GetU32(fixed.data() + 8);
    if (version < 1 || version > kCaptureFormatVersion) {
      return MakeError(ErrorCode::kUnsupportedFormat,
                       path_ + ": capture format " + std::to_string(version) +
                           "; this build reads formats 1 to " +
                           std::to_string(kCaptureFormatVersion));
    }
    uint32_t length = GetU32(fixed.data() + 12);
    if (length > kMaxHeader) {
      return Damaged(path_, 12,
                     "a header of " + std::to_string(length) +
                         " bytes (at most " + std::to_string(kMaxHeader) + ")");
    }
    std::string json;
    WMETA_ASSIGN_OR_RETURN(got, ReadUpTo(length + 4, json));
    if (got < length + 4) {
      return Damaged(path_, pos_, "the file ends inside the header");
    }
    uint32_t crc = GetU32(json.data() + length);
    json.resize(length);
    if (Crc32c(json) != crc) {
      return Damaged(path_, 16, "header checksum mismatch");
    }
    std::optional<json::object> o = ParseObject(json);
    uint64_t format = 0;
    if (!o || !ReadCount(*o, "format", format) ||
        !ReadString(*o, "schema_hash", header_.schema_hash) ||
        !ReadString(*o, "store_id", header_.store_id) ||
        !ReadCount(*o, "from", header_.from) ||
        !ReadCount(*o, "to", header_.to) ||
        !ReadStrings(*o, "kinds", header_.kinds) ||
        !ReadStrings(*o, "sources", header_.sources) ||
        !ReadTime(*o, "created", header_.created) ||
        !ReadCompression(*o, header_.compression)) {
      return Damaged(path_, 16, "the header is not a capture header");
    }
    return {};
  }

  const CaptureHeader& header() const override { return header_; }
  const CaptureSummary& summary() const override { return summary_; }

  Result<std::optional<Event>> Next() override {
    while (true) {
      if (!failed_.empty()) {
        return MakeError(ErrorCode::kCorruption, failed_);
      }
      if (block_pos_ < block_.size()) return NextInBlock();
      if (ended_) return std::nullopt;
      Status frame = ReadFrame();
      if (!frame) {
        failed_ = frame.error().message;
        return std::unexpected(frame.error());
      }
    }
  }

 private:
  // Reads up to `n` bytes at the current position into `out`; fewer only at
  // the end of the file.
  Result<size_t> ReadUpTo(size_t n, std::string& out) {
    out.resize(n);
    size_t got = 0;
    while (got < n) {
      ssize_t r = ::read(fd_, out.data() + got, n - got);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return IoError("cannot read", path_);
      if (r == 0) break;
      got += static_cast<size_t>(r);
    }
    pos_ += got;
    return got;
  }

  Status ReadFrame() {
    uint64_t at = pos_;
    std::string head;
    WMETA_ASSIGN_OR_RETURN(size_t got, ReadUpTo(kFrameHeader, head));
    if (got == 0) {
      return Damaged(path_, at,
                     "the file ends without its trailer (truncated)");
    }
    if (got < kFrameHeader) {
      return Damaged(path_, at, "the file ends inside a frame header");
    }
    char type = head[0];
    uint32_t length = GetU32(head.data() + 1);
    uint32_t crc = GetU32(head.data() + 5);
    if (type != kBlockFrame && type != kCompressedFrame && type != kEndFrame) {
      return Damaged(path_, at,
                     "not a frame (type byte " +
                         std::to_string(static_cast<uint8_t>(type)) + ")");
    }
    if (length > kMaxFrame) {
      return Damaged(path_, at,
                     "a frame of " + std::to_string(length) +
                         " bytes (at most " + std::to_string(kMaxFrame) + ")");
    }
    std::string payload;
    WMETA_ASSIGN_OR_RETURN(got, ReadUpTo(length, payload));
    if (got < length) {
      return Damaged(path_, at,
                     "the file ends inside a frame of " +
                         std::to_string(length) + " bytes (truncated)");
    }
    if (Crc32c(payload) != crc) {
      return Damaged(path_, at, "frame checksum mismatch");
    }
    if (type == kBlockFrame) {
      block_ = std::move(payload);
      block_pos_ = 0;
      block_at_ = at + kFrameHeader;
      compressed_at_.reset();
      return {};
    }
    if (type == kCompressedFrame) return Decompress(at, payload);
    return ReadTrailer(at, payload);
  }

  // A compressed block is checked whole (its checksum covers the compressed
  // bytes): it must decompress to exactly the length it states.
  Status Decompress(uint64_t at, std::string_view payload) {
    if (payload.size() < 4) {
      return Damaged(path_, at, "a compressed block without its length");
    }
    uint32_t length = GetU32(payload.data());
    if (length > kMaxFrame) {
      return Damaged(path_, at,
                     "a compressed block of " + std::to_string(length) +
                         " bytes (at most " + std::to_string(kMaxFrame) + ")");
    }
    std::string block(length, '\0');
    size_t n = ZSTD_decompress(block.data(), block.size(), payload.data() + 4,
                               payload.size() - 4);
    if (ZSTD_isError(n) || n != length) {
      return Damaged(
          path_, at,
          "a compressed block that does not decompress to its " +
              std::to_string(length) + " bytes" +
              (ZSTD_isError(n) ? std::string(" (") + ZSTD_getErrorName(n) + ")"
                               : ""));
    }
    block_ = std::move(block);
    block_pos_ = 0;
    block_at_ = 0;
    compressed_at_ = at;
    return {};
  }

  Status ReadTrailer(uint64_t at, std::string_view payload) {
    std::optional<json::object> o = ParseObject(payload);
    CaptureSummary said;
    if (!o || !ReadCount(*o, "records", said.records) ||
        !ReadCount(*o, "first_offset", said.first_offset) ||
        !ReadCount(*o, "last_offset", said.last_offset) ||
        !ReadTime(*o, "first_time", said.first_time) ||
        !ReadTime(*o, "last_time", said.last_time)) {
      return Damaged(path_, at, "the trailer is not a capture trailer");
    }
    if (said.records != summary_.records ||
        said.first_offset != summary_.first_offset ||
        said.last_offset != summary_.last_offset) {
      return Damaged(
          path_, at,
          "the trailer says " + std::to_string(said.records) +
              " records, offsets " + std::to_string(said.first_offset) + ".." +
              std::to_string(said.last_offset) + "; the file holds " +
              std::to_string(summary_.records) + ", offsets " +
              std::to_string(summary_.first_offset) + ".." +
              std::to_string(summary_.last_offset));
    }
    std::string rest;
    WMETA_ASSIGN_OR_RETURN(size_t extra, ReadUpTo(1, rest));
    if (extra != 0) return Damaged(path_, pos_ - 1, "bytes after the trailer");
    ended_ = true;
    return {};
  }

  Result<std::optional<Event>> NextInBlock() {
    // In a compressed block, the frame's position and the record's within
    // the decompressed block.
    uint64_t at = compressed_at_.value_or(block_at_ + block_pos_);
    auto fail = [&](const std::string& what) {
      failed_ =
          Damaged(path_, at,
                  compressed_at_ ? "in the compressed block, at its byte " +
                                       std::to_string(block_pos_) + ": " + what
                                 : what)
              .error()
              .message;
      return MakeError(ErrorCode::kCorruption, failed_);
    };
    if (block_.size() - block_pos_ < 4)
      return fail("a record length cut short");
    uint32_t length = GetU32(block_.data() + block_pos_);
    if (length > block_.size() - block_pos_ - 4) {
      return fail("a record of " + std::to_string(length) +
                  " bytes runs past its block");
    }
    Result<Event> event =
        Event::FromBytes(block_.substr(block_pos_ + 4, length));
    if (!event)
      return fail("a record that does not verify: " + event.error().message);
    EventView view = event->view();
    // What a push would refuse: a store must be able to show what it keeps.
    if (Status shown = CheckShowable(view); !shown) {
      return fail("the record of offset " + std::to_string(view.offset()) +
                  " cannot be kept: " + shown.error().message);
    }
    if (!Follows(summary_, view)) return fail(OutOfOrder(summary_, view));
    block_pos_ += 4 + length;
    Count(summary_, view);
    return std::move(*event);
  }

  std::string path_;
  int fd_;
  uint64_t pos_ = 0;
  CaptureHeader header_;
  CaptureSummary summary_;
  std::string block_;
  size_t block_pos_ = 0;
  // The file position of the block's first byte; for a compressed block, of
  // its frame.
  uint64_t block_at_ = 0;
  std::optional<uint64_t> compressed_at_;
  bool ended_ = false;
  // Once damaged, every later call says so again.
  std::string failed_;
};

}  // namespace

Result<std::unique_ptr<CaptureWriter>> CaptureWriter::Create(
    const std::string& path, CaptureHeader header) {
  if (header.compression != "none" && header.compression != "zstd") {
    return MakeError(
        ErrorCode::kInvalidArgument,
        "compression '" + header.compression + "' (known: none, zstd)");
  }
  int fd = ::open((path + ".tmp").c_str(),
                  O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return IoError("cannot create", path + ".tmp");
  header.schema_hash = SchemaHash();
  header.created = SystemClock().Now();
  auto writer =
      std::make_unique<WriterImpl>(path, fd, header.compression == "zstd");
  WMETA_RETURN_IF_ERROR(writer->Start(header));
  return writer;
}

Result<std::unique_ptr<CaptureReader>> CaptureReader::Open(
    const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      return MakeError(ErrorCode::kNotFound, "no capture file " + path);
    }
    return IoError("cannot open", path);
  }
  auto reader = std::make_unique<ReaderImpl>(path, fd);
  WMETA_RETURN_IF_ERROR(reader->Start());
  return reader;
}

Result<CaptureSummary> VerifyCapture(const std::string& path) {
  WMETA_ASSIGN_OR_RETURN(auto reader, CaptureReader::Open(path));
  while (true) {
    WMETA_ASSIGN_OR_RETURN(std::optional<Event> event, reader->Next());
    if (!event) return reader->summary();
  }
}

}  // namespace wmeta::replay
