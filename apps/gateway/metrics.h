// coordkit/gateway/metrics.h: request counters and latency histograms by
// route, and the Prometheus text exposition format (version 0.0.4) of them
// plus any other families the caller adds (the database counters).
//
// Example:
//   coordkit::gateway::Metrics metrics;
//   metrics.observe("getRecord", 200, std::chrono::microseconds(350));
//   std::vector<coordkit::gateway::Family> extra = {
//       {"coordkit_db_retries_total", "Whole-transaction retries", "counter", {{{}, 3}}}};
//   std::string text = metrics.render(extra);  // served as text/plain; version=0.0.4
#ifndef COORDKIT_APPS_GATEWAY_METRICS_H_
#define COORDKIT_APPS_GATEWAY_METRICS_H_

#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace coordkit::gateway {

// kLatencyBuckets: histogram upper bounds in seconds (100 us to 10 s).
inline constexpr std::array<double, 14> kLatencyBuckets = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 10.0};

// Sample: one line of a family: its labels (name, value) and value.
struct Sample {
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;
};

// Family: one metric family: a name, HELP text, TYPE (counter or gauge) and
// its samples. Counter names end in _total.
struct Family {
  std::string name;
  std::string help;
  std::string type;
  std::vector<Sample> samples;
};

// RouteFigures: a snapshot of one route's requests.
struct RouteFigures {
  std::string route;
  std::map<unsigned, std::uint64_t> by_status;  // status -> requests
  std::uint64_t count = 0;
  double sum_seconds = 0;
  std::array<std::uint64_t, kLatencyBuckets.size()> buckets{};  // not cumulative
  // quantile_seconds: an estimate of quantile q (0..1) from the buckets (the
  // upper bound of the bucket it falls in; +Inf as the largest bound).
  double quantile_seconds(double q) const {
    if (count == 0) return 0;
    const auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count)));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < buckets.size(); ++i) {
      seen += buckets[i];
      if (seen >= rank) return kLatencyBuckets[i];
    }
    return kLatencyBuckets.back();
  }
};

// Metrics: thread-safe; observe() from any number of threads takes a shared
// lock and atomic increments once a route has been seen.
class Metrics {
 public:
  // observe: one answered request of `route` (an operation id, or "unmatched").
  void observe(std::string_view route, unsigned status, std::chrono::nanoseconds took) {
    Route& r = route_for(route);
    const unsigned s = status < 100 || status > 599 ? 599 : status;
    r.by_status[s - 100].fetch_add(1, std::memory_order_relaxed);
    const double seconds = std::chrono::duration<double>(took).count();
    std::size_t b = 0;
    while (b < kLatencyBuckets.size() && seconds > kLatencyBuckets[b]) ++b;
    r.buckets[b].fetch_add(1, std::memory_order_relaxed);
    r.sum_ns.fetch_add(static_cast<std::uint64_t>(took.count() < 0 ? 0 : took.count()),
                       std::memory_order_relaxed);
  }

  // snapshot: every route seen so far, by name.
  std::vector<RouteFigures> snapshot() const {
    std::shared_lock lock(mu_);
    std::vector<RouteFigures> out;
    for (const auto& [name, r] : routes_) {
      RouteFigures f;
      f.route = name;
      for (std::size_t i = 0; i < r->by_status.size(); ++i) {
        const std::uint64_t n = r->by_status[i].load(std::memory_order_relaxed);
        if (n != 0) f.by_status[static_cast<unsigned>(i + 100)] = n;
      }
      for (std::size_t i = 0; i < kLatencyBuckets.size(); ++i) {
        f.buckets[i] = r->buckets[i].load(std::memory_order_relaxed);
        f.count += f.buckets[i];
      }
      f.count += r->buckets[kLatencyBuckets.size()].load(std::memory_order_relaxed);
      f.sum_seconds = static_cast<double>(r->sum_ns.load(std::memory_order_relaxed)) / 1e9;
      out.push_back(std::move(f));
    }
    return out;
  }

