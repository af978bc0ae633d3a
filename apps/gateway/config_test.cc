#include "coordkit/gateway/config.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <string>
#include <vector>

#include "coordkit/gateway/internal/testing.h"

namespace gw = coordkit::gateway;

namespace {

// parse: runs the gateway's CLI over `args` into a Config.
gw::Config parse(const std::vector<std::string>& args) {
  gw::Config config;
  CLI::App app{"coordkit-gateway"};
  gw::setup_cli(app, config);
  std::vector<const char*> argv = {"coordkit-gateway"};
  for (const auto& a : args) argv.push_back(a.c_str());
  app.parse(static_cast<int>(argv.size()), const_cast<char**>(argv.data()));
  gw::finish_config(config);
  return config;
}

}  // namespace

TEST_CASE("parse_listen reads TCP and Unix addresses", "[gateway]") {
  CHECK(gw::parse_listen("127.0.0.1:8470") ==
        gw::ListenAddress{gw::ListenAddress::Kind::kTcp, "127.0.0.1", 8470, {}});
  CHECK(gw::parse_listen("127.0.0.1:0").port == 0);
  CHECK(gw::parse_listen("[::1]:9000").host == "::1");
  CHECK(gw::parse_listen("unix:/run/gw.sock").path == "/run/gw.sock");
  const std::string bad =
      GENERATE("127.0.0.1", "127.0.0.1:", ":80", "h:99999", "h:8x", "unix:", "[::1]80");
  CAPTURE(bad);
  CHECK_THROWS_AS(gw::parse_listen(bad), std::invalid_argument);
}

TEST_CASE("Settings come from flags over the TOML file over defaults", "[gateway]") {
  const auto dir = gw::testing::scratch_dir("config");
  SECTION("defaults") {
    const gw::Config c = parse({"--data-dir", dir.string()});
    CHECK(c.listen == std::vector<std::string>{gw::kDefaultListen});
    CHECK(c.synchronous == "normal");
    CHECK(c.threads == 2);
    CHECK(c.blocking_threads == 64);
    CHECK(c.blocking_queue == 1024);
    CHECK(c.inline_reads);
    CHECK(c.database == dir / "gateway.db");
    CHECK(c.create);
  }
  SECTION("the file over the defaults, a flag over the file") {
    gw::testing::write_file(dir / "gw.toml",
                            "synchronous = \"full\"\n"
                            "threads = 3\n"
                            "inline-reads = false\n"
                            "listen = [\"127.0.0.1:0\", \"unix:/tmp/x.sock\"]\n"
                            "data-dir = \"" +
                                dir.string() + "\"\n");
    const gw::Config c = parse({"--config", (dir / "gw.toml").string(), "--threads", "5",
                                "--no-create", "--blocking-threads", "8", "--inline-reads"});
    CHECK(c.synchronous == "full");
    CHECK(c.threads == 5);
    CHECK(c.blocking_threads == 8);
    CHECK(c.inline_reads);
    REQUIRE(c.listen_addresses.size() == 2);
    CHECK(c.listen_addresses[1].kind == gw::ListenAddress::Kind::kUnix);
    CHECK(c.data_dir == dir);
    CHECK_FALSE(c.create);
  }
  SECTION("--blocking-reads puts record reads on the blocking threads") {
    CHECK_FALSE(parse({"--data-dir", dir.string(), "--blocking-reads"}).inline_reads);
  }
  SECTION("validators refuse bad values") {
    CHECK_THROWS_AS(parse({"--synchronous", "sometimes"}), CLI::ValidationError);
    CHECK_THROWS_AS(parse({"--threads", "0"}), CLI::ValidationError);
    CHECK_THROWS_AS(parse({"--blocking-threads", "0"}), CLI::ValidationError);
    CHECK_THROWS_AS(parse({"--listen", "nowhere"}), CLI::ValidationError);
    CHECK_THROWS_AS(parse({"--key", "secret"}), CLI::ExtrasError);  // no key on argv
  }
}

TEST_CASE("--help shows every flag and the examples", "[gateway]") {
  gw::Config config;
  CLI::App app{"coordkit-gateway"};
  gw::setup_cli(app, config);
  const std::string help = app.help();
  for (const char* flag : {"--listen", "--data-dir", "--runtime-dir", "--key-file", "--synchronous",
                           "--threads", "--log-level", "--config"}) {
    CAPTURE(flag);
    CHECK(help.find(flag) != std::string::npos);
  }
  CHECK(help.find("Examples:") != std::string::npos);
  CHECK(help.find("Exit codes:") != std::string::npos);
}
