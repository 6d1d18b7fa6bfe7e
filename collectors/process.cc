#include "wmeta/collectors/process.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <filesystem>
#include <ranges>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include "wmeta/collectors/list_diff.h"
#include "wmeta/schema/time.h"
#include "wmeta/schema/utf8.h"

namespace wmeta::collectors {
namespace {

// PF_KTHREAD in the flags field of /proc/PID/stat (include/linux/sched.h).
constexpr uint64_t kKernelThreadFlag = 0x00200000;

// The whole content of a /proc file. Their size is not known in advance (stat
// reports 0), so read until the end.
std::optional<std::string> ReadFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string out;
  char buf[4096];
  while (true) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

std::optional<std::string> ReadLink(const std::string& path) {
  std::error_code ec;
  auto target = std::filesystem::read_symlink(path, ec);
  if (ec) return std::nullopt;
  return SanitizeUtf8(target.native());
}

template <typename T>
std::optional<T> ParseNumber(std::string_view text) {
  T value{};
  auto [end, ec] =
      std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size())
    return std::nullopt;
  return value;
}

std::vector<std::string_view> SplitWhitespace(std::string_view text) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (true) {
    i = text.find_first_not_of(" \t\n", i);
    if (i == std::string_view::npos) return out;
    size_t end = text.find_first_of(" \t\n", i);
    if (end == std::string_view::npos) end = text.size();
    out.push_back(text.substr(i, end - i));
    i = end;
  }
}

// The rest of the first line of `text` that starts with `prefix`.
std::optional<std::string_view> LineAfter(std::string_view text,
                                          std::string_view prefix) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    if (line.starts_with(prefix)) return line.substr(prefix.size());
    pos = eol + 1;
  }
  return std::nullopt;
}

// The value of line "<key>:\t<value>" of a /proc/PID/status text.
std::optional<std::string_view> StatusField(std::string_view status,
                                            std::string_view key) {
  auto value = LineAfter(status, std::string(key) + ":");
  if (value && value->starts_with('\t')) value->remove_prefix(1);
  return value;
}

// The four ids of a status "Uid:" or "Gid:" line: real, effective, saved,
// filesystem.
std::optional<std::vector<int32_t>> ParseIds(std::string_view value) {
  std::vector<int32_t> ids;
  for (std::string_view field : SplitWhitespace(value)) {
    // Ids are 32-bit unsigned (uid_t), and the schema stores them as int: ids
    // above INT32_MAX (4294967294, "nobody" on some systems) keep their bits
    // and read as negative (-2), which a cast back to uint32_t undoes.
    auto id = ParseNumber<uint32_t>(field);
    if (!id) return std::nullopt;
    ids.push_back(static_cast<int32_t>(*id));
  }
  if (ids.size() != 4) return std::nullopt;
  return ids;
}

struct Stat {
  std::string comm;
  int32_t ppid = 0;
  uint64_t flags = 0;
  // Clock ticks after boot.
  uint64_t start_ticks = 0;
};

std::optional<Stat> ParseStat(std::string_view text) {
  // comm may hold spaces and parentheses: it ends at the last ')'.
  size_t open = text.find('(');
  size_t close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos ||
      close < open) {
    return std::nullopt;
  }
  // Fields from the third (state) on; proc(5) numbers them from 1.
  std::vector<std::string_view> fields =
      SplitWhitespace(text.substr(close + 1));
  constexpr size_t kPpid = 4 - 3, kFlags = 9 - 3, kStartTime = 22 - 3;
  if (fields.size() <= kStartTime) return std::nullopt;
  auto ppid = ParseNumber<int32_t>(fields[kPpid]);
  auto flags = ParseNumber<uint64_t>(fields[kFlags]);
  auto start = ParseNumber<uint64_t>(fields[kStartTime]);
  if (!ppid || !flags || !start) return std::nullopt;
  return Stat{SanitizeUtf8(text.substr(open + 1, close - open - 1)), *ppid,
              *flags, *start};
}

// kNotFound when the stat of `dir` cannot be read or parsed.
Result<Stat> ReadStat(const std::string& dir, int pid) {
  std::optional<std::string> text = ReadFile(dir + "/stat");
  if (!text) {
    return MakeError(ErrorCode::kNotFound,
                     "process " + std::to_string(pid) + ": cannot read stat");
  }
  std::optional<Stat> stat = ParseStat(*text);
  if (!stat) {
    return MakeError(ErrorCode::kNotFound,
                     "process " + std::to_string(pid) + ": malformed stat");
  }
  return std::move(*stat);
}

