#include "checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "wmeta/schema/crc32c.h"

namespace wmeta::store::internal {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kMagic = "WMETAVC1";
constexpr std::string_view kPrefix = "view-";
constexpr std::string_view kSuffix = ".wcp";
constexpr uint32_t kMergedFollows = 1;

void Pad(std::string& out) { out.resize((out.size() + 7) / 8 * 8, '\0'); }

template <typename T>
void Put(std::string& out, T value) {
  char bytes[sizeof(T)];
  for (size_t i = 0; i < sizeof(T); ++i) {
    bytes[i] = static_cast<char>((value >> (8 * i)) & 0xff);
  }
  out.append(bytes, sizeof(T));
}

void PutBytes(std::string& out, std::string_view bytes) {
  Put<uint32_t>(out, static_cast<uint32_t>(bytes.size()));
  out.append(bytes);
  Pad(out);
}

std::string FileName(uint64_t offset) {
  char digits[21];
  std::snprintf(digits, sizeof(digits), "%020llu",
                static_cast<unsigned long long>(offset));
  return std::string(kPrefix) + digits + std::string(kSuffix);
}

// Reads little-endian values from a buffer, failing at the first byte past
// its end.
class Cursor {
 public:
  explicit Cursor(std::string_view data) : data_(data) {}

  template <typename T>
  bool Get(T& value) {
    if (data_.size() - pos_ < sizeof(T)) return false;
    value = 0;
    for (size_t i = 0; i < sizeof(T); ++i) {
      value |= static_cast<T>(static_cast<unsigned char>(data_[pos_ + i]))
               << (8 * i);
    }
    pos_ += sizeof(T);
    return true;
  }

  bool GetBytes(std::string& bytes) {
    uint32_t size;
    if (!Get(size) || data_.size() - pos_ < size) return false;
    bytes.assign(data_.substr(pos_, size));
    pos_ += size;
    pos_ = std::min(data_.size(), (pos_ + 7) / 8 * 8);
    return true;
  }

  size_t pos() const { return pos_; }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

Status SyncPath(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) {
    return MakeError(ErrorCode::kIoError,
                     "cannot open " + path + ": " + std::strerror(errno));
  }
  int rc = ::fsync(fd);
  int saved = errno;
  ::close(fd);
  if (rc != 0) {
    return MakeError(ErrorCode::kIoError,
                     "cannot fsync " + path + ": " + std::strerror(saved));
  }
  return {};
}

// Writes `data` as `path`, atomically (a temporary file, fsync, rename, fsync
// of the directory).
Status WriteFileAtomically(const std::string& dir, const std::string& path,
                           std::string_view data) {
  std::error_code ec;
  std::string temp = path + ".tmp";
  {
    std::ofstream file(temp, std::ios::binary | std::ios::trunc);
    file.write(data.data(), static_cast<std::streamsize>(data.size()));
    file.flush();
    if (!file) {
      fs::remove(temp, ec);
      return MakeError(ErrorCode::kIoError, "cannot write " + temp);
    }
  }
  WMETA_RETURN_IF_ERROR(SyncPath(temp, O_RDONLY));
  fs::rename(temp, path, ec);
  if (ec) {
    return MakeError(ErrorCode::kIoError,
                     "cannot rename " + temp + ": " + ec.message());
  }
  return SyncPath(dir, O_RDONLY | O_DIRECTORY);
}

}  // namespace

std::string CheckpointDir(const std::string& data_dir) {
  return data_dir + "/checkpoints";
}

