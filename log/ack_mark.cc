#include "ack_mark.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "wmeta/schema/crc32c.h"

namespace wmeta::log::internal {
namespace {

constexpr std::string_view kMagic = "WMACK001";
constexpr size_t kSlotSize = 32;
constexpr size_t kFileSize = 2 * kSlotSize;

struct Slot {
  uint64_t sequence = 0;
  uint64_t offset = 0;
};

void PutU64(char* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(v >> (8 * i));
}
void PutU32(char* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>(v >> (8 * i));
}
uint64_t GetU64(const char* in) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}
uint32_t GetU32(const char* in) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

std::array<char, kSlotSize> Encode(Slot slot) {
  std::array<char, kSlotSize> out{};
  std::memcpy(out.data(), kMagic.data(), kMagic.size());
  PutU64(out.data() + 8, slot.sequence);
  PutU64(out.data() + 16, slot.offset);
  PutU32(out.data() + 24, Crc32c(std::string_view(out.data(), 24)));
  return out;
}

std::optional<Slot> Decode(std::string_view bytes) {
  if (bytes.size() < kSlotSize || !bytes.starts_with(kMagic) ||
      GetU32(bytes.data() + 24) != Crc32c(bytes.substr(0, 24))) {
    return std::nullopt;
  }
  return Slot{GetU64(bytes.data() + 8), GetU64(bytes.data() + 16)};
}

std::unexpected<Error> IoError(const std::string& what,
                               const std::string& path) {
  return MakeError(ErrorCode::kIoError,
                   what + " " + path + ": " + std::strerror(errno));
}

Status WriteAll(int fd, const char* data, size_t size, off_t at,
                const std::string& path) {
  while (size > 0) {
    ssize_t n = ::pwrite(fd, data, size, at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return IoError("cannot write", path);
    data += n;
    size -= static_cast<size_t>(n);
    at += n;
  }
  return {};
}

Status FsyncPath(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return IoError("cannot open", path);
  int rc = ::fsync(fd);
  int saved = errno;
  ::close(fd);
  errno = saved;
  if (rc != 0) return IoError("cannot fsync", path);
  return {};
}

// The valid slot with the higher sequence, from the file's bytes.
std::optional<Slot> Newest(std::string_view bytes) {
  std::optional<Slot> a =
      Decode(bytes.substr(0, std::min(bytes.size(), kSlotSize)));
  std::optional<Slot> b =
      bytes.size() > kSlotSize ? Decode(bytes.substr(kSlotSize)) : std::nullopt;
  if (a && b) return a->sequence >= b->sequence ? a : b;
  return a ? a : b;
}

// The newest valid slot of the open file `fd`; nullopt when neither is.
Result<std::optional<Slot>> NewestIn(int fd, const std::string& path) {
  std::array<char, kFileSize> bytes{};
  ssize_t n;
  while ((n = ::pread(fd, bytes.data(), bytes.size(), 0)) < 0 &&
         errno == EINTR) {
  }
  if (n < 0) return IoError("cannot read", path);
  return Newest(std::string_view(bytes.data(), static_cast<size_t>(n)));
}

}  // namespace

Result<std::optional<uint64_t>> AckMark::Read(const std::string& dir) {
  std::string path = (std::filesystem::path(dir) / kAckMarkFile).string();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    // No file, or no directory to hold one.
    if (errno == ENOENT || errno == ENOTDIR) return std::optional<uint64_t>();
    return IoError("cannot open", path);
  }
  auto slot = NewestIn(fd, path);
  ::close(fd);
  if (!slot) return std::unexpected(slot.error());
  if (!*slot) {
    return MakeError(ErrorCode::kCorruption,
                     path +
                         " is damaged: it no longer says which offsets "
                         "were acknowledged");
  }
  return std::optional<uint64_t>((*slot)->offset);
}

Result<AckMark> AckMark::Open(const std::string& dir,
                              std::optional<uint64_t> current,
                              uint64_t offset) {
  std::string path = (std::filesystem::path(dir) / kAckMarkFile).string();
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return IoError("cannot open", path);
  AckMark mark(fd, path, 0, current.value_or(0));
  if (current) {
    // Continue the sequence of the slot Read() chose.
    WMETA_ASSIGN_OR_RETURN(std::optional<Slot> slot, NewestIn(fd, path));
    if (slot) mark.sequence_ = slot->sequence;
    if (offset != mark.offset_) WMETA_RETURN_IF_ERROR(mark.Write(offset));
    return mark;
  }
  // A new file must exist on stable storage before it is relied on.
  WMETA_RETURN_IF_ERROR(mark.Reset(offset));
  WMETA_RETURN_IF_ERROR(FsyncPath(dir, O_RDONLY | O_DIRECTORY));
  return mark;
}

AckMark::AckMark(AckMark&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      path_(std::move(other.path_)),
      sequence_(other.sequence_),
      offset_(other.offset_) {}

AckMark& AckMark::operator=(AckMark&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
    sequence_ = other.sequence_;
    offset_ = other.offset_;
  }
  return *this;
}

AckMark::~AckMark() {
  if (fd_ >= 0) ::close(fd_);
}

Status AckMark::Write(uint64_t offset) {
  Slot slot{sequence_ + 1, offset};
  auto bytes = Encode(slot);
  WMETA_RETURN_IF_ERROR(
      WriteAll(fd_, bytes.data(), bytes.size(),
               static_cast<off_t>((slot.sequence % 2) * kSlotSize), path_));
  sequence_ = slot.sequence;
  offset_ = offset;
  return {};
}

Status AckMark::Reset(uint64_t offset) {
  std::array<char, kFileSize> bytes{};
  for (uint64_t sequence : {sequence_ + 1, sequence_ + 2}) {
    auto slot = Encode({sequence, offset});
    std::memcpy(bytes.data() + (sequence % 2) * kSlotSize, slot.data(),
                kSlotSize);
  }
  WMETA_RETURN_IF_ERROR(WriteAll(fd_, bytes.data(), bytes.size(), 0, path_));
  sequence_ += 2;
  offset_ = offset;
  return Sync();
}

Status AckMark::Sync() {
  if (::fdatasync(fd_) != 0) return IoError("cannot fsync", path_);
  return {};
}

}  // namespace wmeta::log::internal