// The boot time in seconds since the epoch: the "btime" line of
// `proc_root`/stat.
Result<int64_t> ReadBootTime(const std::string& proc_root) {
  std::string path = proc_root + "/stat";
  if (std::optional<std::string> text = ReadFile(path)) {
    if (auto btime = LineAfter(*text, "btime ")) {
      if (auto seconds = ParseNumber<int64_t>(*btime)) return *seconds;
    }
  }
  return MakeError(ErrorCode::kIoError,
                   "cannot read the boot time (btime) from " + path);
}

int64_t CreationTimeNanos(int64_t boot_seconds, uint64_t start_ticks) {
  static const auto ticks = static_cast<uint64_t>(sysconf(_SC_CLK_TCK));
  constexpr int64_t kNanos = 1'000'000'000;
  // Split so that ticks * 1e9 cannot overflow.
  return boot_seconds * kNanos +
         static_cast<int64_t>(start_ticks / ticks) * kNanos +
         static_cast<int64_t>((start_ticks % ticks) * kNanos / ticks);
}

struct ProcessRead {
  Event event;
  // What tells a process from a later one of the same pid.
  uint64_t start_ticks;
};

Result<ProcessRead> ReadProcessAt(const std::string& proc_root, int pid,
                                  int64_t boot_seconds) {
  std::string dir = proc_root + "/" + std::to_string(pid);
  WMETA_ASSIGN_OR_RETURN(Stat stat, ReadStat(dir, pid));
  // Workloads only; checked first, so that a kernel thread costs one read.
  if ((stat.flags & kKernelThreadFlag) != 0) {
    return MakeError(ErrorCode::kNotFound,
                     "process " + std::to_string(pid) + " is a kernel thread");
  }
  int64_t creation_time = CreationTimeNanos(boot_seconds, stat.start_ticks);

  std::optional<std::string> status = ReadFile(dir + "/status");
  std::optional<std::string> name;
  std::optional<std::string_view> nspid, uid_line, gid_line;
  if (status) {
    if (auto value = StatusField(*status, "Name")) name = SanitizeUtf8(*value);
    nspid = StatusField(*status, "NSpid");
    uid_line = StatusField(*status, "Uid");
    gid_line = StatusField(*status, "Gid");
  }
  std::optional<int32_t> ns_pid;
  if (nspid) {
    // One value per pid namespace, outermost first; a single one is the pid.
    std::vector<std::string_view> values = SplitWhitespace(*nspid);
    if (values.size() > 1) ns_pid = ParseNumber<int32_t>(values.back());
  }
  auto uids = uid_line ? ParseIds(*uid_line) : std::nullopt;
  auto gids = gid_line ? ParseIds(*gid_line) : std::nullopt;

  std::vector<std::string> cmdline;
  if (auto text = ReadFile(dir + "/cmdline")) {
    // NUL-terminated arguments. A program that rewrites its arguments (a title
    // such as "nginx: worker process") pads the space they took with NULs, or
    // drops the last NUL: all trailing NULs go, and with them trailing empty
    // arguments, which cannot be told apart from the padding.
    std::string_view rest = *text;
    while (!rest.empty() && rest.back() == '\0') rest.remove_suffix(1);
    for (auto arg : std::views::split(rest, '\0')) {
      cmdline.push_back(SanitizeUtf8(std::string_view(arg.begin(), arg.end())));
    }
  }
  std::optional<std::string> exe = ReadLink(dir + "/exe");
  std::optional<std::string> cwd = ReadLink(dir + "/cwd");
  std::optional<std::string> container_id;
  if (auto cgroup = ReadFile(dir + "/cgroup")) {
    container_id = ContainerIdFromCgroup(*cgroup);
  }
  // The process may have exited while being read, and its pid been reused:
  // the fields could then be of nothing, or of two processes.
  Result<Stat> after = ReadStat(dir, pid);
  if (!after || after->start_ticks != stat.start_ticks) {
    return MakeError(ErrorCode::kNotFound,
                     "process " + std::to_string(pid) +
                         " exited or was replaced while being read");
  }

  EventBuilder builder;
  auto& fbb = builder.fbb();
  using StringOffset = flatbuffers::Offset<flatbuffers::String>;
  auto id_offset = fbb.CreateString(std::to_string(pid));
  auto optional_string = [&fbb](const auto& value) {
    return value ? fbb.CreateString(*value) : StringOffset();
  };
  StringOffset name_offset = optional_string(name);
  StringOffset cwd_offset = optional_string(cwd);
  StringOffset exe_offset = optional_string(exe);
  StringOffset comm_offset = fbb.CreateString(stat.comm);
  StringOffset container_offset = optional_string(container_id);
  auto cmdline_offset =
      cmdline.empty() ? 0 : fbb.CreateVectorOfStrings(cmdline);
  auto uids_offset = uids ? fbb.CreateVector(*uids) : 0;
  auto gids_offset = gids ? fbb.CreateVector(*gids) : 0;
  auto owner_offset =
      container_id
          ? fb::CreateEntityRef(fbb, fb::Kind::container, container_offset)
          : 0;
  fb::ProcessBuilder process(fbb);
  process.add_id(id_offset);
  process.add_pid(pid);
  if (ns_pid) process.add_ns_pid(*ns_pid);
  process.add_ppid(stat.ppid);
  if (name) process.add_name(name_offset);
  if (cwd) process.add_cwd(cwd_offset);
  if (exe) process.add_exe(exe_offset);
  process.add_comm(comm_offset);
  if (!cmdline.empty()) process.add_cmdline(cmdline_offset);
  if (uids) process.add_uids(uids_offset);
  if (gids) process.add_gids(gids_offset);
  if (container_id) {
    process.add_container_id(container_offset);
    process.add_owner(owner_offset);
  }
  process.add_creation_time(creation_time);
  WMETA_ASSIGN_OR_RETURN(Event event,
                         builder.Finish(kProcessSource, EventType::kSet,
                                        process.Finish(), SystemClock().Now()));
  return ProcessRead{std::move(event), stat.start_ticks};
}

