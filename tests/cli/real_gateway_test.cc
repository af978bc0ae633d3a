// coordctl against the real coordkit-gateway: start returns once it is
// ready, a second start exits 6, the database commands work while it serves,
// stop stops it, status then exits 3.
#include <catch2/catch_test_macros.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "tests/cli/cli_test_support.h"

using namespace coordkit::cli_test;
using nlohmann::json;

TEST_CASE("coordctl starts, inspects and stops the real gateway", "[cli][gateway][e2e]") {
  World w("real-gateway");
  w.use_real_gateway();
  GatewayGuard guard(w);
  w.init();
  const std::vector<std::string> listen = {"--listen", "127.0.0.1:0"};
  const json started = w.start_gateway(listen);
  CHECK(started["state"] == "ready");
  const std::int64_t pid = started["pid"].get<std::int64_t>();

  Result r = w.run({"gateway", "status", "--json"});
  CHECK(r.code == 0);
  CHECK(json_line(r.out)["pid"] == pid);
  CHECK(json_line(r.out)["address"].get<std::string>().rfind("127.0.0.1:", 0) == 0);

  CHECK(w.run(w.start_args(listen)).code == 6);
  CHECK(w.run(w.with_key({"db", "put", "notes", "n1", R"({"a":1})"})).code == 0);
  CHECK(w.run(w.with_key({"db", "get", "notes", "n1"})).out == "{\"a\":1}\n");
  // The gateway's file sink flushes within a second: ask until the line is there.
  bool logged_ready = false;
  for (int i = 0; i < 50 && !logged_ready; ++i) {
    r = w.run({"gateway", "logs", "--lines", "50"});
    REQUIRE(r.code == 0);
    logged_ready = r.out.find("\"message\":\"ready\"") != std::string::npos;
    if (!logged_ready) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  CHECK(logged_ready);

  r = w.run({"gateway", "stop", "--json"});
  CHECK(r.code == 0);
  CHECK(json_line(r.out)["outcome"] == "stopped");
  CHECK(w.run({"gateway", "status"}).code == 3);
  CHECK(w.run(w.with_key({"db", "check", "--full"})).code == 0);
}
