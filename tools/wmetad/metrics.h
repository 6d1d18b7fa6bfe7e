// The daemon's metrics in the Prometheus text format (version 0.0.4):
// counters and latency histograms kept here, gauges read at scrape time by
// the caller. Private to tools/wmetad/.
//
// Thread-safety: thread-safe.

#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace wmeta::tools {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Metrics {
 public:
  // Declares a family (its HELP and TYPE lines); samples of undeclared
  // families are not rendered.
  void Declare(const std::string& name, const std::string& type,
               const std::string& help);

  void Add(const std::string& name, const Labels& labels, uint64_t delta = 1);
  // Into a histogram of latency buckets from 50 µs to 10 s.
  void Observe(const std::string& name, std::chrono::nanoseconds value);
  // Replaces the value of a gauge.
  void Set(const std::string& name, const Labels& labels, double value);
  // Drops every sample of a gauge (before setting the current ones).
  void Clear(const std::string& name);

  std::string Render() const;

 private:
  static constexpr std::array<double, 13> kBuckets = {
      0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
      0.01,    0.025,  0.05,    0.1,    1.0,   10.0};
  struct Histogram {
    std::array<uint64_t, kBuckets.size()> counts{};
    uint64_t count = 0;
    double sum = 0;
  };
  struct Family {
    std::string type;
    std::string help;
    std::map<std::string, double> samples;  // rendered labels -> value
    Histogram histogram;
  };

  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
};

}  // namespace wmeta::tools
