#include "key_format.h"

namespace wmeta::log::internal {
namespace {

void PutBigEndian(std::string& out, uint64_t value, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) {
    out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
  }
}

uint64_t GetBigEndian(std::string_view in, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i)
    value = (value << 8) | static_cast<uint8_t>(in[i]);
  return value;
}

}  // namespace

std::string OffsetKey(uint64_t offset) {
  std::string key(8, '\0');
  EncodeOffsetKey(offset, key.data());
  return key;
}

void EncodeOffsetKey(uint64_t offset, char out[8]) {
  for (int i = 7; i >= 0; --i, offset >>= 8)
    out[i] = static_cast<char>(offset & 0xff);
}

std::optional<uint64_t> DecodeOffsetKey(std::string_view key) {
  if (key.size() != 8) return std::nullopt;
  return GetBigEndian(key, 8);
}

std::string EntityKey(Kind kind, std::string_view id, uint64_t offset) {
  std::string key;
  AppendEntityKey(kind, id, offset, key);
  return key;
}

void AppendEntityKey(Kind kind, std::string_view id, uint64_t offset,
                     std::string& out) {
  out.push_back(static_cast<char>(kind));
  PutBigEndian(out, id.size(), 4);
  out.append(id);
  PutBigEndian(out, offset, 8);
}

std::optional<EntityKeyParts> DecodeEntityKey(std::string_view key) {
  if (key.size() < 1 + 4 + 8) return std::nullopt;
  auto kind = KindFromValue(static_cast<uint8_t>(key[0]));
  if (!kind) return std::nullopt;
  uint64_t id_size = GetBigEndian(key.substr(1), 4);
  if (key.size() != 1 + 4 + id_size + 8) return std::nullopt;
  return EntityKeyParts{*kind, key.substr(5, id_size),
                        GetBigEndian(key.substr(5 + id_size), 8)};
}

}  // namespace wmeta::log::internal
