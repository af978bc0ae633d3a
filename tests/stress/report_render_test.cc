// coordkit-stress's HTML report, rendered by a real browser: a short run
// with chaos writes report.html and report.json; headless Chromium (Debian's
// chromium, installed by tools/setup) loads the page, and the DOM it built
// must hold the verdict table with every check of the JSON report, every
// section, and for every operation its two plots with data points and the
// run's event marks; the page must log nothing to the console and load no
// script; its screenshot must be a 1280x1600 PNG with more on it than an
// empty page's.
#include <catch2/catch_test_macros.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "coordkit/spawn/spawn.h"
#include "coordkit/testing/testing.h"

namespace sp = coordkit::spawn;
namespace ckt = coordkit::testing;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

constexpr const char* kChromium = "/usr/bin/chromium";
constexpr const char* kKeyHex = "3f1c2a9b8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a3928170f1e2d3c";

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t i = text.find(what); i != std::string::npos; i = text.find(what, i + 1)) ++n;
  return n;
}

// escape: the text as the DOM serializer writes it.
std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '&') {
      out += "&amp;";
    } else if (c == '<') {
      out += "&lt;";
    } else if (c == '>') {
      out += "&gt;";
    } else {
      out += c;
    }
  }
  return out;
}

// Browser: one headless Chromium run, how it ended and what it printed.
struct Browser {
  int code = -1;
  std::string out;
  std::string err;
};

// chromium: headless, no GPU, no sandbox (tests run as root), its own
// profile and HOME in `dir`, no D-Bus; console messages logged to stderr.
Browser chromium(const fs::path& dir, std::vector<std::string> args) {
  std::vector<std::string> all = {"--headless",
                                  "--no-sandbox",
                                  "--disable-gpu",
                                  "--no-first-run",
                                  "--hide-scrollbars",
                                  "--user-data-dir=" + (dir / "profile").string(),
                                  "--enable-logging=stderr",
                                  "--log-level=0"};
  all.insert(all.end(), args.begin(), args.end());
  sp::Child child = sp::spawn({.executable = kChromium,
                               .args = all,
                               .env = {{"HOME", dir.string()},
                                       {"DBUS_SESSION_BUS_ADDRESS", "disabled:"},
                                       {"XDG_CONFIG_HOME", (dir / "config").string()},
                                       {"XDG_CACHE_HOME", (dir / "cache").string()}},
                               .out = sp::Stdio::pipe(),
                               .err = sp::Stdio::pipe()});
  sp::Child::Output output = child.communicate({}, std::chrono::milliseconds(120000));
  const sp::ExitStatus status = child.wait();
  return {status.exit_code.value_or(128 + status.signal.value_or(0)), std::move(output.out),
          std::move(output.err)};
}

// png_size: width and height from a PNG's IHDR, or {0, 0} if it is no PNG.
std::pair<std::uint32_t, std::uint32_t> png_size(const std::string& png) {
  if (png.size() < 24 || png.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0 ||
      png.compare(12, 4, "IHDR") != 0) {
    return {0, 0};
  }
  const auto be32 = [&](std::size_t at) {
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(png[at + i]);
    return v;
  };
  return {be32(16), be32(20)};
}

}  // namespace