  // render: the exposition text: coordkit_http_requests_total{route,status},
  // the coordkit_http_request_duration_seconds histogram{route}, then
  // `extra` in order.
  std::string render(const std::vector<Family>& extra = {}) const {
    std::string out;
    const std::vector<RouteFigures> routes = snapshot();
    out += "# HELP coordkit_http_requests_total Requests answered, by route and status.\n";
    out += "# TYPE coordkit_http_requests_total counter\n";
    for (const RouteFigures& f : routes) {
      for (const auto& [status, n] : f.by_status) {
        out += "coordkit_http_requests_total{route=\"" + escape(f.route) + "\",status=\"" +
               std::to_string(status) + "\"} " + std::to_string(n) + "\n";
      }
    }
    out +=
        "# HELP coordkit_http_request_duration_seconds Time from request read to response "
        "ready, by route.\n";
    out += "# TYPE coordkit_http_request_duration_seconds histogram\n";
    for (const RouteFigures& f : routes) {
      const std::string label = "route=\"" + escape(f.route) + "\"";
      std::uint64_t cumulative = 0;
      for (std::size_t i = 0; i < kLatencyBuckets.size(); ++i) {
        cumulative += f.buckets[i];
        out += "coordkit_http_request_duration_seconds_bucket{" + label + ",le=\"" +
               number(kLatencyBuckets[i]) + "\"} " + std::to_string(cumulative) + "\n";
      }
      out += "coordkit_http_request_duration_seconds_bucket{" + label + ",le=\"+Inf\"} " +
             std::to_string(f.count) + "\n";
      out += "coordkit_http_request_duration_seconds_sum{" + label + "} " + number(f.sum_seconds) +
             "\n";
      out += "coordkit_http_request_duration_seconds_count{" + label + "} " +
             std::to_string(f.count) + "\n";
    }
    for (const Family& fam : extra) {
      out += "# HELP " + fam.name + " " + escape_help(fam.help) + "\n";
      out += "# TYPE " + fam.name + " " + fam.type + "\n";
      for (const Sample& s : fam.samples) {
        out += fam.name;
        if (!s.labels.empty()) {
          out += "{";
          for (std::size_t i = 0; i < s.labels.size(); ++i) {
            if (i != 0) out += ",";
            out += s.labels[i].first + "=\"" + escape(s.labels[i].second) + "\"";
          }
          out += "}";
        }
        out += " " + number(s.value) + "\n";
      }
    }
    return out;
  }

  // kContentType: what /metrics answers with.
  static constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

 private:
  struct Route {
    std::array<std::atomic<std::uint64_t>, 500> by_status{};                       // 100..599
    std::array<std::atomic<std::uint64_t>, kLatencyBuckets.size() + 1> buckets{};  // + overflow
    std::atomic<std::uint64_t> sum_ns{0};
  };

  Route& route_for(std::string_view name) {
    {
      std::shared_lock lock(mu_);
      auto it = routes_.find(name);
      if (it != routes_.end()) return *it->second;
    }
    std::unique_lock lock(mu_);
    auto [it, inserted] = routes_.try_emplace(std::string(name), nullptr);
    if (inserted) it->second = std::make_unique<Route>();
    return *it->second;
  }

  // escape: a label value: backslash, double quote and newline escaped.
  static std::string escape(std::string_view v) {
    std::string out;
    for (char c : v) {
      if (c == '\\') {
        out += "\\\\";
      } else if (c == '"') {
        out += "\\\"";
      } else if (c == '\n') {
        out += "\\n";
      } else {
        out += c;
      }
    }
    return out;
  }
  // escape_help: HELP text: backslash and newline escaped.
  static std::string escape_help(std::string_view v) {
    std::string out;
    for (char c : v) {
      if (c == '\\') {
        out += "\\\\";
      } else if (c == '\n') {
        out += "\\n";
      } else {
        out += c;
      }
    }
    return out;
  }
  static std::string number(double v) {
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    if (std::isnan(v)) return "NaN";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.15g", v);
    return buf;
  }

  mutable std::shared_mutex mu_;
  std::map<std::string, std::unique_ptr<Route>, std::less<>> routes_;
};

}  // namespace coordkit::gateway

#endif  // COORDKIT_APPS_GATEWAY_METRICS_H_