std::vector<CheckpointFile> ListCheckpoints(const std::string& dir) {
  std::vector<CheckpointFile> out;
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec);
       !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (!name.starts_with(kPrefix) || !name.ends_with(kSuffix)) continue;
    std::string_view digits(name);
    digits = digits.substr(kPrefix.size(),
                           digits.size() - kPrefix.size() - kSuffix.size());
    uint64_t offset = 0;
    auto [end, parse_ec] =
        std::from_chars(digits.data(), digits.data() + digits.size(), offset);
    if (parse_ec != std::errc() || end != digits.data() + digits.size())
      continue;
    std::error_code size_ec;
    uint64_t bytes = it->file_size(size_ec);
    CheckpointFile file{offset, it->path().string(), size_ec ? 0 : bytes};
    std::ifstream in(it->path(), std::ios::binary);
    char header[kMagic.size() + 24];
    if (in.read(header, sizeof(header))) {
      Cursor cursor(std::string_view(header + kMagic.size(), 24));
      uint64_t ignored = 0, ingest = 0;
      cursor.Get(ignored);
      cursor.Get(file.entities);
      cursor.Get(ingest);
      file.ingest_time = FromUnixNanos(static_cast<int64_t>(ingest));
    }
    out.push_back(std::move(file));
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.offset > b.offset; });
  return out;
}

Result<CheckpointFile> WriteCheckpoint(const std::string& dir,
                                       const CheckpointOrigin& origin,
                                       const std::vector<EntityPtr>& entities) {
  std::string out;
  out.append(kMagic);
  Put<uint64_t>(out, origin.offset);
  Put<uint64_t>(out, entities.size());
  Put<uint64_t>(out, static_cast<uint64_t>(ToUnixNanos(
                         origin.ingest_time.value_or(Timestamp{}))));
  PutBytes(out, origin.store_id);
  PutBytes(out, origin.priorities);
  for (const EntityPtr& entity : entities) {
    Put<uint64_t>(out, entity->create_offset);
    Put<uint64_t>(out, entity->version);
    Put<uint32_t>(out, static_cast<uint32_t>(entity->layers.size()));
    bool merged_is_layer =
        entity->layers.size() == 1 && entity->layers[0] == entity->merged;
    Put<uint32_t>(out, merged_is_layer ? 0 : kMergedFollows);
    for (const auto& layer : entity->layers) PutBytes(out, layer->bytes());
    if (!merged_is_layer) PutBytes(out, entity->merged->bytes());
  }
  Put<uint32_t>(out, Crc32c(out));
  uint64_t offset = origin.offset;

  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return MakeError(ErrorCode::kIoError,
                     "cannot create " + dir + ": " + ec.message());
  }
  std::string path = dir + "/" + FileName(offset);
  WMETA_RETURN_IF_ERROR(WriteFileAtomically(dir, path, out));
  return CheckpointFile{offset, path, out.size(), entities.size(),
                        origin.ingest_time.value_or(Timestamp{})};
}

