// The store when its data dir is damaged: verify checks what rebuilding the
// view needs (the checkpoints standing for records retention removed), and
// accepting a lost WAL keeps the store openable, its checkpoints following
// its new id.

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "events.h"
#include "temp_dir.h"
#include "wmeta/store/store.h"

namespace wmeta::store {
namespace {

namespace fs = std::filesystem;
using testing::ContainerFrom;

std::vector<std::string> Checkpoints(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& entry : fs::directory_iterator(dir + "/checkpoints")) {
    out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string Problems(const log::VerifyReport& report) {
  std::string all;
  for (const auto& problem : report.problems) all += problem.message + "\n";
  return all;
}

class StoreDamageTest : public ::testing::Test {
 protected:
  // 20 records, a checkpoint at 10 and retention up to it: the checkpoint is
  // all that stands for offsets 1 to 10. Then 5 more records, left in the
  // WAL of `image` (a copy made while the store was open, as a kill -9 leaves
  // it).
  void SetUp() override {
    Options options;
    options.checkpoint_every_records = 0;
    auto store = Store::Open(live_.path(), options);
    ASSERT_TRUE(store) << store.error().ToString();
    for (int i = 0; i < 10; ++i) Apply(**store, i);
    ASSERT_TRUE((*store)->Checkpoint());
    for (int i = 10; i < 20; ++i) Apply(**store, i);
    auto retained = (*store)->ApplyRetention({.max_records = 10});
    ASSERT_TRUE(retained) << retained.error().ToString();
    ASSERT_EQ(retained->new_first_offset, 11u);
    store->reset();
    store = Store::Open(live_.path(), options);
    ASSERT_TRUE(store) << store.error().ToString();
    for (int i = 20; i < 25; ++i) Apply(**store, i);
    store_id_ = (*store)->log().store_id();
    fs::copy(live_.path(), image(), fs::copy_options::recursive);
  }

  static void Apply(Store& store, int i) {
    std::vector<Event> events{
        ContainerFrom("runtime", "c" + std::to_string(i % 7),
                      R"("name":"n)" + std::to_string(i) + R"(")")};
    auto applied = store.Apply(events);
    ASSERT_TRUE(applied) << applied.error().ToString();
  }

  std::string image() const { return image_.Sub("data"); }

  log::VerifyReport VerifyImage() {
    log::Options options;
    options.read_only = true;
    options.for_verify = true;
    auto log = log::Log::Open(image(), options);
    EXPECT_TRUE(log) << log.error().ToString();
    if (!log) return {};
    auto report = Verify(**log, image());
    EXPECT_TRUE(report) << report.error().ToString();
    return report ? *report : log::VerifyReport{};
  }

  testing::TempDir live_;
  testing::TempDir image_;
  std::string store_id_;
};

TEST_F(StoreDamageTest, AnIntactStoreVerifies) {
  auto report = VerifyImage();
  EXPECT_TRUE(report.ok()) << Problems(report);
}

TEST_F(StoreDamageTest, RetentionWithoutItsCheckpointIsReported) {
  for (const std::string& path : Checkpoints(image())) fs::remove(path);
  auto report = VerifyImage();
  EXPECT_FALSE(report.ok());
  EXPECT_NE(Problems(report).find("the view cannot be rebuilt"),
            std::string::npos)
      << Problems(report);
  // What verify says is what opening finds.
  auto store = Store::Open(image(), {});
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, ErrorCode::kCorruption);
}

TEST_F(StoreDamageTest, ADamagedCheckpointIsReported) {
  auto checkpoints = Checkpoints(image());
  ASSERT_FALSE(checkpoints.empty());
  for (const std::string& path : checkpoints) {
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(60);
    file.put('\x7f');
  }
  auto report = VerifyImage();
  EXPECT_FALSE(report.ok());
  EXPECT_NE(Problems(report).find("checkpoint damaged"), std::string::npos)
      << Problems(report);
  EXPECT_NE(Problems(report).find("the view cannot be rebuilt"),
            std::string::npos)
      << Problems(report);
}

TEST_F(StoreDamageTest, AcceptingALostWalKeepsTheViewRebuildable) {
  std::vector<std::string> wals;
  for (const auto& entry : fs::directory_iterator(image())) {
    if (entry.path().extension() == ".log" && fs::file_size(entry.path()) > 0) {
      wals.push_back(entry.path());
    }
  }
  ASSERT_EQ(wals.size(), 1u);
  fs::remove(wals[0]);
  auto refused = Store::Open(image(), {});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kCorruption);

  auto report = Store::AcceptLoss(image(), {});
  ASSERT_TRUE(report) << report.error().ToString();
  EXPECT_TRUE(report->accepted);
  EXPECT_EQ(report->last_offset, 20u);
  EXPECT_EQ(report->acknowledged, std::optional<uint64_t>(25));

  auto store = Store::Open(image(), {});
  ASSERT_TRUE(store) << store.error().ToString();
  EXPECT_EQ((*store)->log().store_id(), report->new_store_id);
  EXPECT_NE(report->new_store_id, store_id_);
  EXPECT_EQ((*store)->applied_offset(), 20u);
  // The view is the one of the records kept: n13 .. n19 for c0 .. c6.
  auto c6 = (*store)->Get({Kind::kContainer, "c6"});
  ASSERT_TRUE(c6);
  EXPECT_NE(testing::EntityJson((*c6)->merged->view()).find("\"n13\""),
            std::string::npos);
  // The checkpoint standing for the removed records follows the new id.
  auto past = (*store)->StateAt(10);
  ASSERT_TRUE(past) << past.error().ToString();
  store->reset();
  auto verified = VerifyImage();
  EXPECT_TRUE(verified.ok()) << Problems(verified);
}

}  // namespace
}  // namespace wmeta::store
