// Prints a Metrics rendering with known figures, for metrics_test.py to parse
// with a real Prometheus parser.
#include <chrono>
#include <cstdio>

#include "coordkit/gateway/metrics.h"

int main() {
  using std::chrono::microseconds;
  coordkit::gateway::Metrics m;
  m.observe("getRecord", 200, microseconds(80));        // bucket 0.0001
  m.observe("getRecord", 200, microseconds(700));       // bucket 0.001
  m.observe("getRecord", 404, microseconds(3000));      // bucket 0.005
  m.observe("putRecord", 412, microseconds(20000000));  // above every bound: +Inf only
  m.observe("odd \"route\"\\x", 500, microseconds(1));
  std::vector<coordkit::gateway::Family> extra = {
      {"coordkit_db_retries_total",
       "Whole-transaction retries.\nSecond line",
       "counter",
       {{{}, 7}}},
      {"coordkit_gateway_up", "1 while serving", "gauge", {{{{"state", "ready"}}, 1}}},
  };
  const std::string text = m.render(extra);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}
