#include "coordkit/stress/histogram.h"

#include <algorithm>
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace cs = coordkit::stress;

namespace {
double exact_percentile(std::vector<std::uint64_t> v, double p) {
  std::sort(v.begin(), v.end());
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  rank = std::clamp<std::size_t>(rank, 1, v.size());
  return static_cast<double>(v[rank - 1]);
}
}  // namespace

TEST_CASE("Histogram buckets cover every value once and in order", "[stress]") {
  for (std::uint64_t v : {0ULL, 1ULL, 127ULL, 128ULL, 129ULL, 255ULL, 256ULL, 1000ULL, 65535ULL,
                          1ULL << 30, (1ULL << 40) + 12345}) {
    const std::size_t i = cs::Histogram::index(v);
    CHECK(cs::Histogram::lower(i) <= v);
    CHECK(v < cs::Histogram::lower(i) + cs::Histogram::width(i));
    CHECK(cs::Histogram::lower(i + 1) == cs::Histogram::lower(i) + cs::Histogram::width(i));
  }
  for (std::uint64_t v = 0; v < 100000; ++v) {
    REQUIRE(cs::Histogram::index(v) <= cs::Histogram::index(v + 1));
  }
}

TEST_CASE("Histogram percentiles are within 1 % of the exact ones", "[stress]") {
  const auto shape = GENERATE(0, 1, 2);
  std::mt19937_64 rng(42 + static_cast<unsigned>(shape));
  std::vector<std::uint64_t> values;
  cs::Histogram h;
  for (int i = 0; i < 200000; ++i) {
    std::uint64_t v = 0;
    if (shape == 0) v = std::uniform_int_distribution<std::uint64_t>(1, 5000000)(rng);
    if (shape == 1)
      v = static_cast<std::uint64_t>(std::lognormal_distribution<double>(7.0, 1.5)(rng));
    if (shape == 2) v = 200 + (rng() % 100 == 0 ? 2000000 : rng() % 300);  // a bimodal tail
    values.push_back(v);
    h.record(v);
  }
  REQUIRE(h.count() == values.size());
  for (double p : {1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
    const double exact = exact_percentile(values, p);
    const double got = h.percentile(p);
    INFO("shape " << shape << " p" << p << " exact " << exact << " got " << got);
    CHECK(std::abs(got - exact) <= 0.01 * exact + 0.5);
  }
  CHECK(h.max() == *std::max_element(values.begin(), values.end()));
  CHECK(h.min() == *std::min_element(values.begin(), values.end()));
}

TEST_CASE("Histogram merge equals recording everything in one", "[stress]") {
  cs::Histogram a, b, all;
  for (std::uint64_t v = 1; v < 50000; v += 7) {
    (v % 2 ? a : b).record(v);
    all.record(v);
  }
  a.merge(b);
  CHECK(a.count() == all.count());
  for (double p : {50.0, 99.0, 99.9}) CHECK(a.percentile(p) == all.percentile(p));
  CHECK(a.mean() == all.mean());
  cs::Histogram empty;
  CHECK(empty.percentile(99) == 0.0);
  CHECK(empty.count() == 0);
}
