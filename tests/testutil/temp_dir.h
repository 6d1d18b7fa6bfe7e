// A directory for one test, removed with everything in it when the TempDir goes
// away. Under $TEST_TMPDIR when set, else /tmp.

#pragma once

#include <string>
#include <string_view>

namespace wmeta::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path()/name (not created).
  std::string Sub(std::string_view name) const {
    return path_ + "/" + std::string(name);
  }

 private:
  std::string path_;
};

}  // namespace wmeta::testing
