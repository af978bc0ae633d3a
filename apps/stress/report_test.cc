#include "coordkit/stress/report.h"

#include <algorithm>
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <string>
#include <vector>

namespace cs = coordkit::stress;

namespace {

cs::Report sample(bool failing) {
  cs::Report r;
  r.duration_s = 5;
  for (int i = 0; i < 5000; ++i) {
    r.at("http get").record(i / 1000.0, 300 + static_cast<std::uint64_t>(i % 700));
    if (i % 3 == 0) r.at("worker upsert").record(i / 1000.0, 2000 + static_cast<std::uint64_t>(i));
  }
  r.events = {{1.0, "kill", "worker-3 <pid 42>"},
              {2.5, "restart_graceful", ""},
              {3.0, "checkpoint", "truncate"},
              {4.0, "backup", "b&1"}};
  r.counters["kills"] = 1;
  r.counters["restarts_graceful"] = 1;
  r.verdicts.push_back({.name = "writes_kept_database", .ok = true, .detail = "3 records"});
  if (failing) {
    cs::Verdict v{.name = "no_lost_update"};
    v.offend("c/x: final version 2 after 3 acknowledged writes");
    r.verdicts.push_back(v);
  }
  return r;
}

// well_formed: every tag closes in order (void elements self-close), and
// attribute values are quoted. A small XML-ish checker: enough for markup
// this program writes, strict about what it sees.
bool well_formed(const std::string& html, std::string& why) {
  std::vector<std::string> stack;
  std::size_t i = html.find("<html");
  if (i == std::string::npos) {
    why = "no <html>";
    return false;
  }
  while ((i = html.find('<', i)) != std::string::npos) {
    const std::size_t end = html.find('>', i);
    if (end == std::string::npos) {
      why = "unterminated tag";
      return false;
    }
    std::string tag = html.substr(i + 1, end - i - 1);
    i = end + 1;
    if (tag.empty()) {
      why = "empty tag";
      return false;
    }
    if (tag.back() == '/') continue;  // self-closed
    if (tag[0] == '/') {
      const std::string name = tag.substr(1);
      if (stack.empty() || stack.back() != name) {
        why = "</" + name + "> closes " + (stack.empty() ? "nothing" : stack.back());
        return false;
      }
      stack.pop_back();
      continue;
    }
    const std::size_t sp = tag.find(' ');
    stack.push_back(tag.substr(0, sp));
    // quotes balanced inside the tag
    if (std::count(tag.begin(), tag.end(), '"') % 2 != 0) {
      why = "unbalanced quotes in <" + tag + ">";
      return false;
    }
  }
  if (!stack.empty()) {
    why = "<" + stack.back() + "> never closed";
    return false;
  }
  return true;
}

}  // namespace

TEST_CASE("The HTML report is one well-formed self-contained page", "[stress]") {
  const bool failing = GENERATE(false, true);
  const std::string html = cs::render_html(sample(failing));
  REQUIRE(html.rfind("<!DOCTYPE html>", 0) == 0);
  std::string why;
  CHECK(well_formed(html, why));
  INFO(why);
  SECTION("no external URL of any kind") {
    for (const char* banned :
         {"http:", "https:", "//", "url(", "src=", "href=", "@import", "xmlns"}) {
      INFO(banned);
      CHECK(html.find(banned) == std::string::npos);
    }
  }
  SECTION("each operation has a throughput and a latency plot with data points") {
    int plots = 0;
    const std::string plot = "<svg class=\"plot\" data-points=\"";
    for (std::size_t at = html.find(plot); at != std::string::npos; at = html.find(plot, at + 1)) {
      ++plots;
      CHECK(std::stoi(html.substr(at + plot.size(), 12)) >= 5);
    }
    CHECK(plots == 4);
    int lines = 0;
    const std::string poly = "<polyline ";
    for (std::size_t at = html.find(poly); at != std::string::npos; at = html.find(poly, at + 1)) {
      ++lines;
      const std::size_t p = html.find("points=\"", at);
      REQUIRE(p != std::string::npos);
      const std::string pts = html.substr(p + 8, html.find('"', p + 8) - p - 8);
      CHECK(std::count(pts.begin(), pts.end(), ',') >= 5);
    }
    CHECK(lines == 6);  // throughput + p50 + p99, two operations
  }
  SECTION("marks for the events and the table of checks") {
    CHECK(html.find("class=\"mark\"") != std::string::npos);
    CHECK(html.find("worker-3 &lt;pid 42&gt;") != std::string::npos);
    CHECK(html.find("writes_kept_database") != std::string::npos);
    CHECK((html.find("FAILED") != std::string::npos) == failing);
  }
}

TEST_CASE("The JSON summary carries the figures the demo reports", "[stress]") {
  const cs::Report r = sample(true);
  const nlohmann::json j = cs::to_json(r);
  for (const char* k : {"http_ops_per_s", "cli_ops_per_s", "p99_ms", "lost_writes", "lost_updates",
                        "stale_reads", "surfaced_transient_errors", "unexpected_failures",
                        "unfair_writes", "kills", "restarts", "unavailable_ms"}) {
    INFO(k);
    CHECK(j.contains(k));
  }
  CHECK(j["http_ops_per_s"].get<double>() == 1000.0);
  CHECK(j["lost_updates"] == 1);
  CHECK(j["restarts"] == 1);
  CHECK(j["ok"] == false);
  CHECK(j["operations"]["http get"]["per_second"].size() == 5);
  const double p99 = j["p99_ms"]["http get"].get<double>();
  CHECK(p99 > 0.9);
  CHECK(p99 < 1.01);
}

TEST_CASE("The table names every check, its verdict and offenders", "[stress]") {
  const std::string t = cs::render_table(sample(true));
  CHECK(t.find("no_lost_update") != std::string::npos);
  CHECK(t.find("FAILED") != std::string::npos);
  CHECK(t.find("c/x: final version 2") != std::string::npos);
  CHECK(t.find("SOME CHECKS FAILED") != std::string::npos);
  CHECK(cs::render_table(sample(false)).find("ALL CHECKS HOLD") != std::string::npos);
}

TEST_CASE("Throughput counts operations in restart windows; their latency stays apart",
          "[stress]") {
  cs::Report r;
  r.duration_s = 2;
  r.at("http get").record(0.5, 1000);
  r.at("window http get").record(1.5, 900000);
  r.at("worker get").record(0.5, 500);
  CHECK(r.ops("http") == 2);
  CHECK(r.ops("worker") == 1);
  CHECK(r.ops() == 3);
  const nlohmann::json j = cs::summary_json(r);
  CHECK(j["http_ops_per_s"] == 1.0);
  CHECK(j["p99_ms"]["http get"].get<double>() < 1.1);
  CHECK(j["p99_ms"]["window http get"].get<double>() > 800);
}