namespace {

// A checkpoint file read whole and checked (magic, checksum), its header
// parsed; `entities` is the cursor at the first entity.
struct Loaded {
  std::string data;
  CheckpointHeader header;
  size_t entities_at = 0;
  size_t body_size = 0;
  // Where the store id's bytes are (length prefix included), for Restamp.
  size_t id_at = 0;
  size_t id_end = 0;
};

Result<Loaded> Load(const CheckpointFile& file) {
  Loaded loaded;
  std::string& data = loaded.data;
  try {
    std::ifstream in(file.path, std::ios::binary | std::ios::ate);
    if (!in) return MakeError(ErrorCode::kIoError, "cannot read " + file.path);
    data.resize(static_cast<size_t>(in.tellg()));
    in.seekg(0);
    if (!in.read(data.data(), static_cast<std::streamsize>(data.size()))) {
      return MakeError(ErrorCode::kIoError, "cannot read " + file.path);
    }
  } catch (const std::exception& e) {  // bad_alloc for an absurd file
    return MakeError(ErrorCode::kIoError,
                     "cannot read " + file.path + ": " + e.what());
  }
  auto damaged = [&](size_t at, std::string_view what) {
    return MakeError(ErrorCode::kCorruption,
                     file.path + ": " + std::string(what) + " at byte " +
                         std::to_string(at));
  };
  if (data.size() < kMagic.size() + 4 || !data.starts_with(kMagic)) {
    return damaged(0, "not a view checkpoint");
  }
  std::string_view body(data.data(), data.size() - 4);
  Cursor trailer(std::string_view(data).substr(body.size()));
  uint32_t crc = 0;
  trailer.Get(crc);
  if (crc != Crc32c(body)) return damaged(body.size(), "checksum mismatch");

  Cursor cursor(body.substr(kMagic.size()));
  CheckpointHeader& header = loaded.header;
  uint64_t ingest = 0;
  bool ok = cursor.Get(header.offset) && cursor.Get(header.entities) &&
            cursor.Get(ingest);
  loaded.id_at = kMagic.size() + cursor.pos();
  ok = ok && cursor.GetBytes(header.store_id);
  loaded.id_end = kMagic.size() + cursor.pos();
  if (!ok || !cursor.GetBytes(header.priorities)) {
    return damaged(kMagic.size() + cursor.pos(), "truncated header");
  }
  if (header.offset != file.offset) {
    return damaged(kMagic.size(), "offset differs from its name");
  }
  header.ingest_time = FromUnixNanos(static_cast<int64_t>(ingest));
  loaded.entities_at = kMagic.size() + cursor.pos();
  loaded.body_size = body.size();
  return loaded;
}

// Reads the entities of `loaded`, handing each to `fn`.
Status ForEachEntity(
    const CheckpointFile& file, const Loaded& loaded,
    const std::function<Status(std::shared_ptr<EntityState>)>& fn) {
  std::string_view body(loaded.data.data(), loaded.body_size);
  Cursor cursor(body.substr(loaded.entities_at));
  auto at = [&] { return loaded.entities_at + cursor.pos(); };
  auto damaged = [&](std::string_view what) {
    return MakeError(ErrorCode::kCorruption,
                     file.path + ": " + std::string(what) + " at byte " +
                         std::to_string(at()));
  };
  auto read_record = [&](std::shared_ptr<const Event>& record) -> Status {
    std::string bytes;
    if (!cursor.GetBytes(bytes)) return damaged("truncated record");
    auto event = Event::FromBytes(std::move(bytes));
    if (!event) return damaged(event.error().message);
    record = std::make_shared<const Event>(std::move(*event));
    return {};
  };
  for (uint64_t i = 0; i < loaded.header.entities; ++i) {
    auto entity = std::make_shared<EntityState>();
    uint32_t layers = 0, flags = 0;
    if (!cursor.Get(entity->create_offset) || !cursor.Get(entity->version) ||
        !cursor.Get(layers) || !cursor.Get(flags) || layers == 0) {
      return damaged("truncated entity");
    }
    for (uint32_t l = 0; l < layers; ++l) {
      std::shared_ptr<const Event> layer;
      WMETA_RETURN_IF_ERROR(read_record(layer));
      entity->layers.push_back(std::move(layer));
    }
    if (flags & kMergedFollows) {
      WMETA_RETURN_IF_ERROR(read_record(entity->merged));
    } else {
      entity->merged = entity->layers[0];
    }
    entity->id = entity->merged->view().entity_id();
    for (const auto& layer : entity->layers) {
      if (layer->view().entity_id() != entity->id) {
        return damaged("layers of different entities");
      }
    }
    WMETA_RETURN_IF_ERROR(fn(std::move(entity)));
  }
  if (loaded.entities_at + cursor.pos() != loaded.body_size) {
    return damaged("trailing bytes");
  }
  return {};
}

}  // namespace

