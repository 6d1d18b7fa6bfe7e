#include "wmeta/schema/event.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "events.h"

namespace wmeta {
namespace {

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Finishes a record by hand, so tests can leave out what EventBuilder always
// adds.
std::string RawRecord(bool with_offset, bool with_ingest_time,
                      std::string_view source, uint8_t kind,
                      std::string_view id, uint8_t type = 0) {
  flatbuffers::FlatBufferBuilder fbb;
  auto id_offset = fbb.CreateString(id);
  fb::ContainerBuilder c(fbb);
  c.add_id(id_offset);
  auto entity = c.Finish();
  auto source_offset = fbb.CreateString(source);
  fb::RecordBuilder r(fbb);
  if (with_offset) r.add_offset(0);
  if (with_ingest_time) r.add_ingest_time(0);
  r.add_source(source_offset);
  r.add_type(static_cast<fb::EventType>(type));
  r.add_entity_type(static_cast<fb::Entity>(kind));
  r.add_entity(entity.Union());
  fb::FinishRecordBuffer(fbb, r.Finish());
  return {reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize()};
}

TEST(EventTest, BuilderMakesAVerifiedUnappendedEvent) {
  EventBuilder b;
  auto pod =
      fb::CreateKubernetesPodDirect(b.fbb(), "uid-1", "web-0", "default");
  auto observed = *ParseTime("2026-11-24T10:00:00Z");
  auto event = b.Finish("node_orchestrator", EventType::kSet, pod, observed);
  ASSERT_TRUE(event) << event.error().ToString();
  EventView v = event->view();
  EXPECT_EQ(v.offset(), 0u);
  EXPECT_EQ(ToUnixNanos(v.ingest_time()), 0);
  EXPECT_EQ(v.observed_time(), observed);
  EXPECT_EQ(v.source(), "node_orchestrator");
  EXPECT_EQ(v.type(), EventType::kSet);
  EXPECT_EQ(v.kind(), Kind::kKubernetesPod);
  EXPECT_EQ(v.id(), "uid-1");
  EXPECT_EQ(v.name(), "web-0");
  EXPECT_EQ(v.entity_id(), (EntityId{Kind::kKubernetesPod, "uid-1"}));
}

TEST(EventTest, BuilderIsReusable) {
  EventBuilder b;
  auto first =
      b.Finish("a", EventType::kSet, fb::CreateHostDirect(b.fbb(), "host"));
  auto second =
      b.Finish("b", EventType::kUnset, fb::CreateHostDirect(b.fbb(), "host"));
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->view().source(), "a");
  EXPECT_EQ(second->view().source(), "b");
  EXPECT_EQ(second->view().type(), EventType::kUnset);
  EXPECT_EQ(second->view().name(), "");  // host has no name field
}

TEST(EventTest, BuilderRejectsAnEmptyIdOrSource) {
  EventBuilder b;
  auto no_id = b.Finish("runtime", EventType::kSet,
                        fb::CreateContainerDirect(b.fbb(), ""));
  ASSERT_FALSE(no_id);
  EXPECT_EQ(no_id.error().code, ErrorCode::kInvalidArgument);
  auto no_source =
      b.Finish("", EventType::kSet, fb::CreateContainerDirect(b.fbb(), "x"));
  ASSERT_FALSE(no_source);
}

TEST(EventTest, VerifyAcceptsAWellFormedRecord) {
  std::string raw = RawRecord(true, true, "runtime", 1, "abc");
  auto view = EventView::Verify(Bytes(raw));
  ASSERT_TRUE(view) << view.error().ToString();
  EXPECT_EQ(view->id(), "abc");
}

TEST(EventTest, VerifyRejectsDamagedOrIncompleteRecords) {
  struct Case {
    const char* name;
    std::string bytes;
  };
  std::string good = RawRecord(true, true, "runtime", 1, "abc");
  std::string wrong_identifier = good;
  std::memcpy(wrong_identifier.data() + 4, "XXXX", 4);
  std::string bad_root = good;
  bad_root[0] = static_cast<char>(0xff);
  bad_root[1] = static_cast<char>(0xff);
  std::vector<Case> cases = {
      {"empty", ""},
      {"short", "abc"},
      {"garbage", std::string(64, '\x5a')},
      {"wrong identifier", wrong_identifier},
      {"root offset out of bounds", bad_root},
      {"truncated", good.substr(0, good.size() - 8)},
      {"no offset field", RawRecord(false, true, "runtime", 1, "abc")},
      {"no ingest_time field", RawRecord(true, false, "runtime", 1, "abc")},
      {"empty source", RawRecord(true, true, "", 1, "abc")},
      {"unknown kind", RawRecord(true, true, "runtime", 42, "abc")},
      {"unknown type", RawRecord(true, true, "runtime", 1, "abc", 7)},
      {"empty id", RawRecord(true, true, "runtime", 1, "")},
  };
  for (const auto& c : cases) {
    auto view = EventView::Verify(Bytes(c.bytes));
    ASSERT_FALSE(view) << c.name;
    EXPECT_EQ(view.error().code, ErrorCode::kCorruption) << c.name;
  }
}

TEST(EventTest, VerifyRejectsOversizedRecords) {
  std::string big =
      RawRecord(true, true, "runtime", 1, std::string(kMaxRecordBytes, 'x'));
  auto view = EventView::Verify(Bytes(big));
  ASSERT_FALSE(view);
  EXPECT_NE(view.error().message.find("exceeds"), std::string::npos);
}

TEST(EventTest, VerifyRejectsUnalignedBytesInsteadOfReadingThem) {
  std::string good = RawRecord(true, true, "runtime", 1, "abc");
  std::vector<uint64_t> storage(good.size() / 8 + 2);
  auto* unaligned = reinterpret_cast<uint8_t*>(storage.data()) + 1;
  std::memcpy(unaligned, good.data(), good.size());
  auto view = EventView::Verify({unaligned, good.size()});
  ASSERT_FALSE(view);
  EXPECT_EQ(view.error().code, ErrorCode::kInvalidArgument);
}

TEST(EventTest, RealisticContainerIsAboutFourHundredBytes) {
  Event e = testing::RealisticContainerEvent(7);
  EXPECT_GE(e.bytes().size(), 350u);
  EXPECT_LE(e.bytes().size(), 520u);
  EXPECT_EQ(e.view().id().size(), 64u);
}

}  // namespace
}  // namespace wmeta