TEST_CASE("Headless Chromium renders the report with every section, plot and check",
          "[stress][report]") {
  if (!fs::exists(kChromium)) FAIL("no " << kChromium << ": tools/setup installs chromium");
  const fs::path dir = ckt::scratch_dir("render");
  fs::permissions(dir, fs::perms::owner_all);
  { std::ofstream(dir / "key") << kKeyHex << "\n"; }
  fs::permissions(dir / "key", fs::perms::owner_read | fs::perms::owner_write);

  // A short run with worker kills, checkpoints and backups: marks to draw.
  {
    ckt::ChildProcess stress(
        {.executable = ckt::runfile("apps/stress/coordkit-stress"),
         .args = {"--spawn-gateway",
                  "--gateway-binary",
                  ckt::runfile("apps/gateway/coordkit-gateway").string(),
                  "--data-dir",
                  (dir / "data").string(),
                  "--key-file",
                  (dir / "key").string(),
                  "--json",
                  (dir / "report.json").string(),
                  "--html",
                  (dir / "report.html").string(),
                  "--quiet",
                  "--seed",
                  "11",
                  "--duration",
                  "3",
                  "--connections",
                  "2",
                  "--workers",
                  "1",
                  "--kill-rate",
                  "1",
                  "--checkpoint-every",
                  "1",
                  "--backup-every",
                  "1.5"},
         .env = {{"COORDKIT_PASSPHRASE", std::nullopt}, {"COORDKIT_KEY_FILE", std::nullopt}},
         .out = sp::Stdio::file(dir / "stress.stdout"),
         .err = sp::Stdio::file(dir / "stress.stderr")},
        20000ms);
    const auto status = stress.wait_for(120000ms);
    REQUIRE(status);
    INFO(read_text(dir / "stress.stderr"));
    REQUIRE(status->exit_code == 0);
  }
  const nlohmann::json report = nlohmann::json::parse(read_text(dir / "report.json"));
  const std::string url = "file://" + (dir / "report.html").string();

  const Browser dom = chromium(dir, {"--dump-dom", url});
  INFO(dom.err.substr(0, 4000));
  REQUIRE(dom.code == 0);
  const std::string& d = dom.out;
  REQUIRE(d.find("</html>") != std::string::npos);

  // The page's promises: title, verdict, every section.
  CHECK(d.find("<title>coordkit-stress report</title>") != std::string::npos);
  CHECK(d.find("<h1>coordkit-stress: every check holds</h1>") != std::string::npos);
  for (const char* section : {"Checks", "Operations", "Over time", "Events"}) {
    CHECK(d.find(std::string("<h2>") + section + "</h2>") != std::string::npos);
  }
  // The verdict table: a row per check of the JSON report, each "ok".
  REQUIRE(report["checks"].size() >= 8);
  for (const auto& c : report["checks"]) {
    const std::string name = c["name"].get<std::string>();
    INFO(name);
    CHECK(d.find("<tr><td class=\"l\">" + name + "</td><td class=\"ok\">ok</td>") !=
          std::string::npos);
  }
  // Every operation: a heading and two plots (throughput, latency), each
  // with data points; every plot carries every event mark.
  const std::size_t operations = report["operations"].size();
  const std::size_t events = report["events"].size();
  REQUIRE(operations >= 2);
  for (const auto& [name, op] : report["operations"].items()) {
    INFO(name);
    CHECK(d.find("<h3>" + escape(name) + "</h3>") != std::string::npos);
    CHECK(d.find("<title>" + escape(name) + " throughput</title>") != std::string::npos);
    CHECK(d.find("<title>" + escape(name) + " latency</title>") != std::string::npos);
  }
  CHECK(count(d, "<svg class=\"plot\"") == 2 * operations);
  CHECK(count(d, "<svg class=\"plot\" data-points=\"0\"") == 0);
  CHECK(count(d, "<polyline ") == 3 * operations);  // ops/s; p50 and p99
  CHECK(count(d, " points=\"\"") == 0);
  bool kill = false, checkpoint = false, backup = false;
  for (const auto& e : report["events"]) {
    kill = kill || e["kind"] == "kill";
    checkpoint = checkpoint || e["kind"] == "checkpoint";
    backup = backup || e["kind"] == "backup";
  }
  CHECK(kill);
  CHECK(checkpoint);
  CHECK(backup);
  CHECK(count(d, "<line class=\"mark\"") == 2 * operations * events);
  // The events table: a row per event (and its header row).
  const std::size_t events_at = d.find("<h2>Events</h2>");
  REQUIRE(events_at != std::string::npos);
  CHECK(count(d.substr(events_at), "<tr>") == events + 1);

  // A static page: no script ran, nothing reached the console.
  CHECK(d.find("<script") == std::string::npos);
  CHECK(dom.err.find(":CONSOLE") == std::string::npos);

  // The screenshot: a 1280x1600 PNG, with more on it than an empty page.
  const Browser shot = chromium(
      dir, {"--screenshot=" + (dir / "report.png").string(), "--window-size=1280,1600", url});
  REQUIRE(shot.code == 0);
  const std::string png = read_text(dir / "report.png");
  CHECK(png_size(png) == std::pair<std::uint32_t, std::uint32_t>{1280, 1600});
  std::ofstream(dir / "empty.html") << "<!DOCTYPE html><html><head><title>e</title></head>"
                                       "<body></body></html>\n";
  REQUIRE(chromium(dir, {"--screenshot=" + (dir / "empty.png").string(), "--window-size=1280,1600",
                         "file://" + (dir / "empty.html").string()})
              .code == 0);
  const std::string empty = read_text(dir / "empty.png");
  CHECK(png_size(empty) == std::pair<std::uint32_t, std::uint32_t>{1280, 1600});
  CHECK(png.size() > 4 * empty.size());
}
