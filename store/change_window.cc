#include "change_window.h"

#include <algorithm>

namespace wmeta::store::internal {

void ChangeWindow::Publish(std::vector<Change> changes, uint64_t applied) {
  {
    std::lock_guard lock(mu_);
    for (Change& change : changes) changes_.push_back(std::move(change));
    while (changes_.size() > capacity_) {
      oldest_ = changes_.front().record->view().offset() + 1;
      changes_.pop_front();
    }
    applied_ = applied;
  }
  cv_.notify_all();
}

ChangeWindow::Slice ChangeWindow::Read(uint64_t from, size_t max) const {
  Slice slice;
  std::lock_guard lock(mu_);
  slice.closed = closed_;
  if (from < oldest_) {
    slice.behind = true;
    return slice;
  }
  auto it = std::lower_bound(changes_.begin(), changes_.end(), from,
                             [](const Change& c, uint64_t offset) {
                               return c.record->view().offset() < offset;
                             });
  slice.through = applied_;
  for (; it != changes_.end(); ++it) {
    if (slice.changes.size() == max) {
      slice.through = slice.changes.back().record->view().offset();
      break;
    }
    slice.changes.push_back(*it);
  }
  return slice;
}

void ChangeWindow::Wait(uint64_t from,
                        std::chrono::steady_clock::time_point until) const {
  std::unique_lock lock(mu_);
  cv_.wait_until(lock, until, [&] { return closed_ || applied_ >= from; });
}

uint64_t ChangeWindow::applied() const {
  std::lock_guard lock(mu_);
  return applied_;
}

uint64_t ChangeWindow::oldest() const {
  std::lock_guard lock(mu_);
  return oldest_;
}

void ChangeWindow::Close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

}  // namespace wmeta::store::internal
