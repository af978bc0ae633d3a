// coordctl db rekey both ways: with the gateway down it rekeys the file
// directly; with the real gateway running (over TCP and over its Unix
// socket) it goes through the gateway's admin rekey route, the gateway keeps
// serving with the new key and writes it into its own key file (the one
// `gateway start` gave it), and a coordctl still using the old key exits 4.
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/cli/cli_test_support.h"

using namespace coordkit::cli_test;
using nlohmann::json;

namespace {

// curl_status: the HTTP status of one curl request (`args` before the URL),
// its body into `body`.
int curl_status(std::vector<std::string> args, const std::string& url, std::string* body) {
  std::vector<std::string> all = {"-s", "-o", "-", "-w", "\n%{http_code}", "--max-time", "30"};
  all.insert(all.end(), args.begin(), args.end());
  all.push_back(url);
  coordkit::spawn::Child child = coordkit::spawn::spawn({.executable = "/usr/bin/curl",
                                                         .args = all,
                                                         .out = coordkit::spawn::Stdio::pipe(),
                                                         .err = coordkit::spawn::Stdio::pipe()});
  coordkit::spawn::Child::Output output = child.communicate({}, std::chrono::milliseconds(60000));
  child.wait();
  const auto nl = output.out.rfind('\n');
  if (nl == std::string::npos) return 0;
  if (body != nullptr) *body = output.out.substr(0, nl);
  return std::stoi(output.out.substr(nl + 1));
}

}  // namespace

TEST_CASE("db rekey with the gateway down rekeys the file directly", "[cli][rekey]") {
  World w("rekey-direct");
  w.init();
  REQUIRE(w.run(w.with_key({"db", "put", "notes", "n1", R"({"a":1})"})).code == 0);
  Result r =
      w.run(w.with_key({"db", "rekey", "--json", "--new-key-file", w.other_key_file.string()}));
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(json_line(r.out)["through_gateway"] == false);
  CHECK(w.run(w.with_key({"db", "get", "notes", "n1"})).code == 4);
  CHECK(w.run({"--key-file", w.other_key_file.string(), "db", "get", "notes", "n1"}).out ==
        "{\"a\":1}\n");
}

TEST_CASE("db rekey with the gateway up goes through its admin route", "[cli][rekey][e2e]") {
  const bool over_unix = GENERATE(false, true);
  World w(over_unix ? "rekey-gw-unix" : "rekey-gw-tcp");
  w.use_real_gateway();
  GatewayGuard guard(w);
  w.init();
  REQUIRE(w.run(w.with_key({"db", "put", "notes", "n1", R"({"a":1})"})).code == 0);

  // Under /tmp: a sandbox's scratch path can exceed sun_path's 108 bytes.
  const std::string sock = "/tmp/ckrk-" + std::to_string(::getpid()) + ".sock";
  struct Unlink {
    std::string path;
    ~Unlink() { ::unlink(path.c_str()); }
  } unlink_sock{sock};
  const std::vector<std::string> listen =
      over_unix ? std::vector<std::string>{"--listen", "unix:" + sock, "--listen", "127.0.0.1:0"}
                : std::vector<std::string>{"--listen", "127.0.0.1:0"};
  const std::string address = w.start_gateway(listen)["address"].get<std::string>();
  CHECK(address.rfind(over_unix ? "unix:" : "127.0.0.1:", 0) == 0);

  // The gateway's routes, by the address it published.
  const std::vector<std::string> via =
      over_unix ? std::vector<std::string>{"--unix-socket", sock} : std::vector<std::string>{};
  const std::string base = over_unix ? "http://localhost" : "http://" + address;

  // The old key kept aside: the gateway rewrites its key file, app.key.
  const fs::path old_key_file = w.dir / "old.key";
  write_file(old_key_file, std::string(kKeyHex) + "\n");
  Result r = w.run({"--key-file", old_key_file.string(), "db", "rekey", "--json", "--new-key-file",
                    w.other_key_file.string()});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(json_line(r.out)["through_gateway"] == true);
  CHECK(json_line(r.out)["gateway_key_file_updated"] == true);
  CHECK(json_line(r.out)["gateway_key_file"] == fs::absolute(w.key_file).string());
  CHECK(w.client().status().running());

  // A coordctl with the old key: the wrong-key exit code, and nothing written.
  Result old =
      w.run({"--key-file", old_key_file.string(), "db", "put", "notes", "old", R"({"old":true})"});
  CHECK(old.code == 4);
  CHECK(w.run({"--key-file", old_key_file.string(), "db", "get", "notes", "n1"}).code == 4);
  // The gateway's key file holds the new key now.
  CHECK(w.run(w.with_key({"db", "get", "notes", "n1"})).out == "{\"a\":1}\n");
  // With the new key everything is there and writable.
  const std::vector<std::string> new_key = {"--key-file", w.other_key_file.string()};
  auto with_new = [&](std::vector<std::string> args) {
    args.insert(args.begin(), new_key.begin(), new_key.end());
    return args;
  };
  CHECK(w.run(with_new({"db", "get", "notes", "n1"})).out == "{\"a\":1}\n");
  CHECK(w.run(with_new({"db", "put", "notes", "n2", R"({"b":2})"})).code == 0);
  CHECK(w.run(with_new({"db", "get", "notes", "old"})).code == 1);  // never written

  // The gateway still serves reads and writes, with the new key.
  std::string body;
  CHECK(curl_status(via, base + "/v1/collections/notes/records/n2", &body) == 200);
  CHECK(json::parse(body)["body"] == json{{"b", 2}});
  std::vector<std::string> put = via;
  put.insert(put.end(),
             {"-X", "PUT", "-H", "Content-Type: application/json", "--data", R"({"c":3})"});
  CHECK(curl_status(put, base + "/v1/collections/notes/records/n3", nullptr) == 201);
  CHECK(w.run(with_new({"db", "get", "notes", "n3"})).out == "{\"c\":3}\n");

  r = w.run({"gateway", "stop"});
  CHECK(r.code == 0);
  CHECK(w.run(with_new({"db", "check", "--full"})).code == 0);
}
