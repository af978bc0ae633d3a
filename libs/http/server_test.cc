// The server over real sockets: Beast's client and curl, TCP and the Unix
// socket, each status with its body and headers; parameter errors and 401s
// enumerated from the route table.
#include "coordkit/http/server.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <string>
#include <vector>

#include "coordkit/http/internal/test_api.h"
#include "coordkit/http/internal/test_client.h"

namespace http = coordkit::http;
namespace t = coordkit::http::testing;
using Json = nlohmann::json;
namespace bh = boost::beast::http;

namespace {

std::vector<std::pair<std::string, std::string>> bearer() {
  return {{"Authorization", std::string("Bearer ") + t::kToken}};
}

void check_error(const http::BeastResponse& r, unsigned status, const std::string& code) {
  CHECK(r.result_int() == status);
  CHECK(r[bh::field::content_type] == "application/json");
  const Json b = Json::parse(r.body());
  CHECK(b["error"]["code"] == code);
  CHECK(b["error"]["message"].is_string());
  CHECK(b["error"]["request_id"] == std::string(r["X-Request-Id"]));
  CHECK(r[bh::field::content_length] == std::to_string(r.body().size()));
}

}  // namespace

TEST_CASE("Server answers each status with its body and headers (Beast client, TCP)",
          "[http][server]") {
  t::TestServer s;
  t::TcpClient c(s.port());
  SECTION("2xx and 3xx on one kept-alive connection") {
    auto put = c.request(t::make_request("PUT", "/v1/collections/notes/records/r1",
                                         R"({"data":{"v":1}})", bearer()));
    CHECK(put.result_int() == 201);
    CHECK(put[bh::field::etag] == "\"1\"");
    CHECK(put.keep_alive());
    auto again = c.request(t::make_request(
        "PUT", "/v1/collections/notes/records/r1", R"({"data":{"v":2}})",
        {{"Authorization", std::string("Bearer ") + t::kToken}, {"If-Match", "\"1\""}}));
    CHECK(again.result_int() == 200);
    CHECK(Json::parse(again.body())["version"] == 2);
    auto cached = c.request(t::make_request(
        "GET", "/v1/collections/notes/records/r1", "",
        {{"Authorization", std::string("Bearer ") + t::kToken}, {"If-None-Match", "\"2\""}}));
    CHECK(cached.result_int() == 304);
    auto del =
        c.request(t::make_request("DELETE", "/v1/collections/notes/records/r1", "", bearer()));
    CHECK(del.result_int() == 204);
    CHECK(del.body().empty());
    auto metrics = c.request(t::make_request("GET", "/metrics"));
    CHECK(metrics.result_int() == 200);
    CHECK(metrics[bh::field::content_type] == "text/plain; version=0.0.4");
    CHECK(metrics.body().find("example_collections ") != std::string::npos);
  }
  SECTION("4xx and 5xx") {
    check_error(c.request(t::make_request("GET", "/v1/demo/echo?n=abc")), 400, "invalid_parameter");
    check_error(c.request(t::make_request("GET", "/v1/collections/notes/records")), 401,
                "unauthorized");
    check_error(
        c.request(t::make_request("GET", "/v1/collections/notes/records/none", "", bearer())), 404,
        "not_found");
    auto m = c.request(t::make_request("PATCH", "/v1/health"));
    check_error(m, 405, "method_not_allowed");
    CHECK(m[bh::field::allow] == "GET");
    check_error(
        c.request(t::make_request(
            "PUT", "/v1/collections/notes/records/x", R"({"data":{}})",
            {{"Authorization", std::string("Bearer ") + t::kToken}, {"If-Match", "\"9\""}})),
        412, "precondition_failed");
    check_error(c.request(t::make_request("PUT", "/v1/collections/notes/records/x", "data=1",
                                          {{"Authorization", std::string("Bearer ") + t::kToken},
                                           {"Content-Type", "application/x-www-form-urlencoded"}})),
                415, "unsupported_media_type");
    auto v = c.request(t::make_request("PUT", "/v1/collections/notes/records/x",
                                       R"({"data":{},"tags":[1]})", bearer()));
    check_error(v, 422, "schema_violation");
    CHECK(Json::parse(v.body())["error"]["pointer"] == "/tags/0");
    CHECK(Json::parse(v.body())["error"]["rule"] == "type");
    check_error(c.request(t::make_request("GET", "/test/throws")), 500, "internal");
    // The connection survived every error above.
    CHECK(c.request(t::make_request("GET", "/v1/health")).result_int() == 200);
  }
}

