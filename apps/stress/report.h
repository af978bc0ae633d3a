// coordkit/stress/report.h: what a stress run measured and judged, and its
// three renderings: the final human table, the JSON document (`--json`) and
// one self-contained HTML page with inline SVG plots (`--html`): latency
// percentiles and throughput per second for each operation, marks for kills,
// restarts, checkpoints and backups, and the table of checks. The page has
// no external asset or URL of any kind.
//
// Example:
//   coordkit::stress::Report r;
//   r.series("http create").record(0.4, 1250);  // at 0.4 s, 1250 us
//   r.verdicts.push_back(v);
//   std::cout << render_table(r);
//   std::ofstream("report.html") << render_html(r);
#ifndef COORDKIT_APPS_STRESS_REPORT_H_
#define COORDKIT_APPS_STRESS_REPORT_H_

#include <algorithm>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "coordkit/stress/checks.h"
#include "coordkit/stress/histogram.h"

namespace coordkit::stress {

// Series: the latencies of one operation by one actor kind ("http get"):
// over the whole run and in one-second buckets for the timeline.
struct Series {
  Histogram latency{};
  std::vector<Histogram> per_second{};

  // record: one operation that ended `t_s` seconds into the run and took
  // `latency_us` (open loop: measured from its intended send time).
  void record(double t_s, std::uint64_t latency_us) {
    latency.record(latency_us);
    const std::size_t s = t_s <= 0 ? 0 : static_cast<std::size_t>(t_s);
    if (s >= per_second.size()) per_second.resize(s + 1);
    per_second[s].record(latency_us);
  }
  void merge(const Series& o) {
    latency.merge(o.latency);
    if (o.per_second.size() > per_second.size()) per_second.resize(o.per_second.size());
    for (std::size_t i = 0; i < o.per_second.size(); ++i) per_second[i].merge(o.per_second[i]);
  }
};

// Event: a mark on the timeline: kill, restart_graceful, restart_kill9,
// checkpoint, backup, tamper, unavailable.
struct Event {
  double t_s = 0;
  std::string kind{};
  std::string detail{};
};

// Report: everything a run produces. Plain value; the runner fills it.
struct Report {
  double duration_s = 0;
  nlohmann::json config = nlohmann::json::object();
  std::map<std::string, Series> series;  // "http get", "worker upsert", ...
  std::map<std::string, std::uint64_t>
      errors;  // by class: "transient", "in_window", "conflict", ...
  std::map<std::string, std::uint64_t> counters;  // retries, reconnects, turn_waits, kills, ...
  double unavailable_ms = 0;
  std::vector<Event> events{};
  std::vector<Verdict> verdicts{};

  Series& at(const std::string& name) { return series[name]; }
  std::uint64_t counter(const std::string& name) const {
    const auto it = counters.find(name);
    return it == counters.end() ? 0 : it->second;
  }
  // ok: every check held (and there was at least one).
  bool ok() const {
    return !verdicts.empty() &&
           std::all_of(verdicts.begin(), verdicts.end(), [](const Verdict& v) { return v.ok; });
  }
  // ops: operations of one actor kind ("http", "worker"), those in restart
  // windows ("window http get") included; all kinds if empty.
  std::uint64_t ops(std::string_view kind = {}) const {
    std::uint64_t n = 0;
    for (const auto& [name, s] : series) {
      if (kind.empty() || name.rfind(std::string(kind) + " ", 0) == 0 ||
          name.rfind("window " + std::string(kind) + " ", 0) == 0) {
        n += s.latency.count();
      }
    }
    return n;
  }
  std::uint64_t verdict_count(std::string_view name_prefix) const {
    std::uint64_t n = 0;
    for (const Verdict& v : verdicts) {
      if (v.name.rfind(std::string(name_prefix), 0) == 0) n = std::max(n, v.count);
    }
    return n;
  }
};

namespace internal {
inline std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}
inline std::string general(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}
inline std::string ms(double us) { return fixed(us / 1000.0, 2); }
inline std::string pad(std::string s, std::size_t w) {
  if (s.size() < w) s.insert(0, w - s.size(), ' ');
  return s;
}
inline std::string escape(std::string_view s) {
  std::string out{};
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) ? '?'
                                                                                              : c;
    }
  }
  return out;
}
}  // namespace internal

