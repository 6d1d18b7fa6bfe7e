// wmetad on a small file system of its own (a tmpfs the test mounts, so it
// needs root) that pushes fill up: every push that does not fit is refused
// with a clear error, nothing acknowledged is lost, the daemon stays up and
// serves, and once space is back it takes writes again without a restart.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "daemon.h"
#include "subprocess.h"
#include "temp_dir.h"

namespace wmeta {
namespace {

namespace bj = boost::json;
namespace fs = std::filesystem;
using testing::Daemon;
using testing::RunResult;

// `count` container events of about 1 KiB each, ids from `first`, with
// labels that do not compress (so that they fill the disk as fast on it as in
// memory).
std::string Batch(int first, int count) {
  std::mt19937_64 random(static_cast<uint64_t>(first));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = first; i < first + count; ++i) {
    std::string labels;
    for (int l = 0; l < 12; ++l) {
      std::string value(64, ' ');
      for (char& c : value) c = kHex[random() % 16];
      labels += (l ? "," : "") + std::string("\"label") + std::to_string(l) +
                "\":\"" + value + "\"";
    }
    out += R"({"source":"runtime","entity":{"kind":"container","id":"c)" +
           std::to_string(i) + R"(","labels":{)" + labels + "}}}\n";
  }
  return out;
}

// A tmpfs of `megabytes` at `path`, unmounted (lazily) at the end.
class SmallFileSystem {
 public:
  SmallFileSystem(const std::string& path, int megabytes) : path_(path) {
    fs::create_directories(path);
    std::string options = "size=" + std::to_string(megabytes) + "m";
    if (::mount("tmpfs", path.c_str(), "tmpfs", 0, options.c_str()) == 0) {
      mounted_ = true;
    } else {
      error_ = std::strerror(errno);
    }
  }
  ~SmallFileSystem() {
    if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }

 private:
  std::string path_;
  bool mounted_ = false;
  std::string error_;
};

int64_t LastOffset(Daemon& daemon) {
  RunResult stats = daemon.Cli({"stats", "--json"});
  EXPECT_EQ(stats.exit_code, 0) << stats.err;
  if (stats.exit_code != 0) return -1;
  return bj::parse(stats.out).at("last_offset").as_int64();
}

TEST(FullDiskTest, PushesAreRefusedCleanlyAndTakenAgainOnceSpaceIsBack) {
  testing::TempDir dir;
  SmallFileSystem disk(dir.Sub("data"), 48);
  ASSERT_TRUE(disk.mounted())
      << "mounting a tmpfs needs root (CAP_SYS_ADMIN): " << disk.error();
  Daemon daemon(dir);
  ASSERT_TRUE(daemon.Start());

  // Leave about 12 MiB: a dozen pushes of 1,000 events fit, not many more.
  std::string ballast = dir.Sub("data/ballast");
  {
    std::ofstream out(ballast, std::ios::binary);
    std::string mib(1 << 20, 'b');
    for (int i = 0; i < 36; ++i) out << mib;
  }
  int64_t acknowledged = 0;
  int pushes = 0;
  RunResult refused;
  while (pushes < 200) {
    RunResult push = daemon.Cli({"push", "--json"},
                                Batch(static_cast<int>(acknowledged), 1000));
    ++pushes;
    if (push.exit_code != 0) {
      refused = push;
      break;
    }
    acknowledged += 1000;
  }
  ASSERT_NE(refused.exit_code, 0) << "the disk never filled up";
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("No space left on device"), std::string::npos)
      << refused.err;
  ASSERT_GT(acknowledged, 0);

  // Still serving, holding exactly what was acknowledged. (Whether the next
  // push fits depends on what RocksDB's background work gives back meanwhile;
  // either way it is all or nothing.)
  EXPECT_EQ(LastOffset(daemon), acknowledged) << daemon.log();

  // Space is back: writes go on, no restart.
  fs::remove(ballast);
  RunResult after = daemon.Cli({"push", "--json"}, Batch(2'000'000, 1000));
  ASSERT_EQ(after.exit_code, 0) << after.err << daemon.log();
  EXPECT_EQ(bj::parse(after.out).at("first_offset").as_int64(),
            acknowledged + 1);
  acknowledged += 1000;
  RunResult verify = daemon.Cli({"verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;

  EXPECT_EQ(daemon.Stop(SIGTERM), 0) << daemon.log();
  ASSERT_TRUE(daemon.Start());
  EXPECT_EQ(LastOffset(daemon), acknowledged);
  EXPECT_EQ(daemon.Stop(SIGTERM), 0) << daemon.log();
}

}  // namespace
}  // namespace wmeta