TEST_CASE("Server answers 413 and 431 and closes", "[http][server]") {
  http::ServerOptions o;
  o.header_limit = 2048;
  o.body_limit = 1024;
  t::TestServer s(o);
  {
    t::TcpClient c(s.port());
    auto r =
        c.request(t::make_request("PUT", "/v1/collections/notes/records/x",
                                  R"({"data":{"x":")" + std::string(2000, 'a') + "\"}}", bearer()));
    check_error(r, 413, "payload_too_large");
    CHECK_FALSE(r.keep_alive());
  }
  {
    t::TcpClient c(s.port());
    auto r =
        c.request(t::make_request("GET", "/v1/health", "", {{"X-Big", std::string(4096, 'h')}}));
    check_error(r, 431, "headers_too_large");
    CHECK_FALSE(r.keep_alive());
  }
}

TEST_CASE("Server serves the Unix socket 0600 and admits its own user by uid", "[http][server]") {
  t::TestServer s({}, "uid.sock");
  struct stat st {};
  REQUIRE(::stat(s.server->unix_path().c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  t::UnixClient c(s.server->unix_path());
  auto who = c.request(t::make_request("GET", "/v1/admin/whoami"));
  REQUIRE(who.result_int() == 200);
  CHECK(Json::parse(who.body())["principal"] == "uid:" + std::to_string(::geteuid()));
  // Over TCP the same route needs the token.
  t::TcpClient tcp(s.port());
  check_error(tcp.request(t::make_request("GET", "/v1/admin/whoami")), 401, "unauthorized");
  // Bearer-only routes need the token on the Unix socket too.
  check_error(c.request(t::make_request("GET", "/v1/collections/notes/records")), 401,
              "unauthorized");
  auto curl = t::curl({"--unix-socket", s.server->unix_path(), "http://local/v1/admin/whoami"});
  CHECK(curl.exit_code == 0);
  CHECK(curl.status == 200);
  CHECK(Json::parse(curl.body)["principal"] == "uid:" + std::to_string(::geteuid()));
}

TEST_CASE("Server answers curl with the same statuses and headers", "[http][server]") {
  t::TestServer s;
  auto ok = t::curl({s.url("/v1/demo/echo?n=5&color=blue")});
  REQUIRE(ok.exit_code == 0);
  CHECK(ok.status == 200);
  CHECK(ok.header("Content-Type") == "application/json");
  CHECK(Json::parse(ok.body)["color"] == "blue");
  CHECK(ok.header("X-Request-Id").size() == 16);
  auto put = t::curl({"-X", "PUT", "-H", std::string("Authorization: Bearer ") + t::kToken, "-H",
                      "Content-Type: application/json", "--data", R"({"data":{"k":"v"}})",
                      s.url("/v1/collections/notes/records/c1")});
  CHECK(put.status == 201);
  CHECK(put.header("ETag") == "\"1\"");
  auto unauth = t::curl({s.url("/v1/collections/notes/records")});
  CHECK(unauth.status == 401);
  CHECK(unauth.header("WWW-Authenticate") == "Bearer");
  CHECK(Json::parse(unauth.body)["error"]["code"] == "unauthorized");
  auto bad = t::curl({"-X", "PUT", "-H", std::string("Authorization: Bearer ") + t::kToken, "-H",
                      "Content-Type: application/json", "--data", "{nope",
                      s.url("/v1/collections/notes/records/c1")});
  CHECK(bad.status == 400);
  CHECK(Json::parse(bad.body)["error"]["code"] == "invalid_json");
  auto nf = t::curl({s.url("/missing")});
  CHECK(nf.status == 404);
  auto doc = t::curl({s.url("/openapi.json")});
  CHECK(doc.status == 200);
  CHECK(Json::parse(doc.body) == s.router.openapi());
}

TEST_CASE("Server answers a missing and a malformed case of every declared parameter",
          "[http][server]") {
  t::TestServer s;
  t::TcpClient c(s.port());
  t::UnixClient u(s.server->unix_path());
  std::size_t params = 0;
  for (const auto& route : s.router.routes()) {
    for (const auto& p : route.params()) {
      ++params;
      CAPTURE(route.path(), http::method_name(route.method()), p.name());
      // Missing.
      auto missing = t::to_beast(t::generate(route, &p, t::Override::kMissing));
      auto r = c.request(missing);
      if (p.in() == http::In::kPath) {
        CHECK(r.result_int() == 404);
      } else if (p.is_required()) {
        check_error(r, 400, "missing_parameter");
        CHECK(Json::parse(r.body())["error"]["parameter"] == p.name());
      } else {
        CHECK(r.result_int() != 400);
        CHECK(r.result_int() < 500);
      }
      // Malformed, over TCP and over the Unix socket.
      auto malformed = t::to_beast(t::generate(route, &p, t::Override::kMalformed));
      for (const auto& m : {c.request(malformed), u.request(malformed)}) {
        check_error(m, 400, "invalid_parameter");
        CHECK(Json::parse(m.body())["error"]["parameter"] == p.name());
      }
    }
  }
  CHECK(params >= 15);
}

TEST_CASE("Server answers 401 without and with a wrong token on every route that needs auth",
          "[http][server]") {
  t::TestServer s;
  t::TcpClient c(s.port());
  std::size_t auth_routes = 0;
  for (const auto& route : s.router.routes()) {
    if (route.auth_requirement() == http::Auth::kNone) continue;
    ++auth_routes;
    CAPTURE(route.path(), http::method_name(route.method()));
    auto g = t::generate(route, nullptr, t::Override::kNone, /*with_token=*/false);
    for (const char* header : {"", "Bearer wrong-token", "Bearer ", "Basic dGVzdA==",
                               "Bearer test-token-012345678", "Bearer test-token-01234567890"}) {
      CAPTURE(header);
      auto req = t::to_beast(g);
      if (*header != '\0') req.set(bh::field::authorization, header);
      auto r = c.request(req);
      check_error(r, 401, "unauthorized");
      CHECK(r[bh::field::www_authenticate] == "Bearer");
    }
    // And the right token gets past auth.
    auto good = t::to_beast(t::generate(route));
    CHECK(c.request(good).result_int() != 401);
  }
  CHECK(auth_routes >= 6);
}

TEST_CASE("Server sends through Beast the answers only Beast's rules settle", "[http][server]") {
  http::Router router(http::ApiInfo{.title = "test", .version = "1.0.0"});
  router.tag("t", "Test routes");
  // Response validation would answer the 204 with a body as a 500 before it
  // reached the server; off here, it shows what the server itself does with
  // an answer Beast refuses to write.
  router.set_validate_responses(false);
  // A handler's own framing and Connection headers: Beast frames the body
  // by its length and keeps the connection as the client asked.
  router.add(http::Route(http::Method::kGet, "/framed")
                 .summary("Framing headers of its own")
                 .operation_id("framed")
                 .tag("t")
                 .response_text(200, "Text", "text/plain")
                 .handle([](http::Request&) {
                   return http::Response::text(200, "text/plain", "own framing")
                       .header("Transfer-Encoding", "chunked")
                       .header("Connection", "close");
                 }));
  router.add(http::Route(http::Method::kGet, "/bad")
                 .summary("A body on a 204")
                 .operation_id("bad")
                 .tag("t")
                 .response_empty(204, "Nothing")
                 .handle([](http::Request&) {
                   return http::Response::text(204, "text/plain", "not allowed here");
                 }));
  router.use(router.map_errors());
  http::Server server(router, {.listen = {"127.0.0.1:0"}});
  server.start();
  t::TcpClient c(server.tcp_port());
  auto framed = c.request(t::make_request("GET", "/framed"));
  CHECK(framed.result_int() == 200);
  CHECK(framed.body() == "own framing");
  CHECK_FALSE(framed.chunked());
  CHECK(framed[bh::field::content_length] == "11");
  CHECK(framed.keep_alive());
  CHECK(framed.find(bh::field::connection) == framed.end());
  check_error(c.request(t::make_request("GET", "/bad")), 500, "internal");
  // The connection still serves.
  CHECK(c.request(t::make_request("GET", "/framed")).body() == "own framing");
  server.stop();
}

TEST_CASE("Server never sends a header a handler copied a line break into", "[http][server]") {
  http::Router router(http::ApiInfo{.title = "test", .version = "1.0.0"});
  router.tag("t", "Test routes");
  router.add(http::Route(http::Method::kGet, "/echo")
                 .summary("Echoes v in a header")
                 .operation_id("echo")
                 .tag("t")
                 .param(http::Param::query("v").max_length(80).required().describe("Echoed"))
                 .response_text(200, "Text", "text/plain")
                 .response_header(200, "X-Echo", "v as sent")
                 .handle([](http::Request& req) {
                   return http::Response::text(200, "text/plain", "echoed")
                       .header("X-Echo", req.param<std::string>("v"));
                 }));
  router.use(router.map_errors());
  http::Server server(router, {.listen = {"127.0.0.1:0"}});
  server.start();
  const std::string base = "http://127.0.0.1:" + std::to_string(server.tcp_port()) + "/echo?v=";
  auto split = t::curl({base + "a%0D%0ASet-Cookie:%20session=stolen"});
  REQUIRE(split.exit_code == 0);
  CHECK(split.status == 500);
  CHECK(Json::parse(split.body)["error"]["code"] == "response_invalid");
  CHECK(split.header("X-Echo").empty());
  CHECK(split.header("Set-Cookie").empty());
  CHECK(split.headers.find("stolen") == std::string::npos);
  auto plain = t::curl({base + "hello"});
  CHECK(plain.status == 200);
  CHECK(plain.header("X-Echo") == "hello");
  server.stop();
}
