#include "change_window.h"

#include <algorithm>

namespace wmeta::store::internal {

void ChangeWindow::Publish(std::vector<Change> changes, uint64_t applied) {
  {
    std::lock_guard lock(mu_);
    auto batch = std::make_shared<Batch>();
    batch->after = applied_;
    batch->last = applied;
    batch->changes = std::move(changes);
    changes_ += batch->changes.size();
    batches_.push_back(std::move(batch));
    while (changes_ > capacity_ && batches_.size() > 1) {
      oldest_ = batches_.front()->last + 1;
      changes_ -= batches_.front()->changes.size();
      batches_.pop_front();
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
  auto it = std::lower_bound(
      batches_.begin(), batches_.end(), from,
      [](const auto& batch, uint64_t offset) { return batch->last < offset; });
  size_t changes = 0;
  for (; it != batches_.end() && changes < max; ++it) {
    slice.batches.push_back(*it);
    changes += (*it)->changes.size();
  }
  slice.through = slice.batches.empty() ? applied_ : slice.batches.back()->last;
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
