// coordkit/stress/histogram.h: a log-bucketed latency histogram in the
// manner of HdrHistogram: exact below 128 microseconds, then 64 buckets per
// power of two, so any percentile it reports is within 1 % (0.8 % at the
// bucket's middle) of the exact one. Memory grows with the largest value
// recorded (about 10 KB up to 10 s), never with the number of values.
//
// Example:
//   coordkit::stress::Histogram h;
//   h.record(1250);                   // microseconds
//   double p99 = h.percentile(99.0);  // about 1250
//   other.merge(h);
#ifndef COORDKIT_APPS_STRESS_HISTOGRAM_H_
#define COORDKIT_APPS_STRESS_HISTOGRAM_H_

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace coordkit::stress {

// Histogram: counts of values (microseconds by convention) in log-linear
// buckets. Not thread-safe: keep one per thread and merge().
class Histogram {
 public:
  static constexpr std::uint64_t kExactBelow = 128;
  static constexpr unsigned kSubBits = 6;  // 64 buckets per power of two

  // index: the bucket of value `v`.
  static std::size_t index(std::uint64_t v) noexcept {
    if (v < kExactBelow) return static_cast<std::size_t>(v);
    const unsigned msb = 63U - static_cast<unsigned>(std::countl_zero(v));
    const unsigned shift = msb - kSubBits;  // >= 1 since v >= 128
    const std::uint64_t top = v >> shift;   // in [64, 128)
    return static_cast<std::size_t>(kExactBelow + std::uint64_t{shift - 1} * 64 + (top - 64));
  }
  // lower: the smallest value of bucket `i`; width: how many values it holds.
  static std::uint64_t lower(std::size_t i) noexcept {
    if (i < kExactBelow) return i;
    const std::size_t k = i - kExactBelow;
    const unsigned shift = static_cast<unsigned>(k / 64) + 1;
    return (64 + k % 64) << shift;
  }
  static std::uint64_t width(std::size_t i) noexcept {
    if (i < kExactBelow) return 1;
    return std::uint64_t{1} << (static_cast<unsigned>((i - kExactBelow) / 64) + 1);
  }

  // record: adds `count` values `v`.
  void record(std::uint64_t v, std::uint64_t count = 1) {
    const std::size_t i = index(v);
    if (i >= counts_.size()) counts_.resize(i + 1, 0);
    counts_[i] += count;
    if (total_ == 0 || v < min_) min_ = v;
    max_ = std::max(max_, v);
    total_ += count;
    sum_ += static_cast<double>(v) * static_cast<double>(count);
  }

  // merge: adds every value of `o`.
  void merge(const Histogram& o) {
    if (o.total_ == 0) return;
    if (o.counts_.size() > counts_.size()) counts_.resize(o.counts_.size(), 0);
    for (std::size_t i = 0; i < o.counts_.size(); ++i) counts_[i] += o.counts_[i];
    if (total_ == 0 || o.min_ < min_) min_ = o.min_;
    max_ = std::max(max_, o.max_);
    total_ += o.total_;
    sum_ += o.sum_;
  }

  // percentile: the value at or below which `p` percent (0..100) of the
  // values lie, as the middle of its bucket clamped to [min, max]; 0 when
  // empty. Relative error under 1 %.
  double percentile(double p) const noexcept {
    if (total_ == 0) return 0.0;
    p = std::clamp(p, 0.0, 100.0);
    std::uint64_t rank =
        static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(total_)));
    rank = std::clamp<std::uint64_t>(rank, 1, total_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank) {
        const double mid =
            static_cast<double>(lower(i)) + (static_cast<double>(width(i)) - 1.0) / 2.0;
        return std::clamp(mid, static_cast<double>(min_), static_cast<double>(max_));
      }
    }
    return static_cast<double>(max_);
  }

  std::uint64_t count() const noexcept { return total_; }
  std::uint64_t min() const noexcept { return total_ ? min_ : 0; }
  std::uint64_t max() const noexcept { return max_; }
  double mean() const noexcept { return total_ ? sum_ / static_cast<double>(total_) : 0.0; }

 private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t total_ = 0;
  std::uint64_t min_ = 0;
  std::uint64_t max_ = 0;
  double sum_ = 0;
};

}  // namespace coordkit::stress

#endif  // COORDKIT_APPS_STRESS_HISTOGRAM_H_
