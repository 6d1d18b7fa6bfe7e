// Appends to a log in sync mode from several threads until killed, printing
// each acknowledged batch as "<first> <last> <id prefix>" on stdout. Used by
// crash_test.

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "wmeta/log/log.h"

namespace {

wmeta::Event Container(const std::string& id) {
  wmeta::EventBuilder b;
  auto event =
      b.Finish("runtime", wmeta::EventType::kSet,
               wmeta::fb::CreateContainerDirect(b.fbb(), id.c_str(), "crash"));
  if (!event) std::abort();
  return std::move(*event);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s DATA_DIR THREADS\n", argv[0]);
    return 2;
  }
  auto log = wmeta::log::Log::Open(argv[1], {});
  if (!log) {
    std::fprintf(stderr, "open: %s\n", log.error().ToString().c_str());
    return 1;
  }
  std::mutex out_mu;
  std::vector<std::thread> threads;
  int count = std::atoi(argv[2]);
  for (int t = 0; t < count; ++t) {
    threads.emplace_back([&, t] {
      for (uint64_t batch = 0;; ++batch) {
        std::string prefix = std::to_string(getpid()) + "-" +
                             std::to_string(t) + "-" + std::to_string(batch);
        std::vector<wmeta::Event> events;
        for (uint64_t i = 0; i <= batch % 17; ++i) {
          events.push_back(Container(prefix + "-" + std::to_string(i)));
        }
        auto r = (*log)->Append(events);
        if (!r) {
          std::fprintf(stderr, "append: %s\n", r.error().ToString().c_str());
          std::_Exit(1);
        }
        std::string line = std::to_string(r->first_offset) + " " +
                           std::to_string(r->last_offset) + " " + prefix + "\n";
        std::lock_guard lock(out_mu);
        if (write(1, line.data(), line.size()) !=
            static_cast<ssize_t>(line.size())) {
          std::_Exit(1);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
}