// summary_json: the figures the demo and benchmarks read, flat.
inline nlohmann::json summary_json(const Report& r) {
  const double d = r.duration_s > 0 ? r.duration_s : 1.0;
  nlohmann::json p99 = nlohmann::json::object();
  for (const auto& [name, s] : r.series) p99[name] = s.latency.percentile(99.0) / 1000.0;
  return {{"ok", r.ok()},
          {"duration_s", r.duration_s},
          {"http_ops_per_s", static_cast<double>(r.ops("http")) / d},
          {"cli_ops_per_s", static_cast<double>(r.ops("worker")) / d},
          {"p99_ms", std::move(p99)},
          {"lost_writes", r.verdict_count("writes_kept")},
          {"lost_updates", r.verdict_count("no_lost_update")},
          {"stale_reads", r.verdict_count("reads_consistent")},
          {"surfaced_transient_errors", r.verdict_count("no_transient_errors")},
          {"unexpected_failures", r.verdict_count("no_unexpected_failures")},
          {"unfair_writes", r.verdict_count("fair_write_turn")},
          {"kills", r.counter("kills")},
          {"restarts", r.counter("restarts_graceful") + r.counter("restarts_kill9")},
          {"unavailable_ms", r.unavailable_ms}};
}

// to_json: everything, for --json.
inline nlohmann::json to_json(const Report& r) {
  nlohmann::json j = summary_json(r);
  j["config"] = r.config;
  nlohmann::json ops = nlohmann::json::object();
  for (const auto& [name, s] : r.series) {
    nlohmann::json timeline = nlohmann::json::array();
    for (const Histogram& h : s.per_second) {
      timeline.push_back({{"ops", h.count()},
                          {"p50_ms", h.percentile(50) / 1000.0},
                          {"p99_ms", h.percentile(99) / 1000.0}});
    }
    ops[name] = {{"count", s.latency.count()},
                 {"ops_per_s",
                  static_cast<double>(s.latency.count()) / (r.duration_s > 0 ? r.duration_s : 1.0)},
                 {"p50_ms", s.latency.percentile(50) / 1000.0},
                 {"p90_ms", s.latency.percentile(90) / 1000.0},
                 {"p99_ms", s.latency.percentile(99) / 1000.0},
                 {"p999_ms", s.latency.percentile(99.9) / 1000.0},
                 {"max_ms", static_cast<double>(s.latency.max()) / 1000.0},
                 {"per_second", std::move(timeline)}};
  }
  j["operations"] = std::move(ops);
  j["errors"] = r.errors;
  j["counters"] = r.counters;
  nlohmann::json events = nlohmann::json::array();
  for (const Event& e : r.events)
    events.push_back({{"t_s", e.t_s}, {"kind", e.kind}, {"detail", e.detail}});
  j["events"] = std::move(events);
  nlohmann::json checks = nlohmann::json::array();
  for (const Verdict& v : r.verdicts) {
    checks.push_back({{"name", v.name},
                      {"ok", v.ok},
                      {"count", v.count},
                      {"offenders", v.offenders},
                      {"detail", v.detail}});
  }
  j["checks"] = std::move(checks);
  return j;
}

// render_table: the final human table, ASCII.
inline std::string render_table(const Report& r) {
  using internal::pad;
  std::string out{};
  const double d = r.duration_s > 0 ? r.duration_s : 1.0;
  out += "operation            count     ops/s    p50 ms    p90 ms    p99 ms  p99.9 ms    max ms\n";
  for (const auto& [name, s] : r.series) {
    const Histogram& h = s.latency;
    std::string line = name;
    line.resize(std::max<std::size_t>(line.size(), 16), ' ');
    out += line + pad(std::to_string(h.count()), 10) +
           pad(internal::fixed(static_cast<double>(h.count()) / d, 1), 10) +
           pad(internal::ms(h.percentile(50)), 10) + pad(internal::ms(h.percentile(90)), 10) +
           pad(internal::ms(h.percentile(99)), 10) + pad(internal::ms(h.percentile(99.9)), 10) +
           pad(internal::ms(static_cast<double>(h.max())), 10) + "\n";
  }
  out += "\n";
  std::string errs = "errors:";
  for (const auto& [k, v] : r.errors) errs += " " + k + "=" + std::to_string(v);
  out += errs + "\n";
  std::string cnt = "counters:";
  for (const auto& [k, v] : r.counters) cnt += " " + k + "=" + std::to_string(v);
  out += cnt + "\n";
  out += "unavailable: " + internal::fixed(r.unavailable_ms, 0) + " ms over " +
         internal::fixed(r.duration_s, 1) + " s\n\n";
  out += "check                          verdict   count  detail\n";
  for (const Verdict& v : r.verdicts) {
    std::string name = v.name;
    name.resize(std::max<std::size_t>(name.size(), 30), ' ');
    out += name + " " + (v.ok ? "ok       " : "FAILED   ") + pad(std::to_string(v.count), 6) +
           "  " + v.detail + "\n";
    for (const std::string& o : v.offenders) out += "    " + o + "\n";
  }
  out += r.ok() ? "\nALL CHECKS HOLD\n" : "\nSOME CHECKS FAILED\n";
  return out;
}

