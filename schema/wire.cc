#include "wmeta/schema/wire.h"

namespace wmeta::wire {

uint32_t FrameLength(std::span<const uint8_t, 4> prefix) {
  return static_cast<uint32_t>(prefix[0]) |
         static_cast<uint32_t>(prefix[1]) << 8 |
         static_cast<uint32_t>(prefix[2]) << 16 |
         static_cast<uint32_t>(prefix[3]) << 24;
}

flatbuffers::Offset<fbw::RecordBytes> FrameBuilder::AddRecord(
    const EventView& record) {
  std::span<const uint8_t> bytes = record.bytes();
  fbb_.ForceVectorAlignment(bytes.size(), sizeof(uint8_t), 8);
  auto vector = fbb_.CreateVector(bytes.data(), bytes.size());
  return fbw::CreateRecordBytes(fbb_, vector);
}

std::span<const uint8_t> FrameBuilder::Finish(uint64_t request, fbw::Body type,
                                              flatbuffers::Offset<void> body) {
  fbw::FrameBuilder frame(fbb_);
  frame.add_request(request);
  frame.add_body_type(type);
  frame.add_body(body);
  fbb_.FinishSizePrefixed(frame.Finish(), fbw::FrameIdentifier());
  std::span<const uint8_t> out(fbb_.GetBufferPointer(), fbb_.GetSize());
  // The caller sends it before the next Finish; Clear keeps the memory.
  fbb_.Clear();
  return out;
}

std::span<const uint8_t> FrameBuilder::FinishError(uint64_t request,
                                                   const Error& error) {
  auto message = fbb_.CreateString(error.message);
  auto body = fbw::CreateError(fbb_, static_cast<uint8_t>(error.code), message);
  return Finish(request, fbw::Body::Error, body.Union());
}

Result<const fbw::Frame*> VerifyFrame(std::span<const uint8_t> bytes) {
  if (reinterpret_cast<uintptr_t>(bytes.data()) % 8 != 0) {
    return MakeError(ErrorCode::kInternal, "frame bytes are not aligned");
  }
  flatbuffers::Verifier verifier(bytes.data(), bytes.size());
  // Prefix, root offset and identifier.
  if (bytes.size() < 12 ||
      !fbw::SizePrefixedFrameBufferHasIdentifier(bytes.data()) ||
      !fbw::VerifySizePrefixedFrameBuffer(verifier)) {
    return MakeError(ErrorCode::kCorruption,
                     "malformed frame (" + std::to_string(bytes.size()) +
                         " bytes): not a wmeta protocol frame");
  }
  return FrameOf(bytes);
}

Result<Event> ToEvent(const fbw::RecordBytes* bytes) {
  if (bytes == nullptr || bytes->bytes() == nullptr) {
    return MakeError(ErrorCode::kCorruption, "a record is missing");
  }
  return Event::FromBytes(
      std::string(reinterpret_cast<const char*>(bytes->bytes()->data()),
                  bytes->bytes()->size()));
}

Error ToError(const fbw::Error& error) {
  auto code = static_cast<ErrorCode>(error.code());
  if (error.code() > static_cast<uint8_t>(ErrorCode::kPermissionDenied)) {
    code = ErrorCode::kInternal;
  }
  return Error{code, error.message() != nullptr ? error.message()->str() : ""};
}

}  // namespace wmeta::wire