class ProcessCollector final : public PullCollector {
 public:
  explicit ProcessCollector(ProcessOptions options)
      : PullCollector(options.interval),
        proc_root_(std::move(options.proc_root)),
        diff_(std::string(kProcessSource), {Kind::kProcess}) {}

  std::string_view name() const override { return "process"; }

 protected:
  Status Pull(Sink& sink, std::stop_token stop) override {
    // Read once: btime follows the wall clock, which a step (NTP, an admin)
    // moves, and creation times must not move with it.
    if (!boot_seconds_) {
      WMETA_ASSIGN_OR_RETURN(boot_seconds_, ReadBootTime(proc_root_));
    }
    WMETA_ASSIGN_OR_RETURN(std::vector<int> pids, ListPids());
    std::vector<Event> current;
    std::vector<EntityId> replaced;
    std::unordered_map<int, uint64_t> started;
    for (int pid : pids) {
      // A partial list would unset every process not read yet.
      if (stop.stop_requested()) {
        return MakeError(ErrorCode::kUnavailable, "stopped during a pull");
      }
      Result<ProcessRead> read = ReadProcessAt(proc_root_, pid, *boot_seconds_);
      if (!read) {
        // Gone since the listing, not readable, or a kernel thread: not
        // listed.
        if (read.error().code == ErrorCode::kNotFound) continue;
        return std::unexpected(std::move(read).error());
      }
      started.emplace(pid, read->start_ticks);
      if (auto it = started_.find(pid);
          it != started_.end() && it->second != read->start_ticks) {
        replaced.push_back({Kind::kProcess, std::to_string(pid)});
      }
      current.push_back(std::move(read->event));
    }
    WMETA_RETURN_IF_ERROR(diff_.Apply(sink, std::move(current), replaced));
    started_ = std::move(started);
    return {};
  }

 private:
  Result<std::vector<int>> ListPids() const {
    std::error_code ec;
    std::filesystem::directory_iterator it(proc_root_, ec);
    std::vector<int> pids;
    for (; !ec && it != std::filesystem::directory_iterator();
         it.increment(ec)) {
      if (auto pid = ParseNumber<int>(it->path().filename().native())) {
        pids.push_back(*pid);
      }
    }
    if (ec) {
      return MakeError(ErrorCode::kIoError,
                       "cannot list " + proc_root_ + ": " + ec.message());
    }
    std::sort(pids.begin(), pids.end());
    return pids;
  }

  std::string proc_root_;
  // From the first pull that read it.
  std::optional<int64_t> boot_seconds_;
  ListDiff diff_;
  // pid -> start time in clock ticks after boot, as of the last successful
  // pull: a pid whose start time changed was reused. The kernel's own count,
  // which no boot time or rounding touches.
  std::unordered_map<int, uint64_t> started_;
};

}  // namespace

std::unique_ptr<Collector> NewProcessCollector(ProcessOptions options) {
  return std::make_unique<ProcessCollector>(std::move(options));
}

Result<Event> ReadProcess(const std::string& proc_root, int pid) {
  WMETA_ASSIGN_OR_RETURN(int64_t boot_seconds, ReadBootTime(proc_root));
  WMETA_ASSIGN_OR_RETURN(ProcessRead read,
                         ReadProcessAt(proc_root, pid, boot_seconds));
  return std::move(read.event);
}

}  // namespace wmeta::collectors
