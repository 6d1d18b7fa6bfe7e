// The process collector: every process under a /proc tree (the real one, or a
// fixture in tests) as a `process` entity from source "process_collector":
// pid, ppid, name, comm, exe, cwd, cmdline, uids, gids, start time and the
// container it runs in (from /proc/PID/cgroup). A set when a process appears,
// an unset when it exits; a PID reused by a new process (another start time)
// is an unset of the old one and a set of the new one, in one Emit. Kernel
// threads are not listed. Entries that cannot be read (permissions, a process
// exiting mid-read) are skipped quietly: a process whose stat cannot be read
// is not listed, and fields that cannot be read (exe, cwd of other users'
// processes) are left out. Text that is not valid UTF-8 (names, arguments,
// paths hold any bytes) has each bad sequence replaced by U+FFFD.
//
// Thread-safety: ContainerIdFromCgroup is pure; ReadProcess only reads the
// filesystem, and may be called from any thread; the collector is a Collector.

#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "wmeta/collectors/collector.h"
#include "wmeta/schema/error.h"
#include "wmeta/schema/event.h"

namespace wmeta::collectors {

inline constexpr std::string_view kProcessSource = "process_collector";

struct ProcessOptions {
  std::string proc_root = "/proc";
  std::chrono::milliseconds interval{5000};
};

std::unique_ptr<Collector> NewProcessCollector(ProcessOptions options);

// The container id in the text of a /proc/PID/cgroup file (cgroup v1 or v2;
// docker, containerd, cri-o, podman/libpod and kubepods path shapes, systemd
// and cgroupfs drivers): the 64-hex id, or nullopt for a process in no
// container.
std::optional<std::string> ContainerIdFromCgroup(std::string_view cgroup);

// The set event for process `pid` under `proc_root`, its start time computed
// from the boot time in `proc_root`/stat. kNotFound when the process is gone,
// its stat cannot be read, it is a kernel thread, or it exited or was
// replaced by another process of its pid while being read.
Result<Event> ReadProcess(const std::string& proc_root, int pid);

}  // namespace wmeta::collectors