Result<std::unique_ptr<View>> ReadCheckpoint(
    const CheckpointFile& file, const CheckpointOrigin& expected,
    const SourcePriorities& priorities) {
  WMETA_ASSIGN_OR_RETURN(Loaded loaded, Load(file));
  const CheckpointHeader& header = loaded.header;
  // Intact, but not for this log as it is.
  auto unusable = [&](const std::string& why) {
    return MakeError(ErrorCode::kNotFound, file.path + ": " + why);
  };
  if (header.store_id != expected.store_id) {
    return unusable("belongs to store " + header.store_id + ", not " +
                    expected.store_id);
  }
  if (expected.ingest_time && header.ingest_time != *expected.ingest_time) {
    return unusable("reflects a record at offset " +
                    std::to_string(header.offset) +
                    " that the log no longer holds");
  }
  if (header.priorities != expected.priorities) {
    return unusable("was merged with other source priorities");
  }
  auto view = std::make_unique<View>(priorities);
  WMETA_RETURN_IF_ERROR(ForEachEntity(
      file, loaded, [&](std::shared_ptr<EntityState> entity) -> Status {
        if (view->Get(entity->id)) {
          return MakeError(ErrorCode::kCorruption,
                           file.path + ": " + entity->id.ToString() + " twice");
        }
        view->Restore(std::move(entity));
        return {};
      }));
  view->SetApplied(header.offset);
  return view;
}

Result<CheckpointHeader> InspectCheckpoint(const CheckpointFile& file) {
  WMETA_ASSIGN_OR_RETURN(Loaded loaded, Load(file));
  WMETA_RETURN_IF_ERROR(ForEachEntity(
      file, loaded, [](std::shared_ptr<EntityState>) { return Status{}; }));
  return loaded.header;
}

Status RestampCheckpoint(const CheckpointFile& file, const std::string& from,
                         const std::string& to) {
  WMETA_ASSIGN_OR_RETURN(Loaded loaded, Load(file));
  if (loaded.header.store_id == to) return {};
  if (loaded.header.store_id != from) {
    return MakeError(ErrorCode::kNotFound, file.path + ": belongs to store " +
                                               loaded.header.store_id +
                                               ", not " + from);
  }
  std::string out = loaded.data.substr(0, loaded.id_at);
  PutBytes(out, to);
  out.append(loaded.data, loaded.id_end, loaded.body_size - loaded.id_end);
  Put<uint32_t>(out, Crc32c(out));
  return WriteFileAtomically(fs::path(file.path).parent_path().string(),
                             file.path, out);
}

void RemoveUnusable(const std::string& dir, uint64_t last) {
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec);
       !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::error_code remove_ec;
    if (it->path().extension() == ".tmp") fs::remove(it->path(), remove_ec);
  }
  for (const CheckpointFile& file : ListCheckpoints(dir)) {
    std::error_code remove_ec;
    if (file.offset > last) fs::remove(file.path, remove_ec);
  }
}

void PruneCheckpoints(const std::string& dir, size_t keep, uint64_t protect,
                      uint64_t history_every) {
  auto files = ListCheckpoints(dir);
  if (files.size() <= keep) return;
  // Spans double from `history_every`: a span that grows with the view then
  // merges whole spans, so a checkpoint first in its span stays first in the
  // larger one, or goes as a fresh prune would have it go.
  uint64_t span = history_every;
  const uint64_t wanted =
      files[0].entities > UINT64_MAX / 4 ? UINT64_MAX : 4 * files[0].entities;
  while (span != 0 && span < wanted && span <= UINT64_MAX / 2) span *= 2;
  for (size_t i = keep; i < files.size(); ++i) {
    const uint64_t offset = files[i].offset;
    if (offset == protect) continue;
    // Of those retention left usable, the first of each span stays: the same
    // ones whenever this runs, as later checkpoints only come after them.
    // Those below `protect` stand for removed records: never usable.
    bool first_of_span =
        span != 0 && offset > protect &&
        (i + 1 == files.size() || files[i + 1].offset < protect ||
         files[i + 1].offset / span != offset / span);
    if (first_of_span) continue;
    std::error_code ec;
    fs::remove(files[i].path,
               ec);  // a leftover is harmless: the next prune retries
  }
}

}  // namespace wmeta::store::internal
