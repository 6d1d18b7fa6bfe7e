#include "metrics.h"

#include <fmt/core.h>

namespace wmeta::tools {
namespace {

std::string LabelText(const Labels& labels) {
  std::string out;
  for (const auto& [key, value] : labels) {
    out += out.empty() ? "{" : ",";
    out += key + "=\"";
    for (char c : value) {
      switch (c) {
        case '\\':
          out += "\\\\";
          break;
        case '"':
          out += "\\\"";
          break;
        case '\n':
          out += "\\n";
          break;
        default:
          out += c;
      }
    }
    out += '"';
  }
  return out.empty() ? out : out + "}";
}

}  // namespace

void Metrics::Declare(const std::string& name, const std::string& type,
                      const std::string& help) {
  std::lock_guard lock(mu_);
  Family& family = families_[name];
  family.type = type;
  family.help = help;
}

void Metrics::Add(const std::string& name, const Labels& labels,
                  uint64_t delta) {
  std::lock_guard lock(mu_);
  families_[name].samples[LabelText(labels)] += static_cast<double>(delta);
}

void Metrics::Observe(const std::string& name, std::chrono::nanoseconds value) {
  double seconds = std::chrono::duration<double>(value).count();
  std::lock_guard lock(mu_);
  Histogram& h = families_[name].histogram;
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) ++h.counts[i];
  }
  ++h.count;
  h.sum += seconds;
}

void Metrics::Set(const std::string& name, const Labels& labels, double value) {
  std::lock_guard lock(mu_);
  families_[name].samples[LabelText(labels)] = value;
}

void Metrics::Clear(const std::string& name) {
  std::lock_guard lock(mu_);
  families_[name].samples.clear();
}

std::string Metrics::Render() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& [name, family] : families_) {
    if (family.type.empty()) continue;
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, family.help, name,
                       family.type);
    if (family.type == "histogram") {
      const Histogram& h = family.histogram;
      for (size_t i = 0; i < kBuckets.size(); ++i) {
        out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, kBuckets[i],
                           h.counts[i]);
      }
      out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n", name, h.count);
      out +=
          fmt::format("{}_sum {}\n{}_count {}\n", name, h.sum, name, h.count);
      continue;
    }
    for (const auto& [labels, value] : family.samples) {
      out += fmt::format("{}{} {}\n", name, labels, value);
    }
  }
  return out;
}

}  // namespace wmeta::tools
