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
  for (int i = 0; i < bytes; ++i) value = (value << 8) | static_cast<uint8_t>(in[i]);
  return value;
}

}  // namespace

std::string OffsetKey(uint64_t offset) {
  std::string key;
  key.reserve(8);
  PutBigEndian(key, offset, 8);
  return key;
}

std::optional<uint64_t> DecodeOffsetKey(std::string_view key) {
  if (key.size() != 8) return std::nullopt;
  return GetBigEndian(key, 8);
}

std::string EntityPrefix(Kind kind, std::string_view id) {
  std::string key;
  key.reserve(1 + 4 + id.size() + 8);
  key.push_back(static_cast<char>(kind));
  PutBigEndian(key, id.size(), 4);
  key.append(id);
  return key;
}

std::string EntityKey(Kind kind, std::string_view id, uint64_t offset) {
  std::string key = EntityPrefix(kind, id);
  PutBigEndian(key, offset, 8);
  return key;
}

std::optional<EntityKeyParts> DecodeEntityKey(std::string_view key) {
  if (key.size() < 1 + 4 + 8) return std::nullopt;
  auto kind = KindFromValue(static_cast<uint8_t>(key[0]));
  if (!kind) return std::nullopt;
  uint64_t id_size = GetBigEndian(key.substr(1), 4);
  if (key.size() != 1 + 4 + id_size + 8) return std::nullopt;
  return EntityKeyParts{*kind, key.substr(5, id_size), GetBigEndian(key.substr(5 + id_size), 8)};
}

}  // namespace wmeta::log::internal
