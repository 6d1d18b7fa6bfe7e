// The framing of wmetad's client protocol (wire.fbs): a u32 little-endian
// length, then a Frame. Building, verifying and unpacking frames, shared by the
// server and its clients; the sockets themselves live with them.
//
// Thread-safety: pure functions.

#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "wmeta/schema/error.h"
#include "wmeta/schema/event.h"
#include "wmeta/schema/wire_generated.h"

namespace wmeta::wire {

namespace fbw = fb::wire;

// Changes only when an older peer could misread a newer frame.
inline constexpr uint32_t kProtocolVersion = 1;
// The largest frame either side accepts by default. A frame holds a batch of
// records or a chunk of a reply, far below it.
inline constexpr uint32_t kDefaultMaxFrame = 16u << 20;
// Chunked replies (entities, history, diffs) aim at frames of about this size.
inline constexpr size_t kChunkBytes = 1u << 20;

// The length a 4-byte frame prefix announces.
uint32_t FrameLength(std::span<const uint8_t, 4> prefix);

// Builds one frame. Reusable: Finish starts the next one.
class FrameBuilder {
 public:
  flatbuffers::FlatBufferBuilder& fbb() { return fbb_; }

  // A record's bytes, 8-byte aligned within the frame so that a receiver may
  // verify them in place.
  flatbuffers::Offset<fbw::RecordBytes> AddRecord(const EventView& record);

  // The frame with its length prefix, ready to send; valid until the next
  // call on this builder.
  std::span<const uint8_t> Finish(uint64_t request, fbw::Body type,
                                  flatbuffers::Offset<void> body);

  // An Error frame.
  std::span<const uint8_t> FinishError(uint64_t request, const Error& error);

 private:
  flatbuffers::FlatBufferBuilder fbb_{4096};
};

// Verifies a whole frame, its length prefix included (8-byte aligned, as
// buffers from new are: the frame's fields are aligned relative to its
// first byte). kCorruption for anything that is not a well-formed Frame.
Result<const fbw::Frame*> VerifyFrame(std::span<const uint8_t> bytes);

// The Frame in bytes VerifyFrame accepted.
inline const fbw::Frame* FrameOf(std::span<const uint8_t> bytes) {
  return fbw::GetSizePrefixedFrame(bytes.data());
}

// The record in `bytes`, verified and copied. kCorruption when missing or
// malformed.
Result<Event> ToEvent(const fbw::RecordBytes* bytes);

// The error an Error frame carries (an unknown code reads as kInternal).
Error ToError(const fbw::Error& error);

}  // namespace wmeta::wire
