// Capture files: what is written reads back byte for byte, and a damaged or
// truncated file is refused naming the byte where the damage is.

#include "wmeta/replay/capture.h"

#include <gtest/gtest.h>
#include <zstd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "events.h"
#include "temp_dir.h"
#include "wmeta/schema/crc32c.h"
#include "wmeta/schema/reflection.h"

namespace wmeta::replay {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void WriteAll(const std::string& path, std::string_view data) {
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(data.data(), static_cast<std::streamsize>(data.size()));
}

uint32_t U32At(const std::string& bytes, size_t at) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) {
    v |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[at + i]))
         << (8 * i);
  }
  return v;
}

void PutU32At(std::string& bytes, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) bytes[at + i] = static_cast<char>(v >> (8 * i));
}

class CaptureTest : public ::testing::Test {
 protected:
  // `count` records at offsets 10, 11, ..., ingested a second apart.
  std::vector<Event> Records(size_t count) {
    std::vector<Event> out;
    for (size_t i = 0; i < count; ++i) {
      out.push_back(testing::RealisticContainerEvent(i).Stamped(
          10 + i, FromUnixNanos(1'700'000'000'000'000'000 +
                                static_cast<int64_t>(i) * 1'000'000'000)));
    }
    return out;
  }

  CaptureSummary Write(const std::vector<Event>& records,
                       std::string compression = "none") {
    CaptureHeader header;
    header.compression = std::move(compression);
    header.store_id = "store-1";
    header.from = 10;
    header.to = 1'000'000;
    header.kinds = {"container"};
    header.sources = {"runtime"};
    auto writer = CaptureWriter::Create(path_, header);
    EXPECT_TRUE(writer) << writer.error().ToString();
    for (const Event& e : records) EXPECT_TRUE((*writer)->Add(e.view()));
    Result<CaptureSummary> summary = (*writer)->Finish();
    EXPECT_TRUE(summary) << summary.error().ToString();
    return *summary;
  }

  // The byte where the first frame (after the header) starts.
  size_t FirstFrame(const std::string& bytes) const {
    return 16 + U32At(bytes, 12) + 4;
  }

  void ReadsBack(const std::string& compression);

  testing::TempDir dir_;
  std::string path_ = dir_.Sub("c.wcap");
};

TEST_F(CaptureTest, ReadsBackByteForByteWithItsHeaderAndSummary) {
  for (std::string compression : {"none", "zstd"}) {
    SCOPED_TRACE(compression);
    ReadsBack(compression);
  }
}

TEST_F(CaptureTest, CompressedBlocksAreSmallerAndChecked) {
  std::vector<Event> records = Records(10'000);
  Write(records, "none");
  size_t plain = ReadAll(path_).size();
  Write(records, "zstd");
  const std::string whole = ReadAll(path_);
  // Records of one shape compress well (realistic ones, varied ids).
  EXPECT_LT(whole.size() * 4, plain) << whole.size() << " vs " << plain;
  auto reader = CaptureReader::Open(path_);
  ASSERT_TRUE(reader);
  EXPECT_EQ((*reader)->header().compression, "zstd");

  size_t frame = FirstFrame(whole);
  ASSERT_EQ(whole[frame], 'Z');
  uint32_t length = U32At(whole, frame + 1);
  auto verify = [&](const std::string& bytes) {
    WriteAll(path_, bytes);
    auto verified = VerifyCapture(path_);
    EXPECT_FALSE(verified);
    return verified ? std::string("verified") : verified.error().message;
  };
  // Compressed bytes damaged under a checksum made to match: the block does
  // not decompress, found at its frame.
  std::string bytes = whole;
  bytes[frame + 9 + 4] ^= 0x55;  // the zstd frame's magic
  PutU32At(bytes, frame + 5,
           Crc32c(std::string_view(bytes).substr(frame + 9, length)));
  EXPECT_NE(verify(bytes).find("at byte " + std::to_string(frame) +
                               ": a compressed block that does not "
                               "decompress"),
            std::string::npos)
      << verify(bytes);
  // A stated length that is not the block's.
  bytes = whole;
  PutU32At(bytes, frame + 9, U32At(whole, frame + 9) - 1);
  PutU32At(bytes, frame + 5,
           Crc32c(std::string_view(bytes).substr(frame + 9, length)));
  EXPECT_NE(verify(bytes).find("does not decompress to its"),
            std::string::npos);
  // A record that does not verify inside a block that decompresses: placed
  // at the frame, and within the block.
  std::string block(U32At(whole, frame + 9), '\0');
  ASSERT_EQ(ZSTD_decompress(block.data(), block.size(),
                            whole.data() + frame + 9 + 4, length - 4),
            block.size());
  PutU32At(block, 4, 0xFFFFFF00);
  std::string packed(ZSTD_compressBound(block.size()), '\0');
  packed.resize(ZSTD_compress(packed.data(), packed.size(), block.data(),
                              block.size(), 3));
  std::string payload;
  payload.resize(4);
  PutU32At(payload, 0, static_cast<uint32_t>(block.size()));
  payload += packed;
  std::string frame_bytes = "Z" + std::string(8, '\0') + payload;
  PutU32At(frame_bytes, 1, static_cast<uint32_t>(payload.size()));
  PutU32At(frame_bytes, 5, Crc32c(payload));
  bytes =
      whole.substr(0, frame) + frame_bytes + whole.substr(frame + 9 + length);
  EXPECT_NE(verify(bytes).find("at byte " + std::to_string(frame) +
                               ": in the compressed block, at its byte 0: a "
                               "record that does not verify"),
            std::string::npos)
      << verify(bytes);
  // Truncated inside a compressed frame.
  EXPECT_NE(verify(whole.substr(0, frame + 100)).find("(truncated)"),
            std::string::npos);
}

TEST_F(CaptureTest, VersionsAndCompressionChoices) {
  // Uncompressed captures are version 1, readable by builds that predate
  // compression; compressed ones version 2.
  Write(Records(10), "none");
  EXPECT_EQ(U32At(ReadAll(path_), 8), 1u);
  Write(Records(10), "zstd");
  EXPECT_EQ(U32At(ReadAll(path_), 8), 2u);

  // A version 1 header has no "compression": none.
  Write(Records(10), "none");
  std::string bytes = ReadAll(path_);
  uint32_t length = U32At(bytes, 12);
  std::string json = bytes.substr(16, length);
  const std::string key = ",\"compression\":\"none\"";
  ASSERT_NE(json.find(key), std::string::npos) << json;
  json.erase(json.find(key), key.size());
  std::string old = bytes.substr(0, 12);
  old.resize(16);
  PutU32At(old, 12, static_cast<uint32_t>(json.size()));
  old += json + std::string(4, '\0');
  PutU32At(old, 16 + json.size(), Crc32c(json));
  old += bytes.substr(16 + length + 4);
  WriteAll(path_, old);
  auto reader = CaptureReader::Open(path_);
  ASSERT_TRUE(reader) << reader.error().ToString();
  EXPECT_EQ((*reader)->header().compression, "none");
  auto summary = VerifyCapture(path_);
  ASSERT_TRUE(summary) << summary.error().ToString();
  EXPECT_EQ(summary->records, 10u);

  // An unknown compression is refused before anything is written.
  WriteAll(path_ + ".tmp", "another writer's");
  CaptureHeader header;
  header.compression = "lz5";
  auto refused = CaptureWriter::Create(path_, header);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(ReadAll(path_ + ".tmp"), "another writer's");
}

void CaptureTest::ReadsBack(const std::string& compression) {
  // About 4 MiB of records: several blocks.
  std::vector<Event> records = Records(10'000);
  Timestamp before = SystemClock().Now();
  CaptureSummary written = Write(records, compression);
  Timestamp after = SystemClock().Now();
  EXPECT_EQ(written.records, 10'000u);
  EXPECT_EQ(written.first_offset, 10u);
  EXPECT_EQ(written.last_offset, 10'009u);
  EXPECT_FALSE(std::filesystem::exists(path_ + ".tmp"));

  auto reader = CaptureReader::Open(path_);
  ASSERT_TRUE(reader) << reader.error().ToString();
  const CaptureHeader& h = (*reader)->header();
  EXPECT_EQ(h.schema_hash, SchemaHash());
  EXPECT_EQ(h.schema_hash.size(), 16u);
  EXPECT_EQ(h.store_id, "store-1");
  EXPECT_EQ(h.from, 10u);
  EXPECT_EQ(h.to, 1'000'000u);
  EXPECT_EQ(h.kinds, std::vector<std::string>{"container"});
  EXPECT_EQ(h.sources, std::vector<std::string>{"runtime"});
  // Created while it was written.
  EXPECT_GE(h.created, before);
  EXPECT_LE(h.created, after);
  for (const Event& want : records) {
    auto got = (*reader)->Next();
    ASSERT_TRUE(got) << got.error().ToString();
    ASSERT_TRUE(got->has_value());
    ASSERT_EQ((*got)->bytes(), want.bytes());
  }
  auto end = (*reader)->Next();
  ASSERT_TRUE(end) << end.error().ToString();
  EXPECT_FALSE(end->has_value());
  const CaptureSummary& s = (*reader)->summary();
  EXPECT_EQ(s.records, 10'000u);
  EXPECT_EQ(s.last_offset, 10'009u);
  EXPECT_EQ(s.first_time, records.front().view().ingest_time());
  EXPECT_EQ(s.last_time, records.back().view().ingest_time());
  EXPECT_TRUE(VerifyCapture(path_));
  EXPECT_EQ(h.compression, compression);
  // More than one block, each with its own frame.
  std::string bytes = ReadAll(path_);
  EXPECT_LT(U32At(bytes, FirstFrame(bytes) + 1), bytes.size() / 2);
}

TEST_F(CaptureTest, AnEmptyCaptureIsAValidOne) {
  Write({});
  auto summary = VerifyCapture(path_);
  ASSERT_TRUE(summary) << summary.error().ToString();
  EXPECT_EQ(summary->records, 0u);
}

TEST_F(CaptureTest, TheWriterKeepsOffsetsInOrderAndLeavesNothingHalfWritten) {
  std::vector<Event> records = Records(3);
  {
    auto writer = CaptureWriter::Create(path_, {});
    ASSERT_TRUE(writer);
    ASSERT_TRUE((*writer)->Add(records[1].view()));
    EXPECT_EQ((*writer)->Add(records[0].view()).error().code,
              ErrorCode::kInvalidArgument);
    EXPECT_EQ((*writer)->Add(testing::ContainerEvent("x").view()).error().code,
              ErrorCode::kInvalidArgument);
    EXPECT_TRUE(std::filesystem::exists(path_ + ".tmp"));
  }
  // Dropped without Finish: no capture, no temporary file.
  EXPECT_FALSE(std::filesystem::exists(path_));
  EXPECT_FALSE(std::filesystem::exists(path_ + ".tmp"));
  EXPECT_EQ(
      CaptureWriter::Create(dir_.Sub("no/such/dir/c.wcap"), {}).error().code,
      ErrorCode::kIoError);
}

TEST_F(CaptureTest, TruncationIsFoundAndPlaced) {
  Write(Records(100));
  std::string whole = ReadAll(path_);
  size_t frame = FirstFrame(whole);
  size_t block = U32At(whole, frame + 1);
  size_t trailer = frame + 9 + block;
  struct Cut {
    size_t at;
    ErrorCode code;
    std::string says;
  };
  for (const Cut& cut : std::vector<Cut>{
           {4, ErrorCode::kUnsupportedFormat, "not a wmeta capture"},
           {10, ErrorCode::kCorruption,
            "at byte 10: the file ends inside the header"},
           {20, ErrorCode::kCorruption, "the file ends inside the header"},
           {frame, ErrorCode::kCorruption,
            "at byte " + std::to_string(frame) +
                ": the file ends without its trailer (truncated)"},
           {frame + 5, ErrorCode::kCorruption,
            "at byte " + std::to_string(frame) +
                ": the file ends inside a frame header"},
           {frame + 500, ErrorCode::kCorruption,
            "at byte " + std::to_string(frame) +
                ": the file ends inside a frame of " + std::to_string(block) +
                " bytes (truncated)"},
           {trailer, ErrorCode::kCorruption,
            "at byte " + std::to_string(trailer) +
                ": the file ends without its trailer (truncated)"},
           {whole.size() - 1, ErrorCode::kCorruption,
            "at byte " + std::to_string(trailer) +
                ": the file ends inside a frame of"}}) {
    WriteAll(path_, std::string_view(whole).substr(0, cut.at));
    auto verified = VerifyCapture(path_);
    ASSERT_FALSE(verified) << "cut at " << cut.at;
    EXPECT_EQ(verified.error().code, cut.code) << cut.at;
    EXPECT_NE(verified.error().message.find(cut.says), std::string::npos)
        << "cut at " << cut.at << ": " << verified.error().message;
  }
}

TEST_F(CaptureTest, DamageIsFoundAndPlaced) {
  Write(Records(100));
  const std::string whole = ReadAll(path_);
  size_t frame = FirstFrame(whole);
  auto damaged = [&](auto edit) {
    std::string bytes = whole;
    edit(bytes);
    WriteAll(path_, bytes);
    auto verified = VerifyCapture(path_);
    EXPECT_FALSE(verified);
    return verified ? std::string("verified") : verified.error().message;
  };
  EXPECT_NE(
      damaged([&](std::string& b) {
        b[frame + 9 + 300] ^= 1;
      }).find("at byte " + std::to_string(frame) + ": frame checksum mismatch"),
      std::string::npos);
  EXPECT_NE(damaged([](std::string& b) {
              b[20] ^= 1;
            }).find("at byte 16: header checksum mismatch"),
            std::string::npos);
  EXPECT_NE(damaged([&](std::string& b) {
              b[frame] = 'X';
            }).find("at byte " + std::to_string(frame) + ": not a frame"),
            std::string::npos);
  EXPECT_NE(damaged([](std::string& b) {
              b += "junk";
            }).find("bytes after the trailer"),
            std::string::npos);
  // A record that does not verify inside a block whose checksum was made to
  // match: the records are checked too, not only the checksums.
  size_t record = frame + 9;
  std::string message = damaged([&](std::string& b) {
    PutU32At(b, record + 4, 0xFFFFFF00);  // the record's root offset
    uint32_t length = U32At(b, frame + 1);
    PutU32At(b, frame + 5,
             Crc32c(std::string_view(b).substr(frame + 9, length)));
  });
  EXPECT_NE(message.find("at byte " + std::to_string(record) +
                         ": a record that does not verify"),
            std::string::npos)
      << message;
  // Checksums made to match over text that is not UTF-8: refused as a push
  // would refuse it, before it reaches a store (which must show all it keeps).
  message = damaged([&](std::string& b) {
    size_t name = b.find("web-0", record);
    ASSERT_NE(name, std::string::npos);
    b[name + 1] = '\xff';
    uint32_t length = U32At(b, frame + 1);
    PutU32At(b, frame + 5,
             Crc32c(std::string_view(b).substr(frame + 9, length)));
  });
  EXPECT_NE(message.find("cannot be kept: entity.name: text that is not "
                         "valid UTF-8"),
            std::string::npos)
      << message;
  // Not a capture at all, or a format from the future.
  WriteAll(path_, "{\"source\":\"runtime\"}\n");
  EXPECT_EQ(VerifyCapture(path_).error().code, ErrorCode::kUnsupportedFormat);
  std::string future = whole;
  PutU32At(future, 8, 3);
  WriteAll(path_, future);
  auto refused = VerifyCapture(path_);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kUnsupportedFormat);
  EXPECT_NE(refused.error().message.find("capture format 3"),
            std::string::npos);
  EXPECT_EQ(VerifyCapture(dir_.Sub("missing.wcap")).error().code,
            ErrorCode::kNotFound);
}

}  // namespace
}  // namespace wmeta::replay