namespace internal {

// Plot: one SVG line chart, x in seconds, a polyline per line, event marks.
struct Line {
  std::string name{};
  std::string color{};
  std::vector<double> y{};
};

inline std::string svg_plot(const std::string& title, const std::string& unit,
                            const std::vector<Line>& lines, const std::vector<Event>& events,
                            double duration_s) {
  const double w = 640, h = 220, left = 50, right = 10, top = 24, bottom = 28;
  double ymax = 0;
  std::size_t n = 0;
  for (const Line& l : lines) {
    for (double v : l.y) ymax = std::max(ymax, v);
    n = std::max(n, l.y.size());
  }
  if (ymax <= 0) ymax = 1;
  const double xmax = std::max<double>(duration_s, static_cast<double>(n));
  const auto px = [&](double x) { return left + (w - left - right) * x / (xmax > 0 ? xmax : 1); };
  const auto py = [&](double y) { return top + (h - top - bottom) * (1 - y / ymax); };
  std::size_t points = 0;
  for (const Line& l : lines) points += l.y.size();
  std::string s = "<svg class=\"plot\" data-points=\"" + std::to_string(points) + "\" width=\"" +
                  fixed(w, 0) + "\" height=\"" + fixed(h, 0) + "\" viewBox=\"0 0 " + fixed(w, 0) +
                  " " + fixed(h, 0) + "\" role=\"img\">";
  s += "<title>" + escape(title) + "</title>";
  s += "<text x=\"" + fixed(left, 0) + "\" y=\"16\" class=\"t\">" + escape(title) + " (" +
       escape(unit) + ")</text>";
  s += "<line x1=\"" + fixed(left, 1) + "\" y1=\"" + fixed(h - bottom, 1) + "\" x2=\"" +
       fixed(w - right, 1) + "\" y2=\"" + fixed(h - bottom, 1) + "\" stroke=\"#888\"/>";
  s += "<line x1=\"" + fixed(left, 1) + "\" y1=\"" + fixed(top, 1) + "\" x2=\"" + fixed(left, 1) +
       "\" y2=\"" + fixed(h - bottom, 1) + "\" stroke=\"#888\"/>";
  s += "<text x=\"2\" y=\"" + fixed(top + 8, 0) + "\" class=\"a\">" + general(ymax) + "</text>";
  s += "<text x=\"2\" y=\"" + fixed(h - bottom, 0) + "\" class=\"a\">0</text>";
  s += "<text x=\"" + fixed(w - right - 40, 0) + "\" y=\"" + fixed(h - 8, 0) + "\" class=\"a\">" +
       fixed(xmax, 0) + " s</text>";
  for (const Event& e : events) {
    const char* color = e.kind == "kill"                  ? "#c33"
                        : e.kind.rfind("restart", 0) == 0 ? "#93c"
                        : e.kind == "checkpoint"          ? "#3a3"
                        : e.kind == "backup"              ? "#36c"
                                                          : "#999";
    s += "<line class=\"mark\" x1=\"" + fixed(px(e.t_s), 1) + "\" y1=\"" + fixed(top, 1) +
         "\" x2=\"" + fixed(px(e.t_s), 1) + "\" y2=\"" + fixed(h - bottom, 1) + "\" stroke=\"" +
         color + "\" stroke-dasharray=\"3,3\"><title>" +
         escape(e.kind + " at " + fixed(e.t_s, 1) + " s " + e.detail) + "</title></line>";
  }
  double ly = top + 4;
  for (const Line& l : lines) {
    std::string pts;
    for (std::size_t i = 0; i < l.y.size(); ++i) {
      pts += fixed(px(static_cast<double>(i) + 0.5), 1) + "," + fixed(py(l.y[i]), 1) + " ";
    }
    if (!pts.empty()) pts.pop_back();
    s += "<polyline fill=\"none\" stroke=\"" + l.color + "\" stroke-width=\"1.5\" points=\"" + pts +
         "\"><title>" + escape(l.name) + "</title></polyline>";
    s += "<text x=\"" + fixed(w - right - 90, 0) + "\" y=\"" + fixed(ly + 8, 0) +
         "\" class=\"a\" fill=\"" + l.color + "\">" + escape(l.name) + "</text>";
    ly += 12;
  }
  s += "</svg>\n";
  return s;
}

}  // namespace internal

// render_html: the self-contained report page (well-formed XHTML-style
// markup: every element closed, every attribute quoted and escaped).
inline std::string render_html(const Report& r) {
  using internal::escape;
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>"
      "<title>coordkit-stress report</title><style>"
      "body{font-family:sans-serif;margin:1em 2em;color:#222}"
      "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}"
      "td.l,th.l{text-align:left}.ok{color:#070}.bad{color:#b00;font-weight:bold}"
      ".t{font-size:13px;font-weight:bold}.a{font-size:10px}svg{display:block;margin:4px 0}"
      "</style></head><body>\n";
  out += "<h1>coordkit-stress: " + std::string(r.ok() ? "every check holds" : "CHECKS FAILED") +
         "</h1>\n";
  out += "<p>" + internal::fixed(r.duration_s, 1) + " s, " + std::to_string(r.ops()) +
         " operations, unavailable " + internal::fixed(r.unavailable_ms, 0) + " ms, " +
         std::to_string(r.events.size()) + " events.</p>\n";
  out +=
      "<h2>Checks</h2>\n<table><tr><th class=\"l\">check</th><th>verdict</th><th>count</th>"
      "<th class=\"l\">detail and first offenders</th></tr>\n";
  for (const Verdict& v : r.verdicts) {
    std::string detail = escape(v.detail);
    for (const std::string& o : v.offenders) detail += "<br/>" + escape(o);
    out += "<tr><td class=\"l\">" + escape(v.name) + "</td><td class=\"" +
           (v.ok ? "ok\">ok" : "bad\">FAILED") + "</td><td>" + std::to_string(v.count) +
           "</td><td class=\"l\">" + detail + "</td></tr>\n";
  }
  out +=
      "</table>\n<h2>Operations</h2>\n<table><tr><th class=\"l\">operation</th><th>count</th>"
      "<th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>max ms</th></tr>\n";
  for (const auto& [name, s] : r.series) {
    const Histogram& h = s.latency;
    out += "<tr><td class=\"l\">" + escape(name) + "</td><td>" + std::to_string(h.count()) +
           "</td><td>" + internal::ms(h.percentile(50)) + "</td><td>" +
           internal::ms(h.percentile(90)) + "</td><td>" + internal::ms(h.percentile(99)) +
           "</td><td>" + internal::ms(h.percentile(99.9)) + "</td><td>" +
           internal::ms(static_cast<double>(h.max())) + "</td></tr>\n";
  }
  out +=
      "</table>\n<h2>Over time</h2>\n<p>Dashed marks: red kill, purple restart, green "
      "checkpoint, blue backup, grey other.</p>\n";
  for (const auto& [name, s] : r.series) {
    internal::Line tput{"ops/s", "#36c", {}}, p50{"p50", "#3a3", {}}, p99{"p99", "#c33", {}};
    for (const Histogram& h : s.per_second) {
      tput.y.push_back(static_cast<double>(h.count()));
      p50.y.push_back(h.percentile(50) / 1000.0);
      p99.y.push_back(h.percentile(99) / 1000.0);
    }
    out += "<h3>" + escape(name) + "</h3>\n";
    out += internal::svg_plot(name + " throughput", "ops/s", {tput}, r.events, r.duration_s);
    out += internal::svg_plot(name + " latency", "ms", {p50, p99}, r.events, r.duration_s);
  }
  out +=
      "<h2>Events</h2>\n<table><tr><th>t s</th><th class=\"l\">event</th><th "
      "class=\"l\">detail</th></tr>\n";
  for (const Event& e : r.events) {
    out += "<tr><td>" + internal::fixed(e.t_s, 2) + "</td><td class=\"l\">" + escape(e.kind) +
           "</td><td class=\"l\">" + escape(e.detail) + "</td></tr>\n";
  }
  out += "</table>\n</body></html>\n";
  return out;
}

}  // namespace coordkit::stress

#endif  // COORDKIT_APPS_STRESS_REPORT_H_
