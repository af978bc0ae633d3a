#include "coordkit/http/router.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <cstdint>
#include <limits>
#include <memory>
#include <regex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "coordkit/http/internal/example_api.h"
#include "coordkit/http/wrappers.h"

namespace http = coordkit::http;
using Json = nlohmann::json;

namespace {

constexpr const char* kToken = "s3cret-token";

http::BeastRequest make(std::string_view method, std::string_view target, std::string body = "",
                        const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  http::BeastRequest req;
  req.method_string(boost::beast::string_view(method.data(), method.size()));
  req.target(boost::beast::string_view(target.data(), target.size()));
  req.version(11);
  for (auto& [k, v] : headers) req.set(k, v);
  if (!body.empty()) req.set(boost::beast::http::field::content_type, "application/json");
  req.body() = std::move(body);
  req.prepare_payload();
  return req;
}

// ok_route: a GET at `path`, tagged "t", whose 200 is {"ok": boolean} and
// nothing more; the caller adds the rest and its handler.
http::Route ok_route(const char* path, const char* id) {
  return http::Route(http::Method::kGet, path)
      .summary(id)
      .operation_id(id)
      .tag("t")
      .response(200, "ok",
                http::Schema::object({{"ok", http::Schema::boolean()}}, {"ok"})
                    .additional_properties(false));
}

std::vector<std::pair<std::string, std::string>> bearer() {
  return {{"Authorization", std::string("Bearer ") + kToken}};
}

struct Api {
  http::internal::ExampleStore store;
  http::Router router{http::ApiInfo{.title = "test", .version = "1.0.0"}};
  Api() {
    http::internal::add_example_routes(router, store);
    http::internal::use_example_wrappers(router, coordkit::log::Logger(), kToken);
  }
  http::BeastResponse call(std::string_view method, std::string_view target, std::string body = "",
                           const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    auto req = make(method, target, std::move(body), headers);
    return router.handle(req, {});
  }
};

Json body_of(const http::BeastResponse& r) { return Json::parse(r.body()); }

}  // namespace

TEST_CASE("Router dispatches a declared route with typed parameters", "[http][router]") {
  Api api;
  auto r =
      api.call("GET", "/v1/demo/echo?n=7&flag=true&word=h%C3%A9llo+x", "", {{"X-Trace", "t1"}});
  REQUIRE(r.result_int() == 200);
  CHECK(r[boost::beast::http::field::content_type] == "application/json");
  CHECK(body_of(r) == Json{{"n", 7},
                           {"ratio", 0.5},
                           {"flag", true},
                           {"color", "red"},
                           {"word", "h\xC3\xA9llo x"},
                           {"trace", "t1"}});
  CHECK(r["X-Request-Id"].size() == 16);
  // app;dur=<milliseconds with three decimals>
  const std::string timing(r["Server-Timing"]);
  INFO("Server-Timing: " << timing);
  CHECK(std::regex_match(timing, std::regex("app;dur=(0|[1-9][0-9]*)\\.[0-9]{3}")));
}

TEST_CASE("Router decodes escaped and plain targets alike", "[http][router]") {
  Api api;
  // A literal segment and a query value, each escaped or not.
  for (const char* target : {"/v1/demo/echo?n=7&word=ab", "/v1/d%65mo/echo?n=%37&word=a%62",
                             "/v1/demo/echo?%6E=7&word=ab"}) {
    INFO(target);
    auto r = api.call("GET", target);
    REQUIRE(r.result_int() == 200);
    CHECK(body_of(r)["n"] == 7);
    CHECK(body_of(r)["word"] == "ab");
  }
  // '+' is a space only in the query.
  CHECK(body_of(api.call("GET", "/v1/demo/echo?n=1&word=a+b"))["word"] == "a b");
  // A path value written escaped is the same record as written plain.
  REQUIRE(api.call("PUT", "/v1/collections/notes/records/a%31", R"({"data":{"x":1}})", bearer())
              .result_int() == 201);
  auto get = api.call("GET", "/v1/collections/notes/records/a1", "", bearer());
  REQUIRE(get.result_int() == 200);
  CHECK(body_of(get)["id"] == "a1");
  // An escaped query key is still checked against the table.
  auto unknown = api.call("GET", "/v1/demo/echo?n=1&w%6Frds=x");
  CHECK(unknown.result_int() == 400);
  CHECK(body_of(unknown)["error"]["message"] == "unknown query parameter 'words'");
}

TEST_CASE("Router answers the uniform error body for each refusal", "[http][router]") {
  Api api;
  struct Case {
    std::string method, target, body;
    bool auth;
    unsigned status;
    std::string code;
    std::string parameter;
  };
  auto c = GENERATE(values<Case>({
      {"GET", "/nope", "", false, 404, "not_found", ""},
      {"GET", "/v1/health/", "", false, 404, "not_found", ""},
      {"POST", "/v1/health", "", false, 405, "method_not_allowed", ""},
      {"BREW", "/v1/health", "", false, 405, "method_not_allowed", ""},
      {"GET", "http://x/v1/health", "", false, 400, "bad_request", ""},
      {"GET", "/v1/demo/echo", "", false, 400, "missing_parameter", "n"},
      {"GET", "/v1/demo/echo?n=x", "", false, 400, "invalid_parameter", "n"},
      {"GET", "/v1/demo/echo?n=1001", "", false, 400, "invalid_parameter", "n"},
      {"GET", "/v1/demo/echo?n=1&n=2", "", false, 400, "invalid_parameter", "n"},
      {"GET", "/v1/demo/echo?n=1&bogus=2", "", false, 400, "invalid_parameter", "bogus"},
      {"GET", "/v1/demo/echo?n=1&color=pink", "", false, 400, "invalid_parameter", "color"},
      {"GET", "/v1/health", "{}", false, 400, "bad_request", ""},
      {"GET", "/v1/collections/notes/records", "", false, 401, "unauthorized", ""},
      {"GET", "/v1/collections/Notes/records", "", true, 400, "invalid_parameter", "collection"},
      {"PUT", "/v1/collections/notes/records/a", "", true, 400, "invalid_json", ""},
      {"PUT", "/v1/collections/notes/records/a", "{x", true, 400, "invalid_json", ""},
      {"PUT", "/v1/collections/notes/records/a", "{\"data\":1}", true, 422, "schema_violation", ""},
      {"GET", "/v1/collections/notes/records/a", "", true, 404, "not_found", ""},
  }));
  CAPTURE(c.method, c.target, c.body);
  auto r = api.call(c.method, c.target, c.body, c.auth ? bearer() : decltype(bearer()){});
  CHECK(r.result_int() == c.status);
  CHECK(r[boost::beast::http::field::content_type] == "application/json");
  const Json b = body_of(r);
  CHECK(b["error"]["code"] == c.code);
  CHECK(b["error"]["request_id"] == std::string(r["X-Request-Id"]));
  if (!c.parameter.empty()) CHECK(b["error"]["parameter"] == c.parameter);
  if (c.status == 405) CHECK_FALSE(r[boost::beast::http::field::allow].empty());
  if (c.status == 401) CHECK(r[boost::beast::http::field::www_authenticate] == "Bearer");
  if (c.status == 422) {
    CHECK(b["error"]["pointer"] == "/data");
    CHECK(b["error"]["rule"] == "type");
  }
}

TEST_CASE("Router's 405 lists every method of the path in Allow", "[http][router]") {
  Api api;
  auto r = api.call("POST", "/v1/collections/notes/records/a");
  CHECK(r.result_int() == 405);
  CHECK(r[boost::beast::http::field::allow] == "GET, PUT, DELETE");
}

TEST_CASE("Router serves the records API with ETag and If-Match", "[http][router]") {
  Api api;
  auto put = api.call("PUT", "/v1/collections/notes/records/a1", R"({"data":{"x":1}})", bearer());
  REQUIRE(put.result_int() == 201);
  CHECK(put[boost::beast::http::field::etag] == "\"1\"");
  auto again =
      api.call("PUT", "/v1/collections/notes/records/a1", R"({"data":{"x":2}})",
               {{"Authorization", std::string("Bearer ") + kToken}, {"If-Match", "\"7\""}});
  CHECK(again.result_int() == 412);
  CHECK(body_of(again)["error"]["code"] == "precondition_failed");
  auto get =
      api.call("GET", "/v1/collections/notes/records/a1", "",
               {{"Authorization", std::string("Bearer ") + kToken}, {"If-None-Match", "\"1\""}});
  CHECK(get.result_int() == 304);
  CHECK(get.body().empty());
  auto list = api.call("GET", "/v1/collections/notes/records?limit=1", "", bearer());
  REQUIRE(list.result_int() == 200);
  CHECK(body_of(list)["records"].size() == 1);
  auto metrics = api.call("GET", "/metrics");
  CHECK(metrics.result_int() == 200);
  CHECK(metrics[boost::beast::http::field::content_type] == "text/plain; version=0.0.4");
  auto del = api.call("DELETE", "/v1/collections/notes/records/a1", "", bearer());
  CHECK(del.result_int() == 204);
}

TEST_CASE("Router admits a local user by uid on kBearerOrLocalUser routes", "[http][router]") {
  Api api;
  auto req = make("GET", "/v1/admin/whoami");
  http::Peer unix_peer{http::Peer::Transport::kUnix, ::geteuid(), "sock"};
  auto ok = api.router.handle(req, unix_peer);
  REQUIRE(ok.result_int() == 200);
  CHECK(body_of(ok)["principal"] == "uid:" + std::to_string(::geteuid()));
  http::Peer stranger{http::Peer::Transport::kUnix, ::geteuid() + 1, "sock"};
  CHECK(api.router.handle(req, stranger).result_int() == 401);
  http::Peer tcp{http::Peer::Transport::kTcp, std::nullopt, "127.0.0.1:1"};
  CHECK(api.router.handle(req, tcp).result_int() == 401);
}

TEST_CASE("Router turns handler failures into 500 with a request id", "[http][router]") {
  http::Router router;
  router.tag("t", "tests");
  router.use(router.map_errors());
  auto route = [&](const char* path, const char* id, http::Handler h) {
    router.add(ok_route(path, id).handle(std::move(h)));
  };
  route("/throws", "throws",
        [](http::Request&) -> http::Response { throw std::runtime_error("boom"); });
  route("/throws-int", "throwsInt", [](http::Request&) -> http::Response { throw 42; });
  route("/undeclared-field", "undeclaredField", [](http::Request&) {
    return http::Response::json(200, {{"ok", true}, {"extra", 1}});
  });
  route("/undeclared-status", "undeclaredStatus", [](http::Request&) {
    return http::Response::json(202, {{"ok", true}});
  });
  route("/wrong-type", "wrongType",
        [](http::Request&) { return http::Response::text(200, "text/plain", "ok"); });
  route("/other-lib", "otherLib", [](http::Request&) -> http::Response {
    throw coordkit::Error("db", "busy", "database is locked");
  });
  auto path =
      GENERATE("/throws", "/throws-int", "/undeclared-field", "/undeclared-status", "/wrong-type");
  CAPTURE(path);
  auto req = make("GET", path);
  auto r = router.handle(req, {});
  CHECK(r.result_int() == 500);
  const Json b = Json::parse(r.body());
  CHECK(b["error"]["request_id"].get<std::string>().size() == 16);
  CHECK(b["error"]["code"] ==
        (std::string(path).rfind("/throws", 0) == 0 ? "internal" : "response_invalid"));
}

TEST_CASE("Router checks a PreparedJson body like any other, and sends its text",
          "[http][router]") {
  http::Router router;
  router.tag("t", "tests");
  router.use(router.map_errors());
  const auto good = std::make_shared<const http::PreparedJson>(Json{{"ok", true}});
  const auto bad = std::make_shared<const http::PreparedJson>(Json{{"ok", true}, {"extra", 1}});
  auto route = [&](const char* path, const char* id, http::Handler h) {
    router.add(ok_route(path, id).error(404, "none").handle(std::move(h)));
  };
  route("/good", "good", [&](http::Request&) { return http::Response::prepared_json(200, good); });
  route("/bad", "bad", [&](http::Request&) { return http::Response::prepared_json(200, bad); });
  // The same body that passed /good's 200 breaks an error status's schema.
  route("/good-as-error", "goodAsError",
        [&](http::Request&) { return http::Response::prepared_json(404, good); });
  CHECK(good->text() == good->value().dump());
  // Twice each: what passed once passes again, what failed fails again.
  for (int i = 0; i < 2; ++i) {
    auto ok_req = make("GET", "/good");
    auto ok = router.handle(ok_req, {});
    CHECK(ok.result_int() == 200);
    CHECK(ok.body() == R"({"ok":true})");
    CHECK(ok[boost::beast::http::field::content_type] == "application/json");
    for (const char* path : {"/bad", "/good-as-error"}) {
      CAPTURE(path, i);
      auto req = make("GET", path);
      auto r = router.handle(req, {});
      CHECK(r.result_int() == 500);
      CHECK(Json::parse(r.body())["error"]["code"] == "response_invalid");
    }
  }
  CHECK(router.response_violations() == 4);
}

TEST_CASE("Router maps another library's error through the ErrorMap", "[http][router]") {
  http::Router router;
  router.tag("t", "tests");
  router.set_error_map(http::ErrorMap().add("db", "busy", 503, 2));
  router.add(http::Route(http::Method::kGet, "/x")
                 .summary("x")
                 .operation_id("x")
                 .tag("t")
                 .response_empty(204, "ok")
                 .handle([](http::Request&) -> http::Response {
                   throw coordkit::Error("db", "busy", "locked");
                 }));
  auto req = make("GET", "/x");
  auto r = router.handle(req, {});
  CHECK(r.result_int() == 503);
  CHECK(r[boost::beast::http::field::retry_after] == "2");
  CHECK(Json::parse(r.body())["error"]["code"] == "busy");
}

TEST_CASE("Router refuses inconsistent route declarations", "[http][router]") {
  http::Router router;
  router.tag("t", "tests");
  auto ok = [] {
    return http::Route(http::Method::kGet, "/a/{id}")
        .summary("s")
        .operation_id("op")
        .tag("t")
        .param(http::Param::path("id").max_length(8))
        .response_empty(204, "ok")
        .handle([](http::Request&) { return http::Response::empty(); });
  };
  using Make = http::Route (*)();
  auto bad = GENERATE(Make([] {
                        return http::Route(http::Method::kGet, "/a/{id}")
                            .summary("s")
                            .operation_id("op")
                            .tag("t")
                            .response_empty(204, "ok")
                            .handle([](http::Request&) { return http::Response::empty(); });
                      }),
                      Make([] {
                        return http::Route(http::Method::kGet, "/a/{id}")
                            .summary("s")
                            .operation_id("op")
                            .tag("t")
                            .param(http::Param::path("id"))
                            .response_empty(204, "ok")
                            .handle([](http::Request&) { return http::Response::empty(); });
                      }),
                      Make([] {
                        return http::Route(http::Method::kGet, "/a/{id}")
                            .summary("s")
                            .operation_id("op")
                            .tag("nope")
                            .param(http::Param::path("id").max_length(8))
                            .response_empty(204, "ok")
                            .handle([](http::Request&) { return http::Response::empty(); });
                      }),
                      Make([] {
                        return http::Route(http::Method::kGet, "/a/{id}")
                            .summary("s")
                            .operation_id("op")
                            .tag("t")
                            .param(http::Param::path("id").max_length(8))
                            .error(404, "x")
                            .handle([](http::Request&) { return http::Response::empty(); });
                      }),
                      Make([] {
                        return http::Route(http::Method::kGet, "/a/{id}")
                            .summary("s")
                            .operation_id("op")
                            .tag("t")
                            .param(http::Param::path("id").max_length(8))
                            .param(http::Param::query("n").integer().maximum(3).default_value(9))
                            .response_empty(204, "ok")
                            .handle([](http::Request&) { return http::Response::empty(); });
                      }),
                      Make([] {
                        return http::Route(http::Method::kGet, "/a/{id}")
                            .summary("s")
                            .operation_id("op")
                            .tag("t")
                            .param(http::Param::path("id").max_length(8))
                            .param(http::Param::header("Authorization").max_length(8))
                            .response_empty(204, "ok")
                            .handle([](http::Request&) { return http::Response::empty(); });
                      }));
  try {
    router.add(bad());
    FAIL("accepted");
  } catch (const http::Error& e) {
    CHECK(e.code() == http::ErrorCode::kInvalidRoute);
  }
  router.add(ok());
  try {
    router.add(ok());
    FAIL("accepted twice");
  } catch (const http::Error& e) {
    CHECK(e.code() == http::ErrorCode::kInvalidRoute);
  }
}

TEST_CASE("Router's auth routes fail closed without an auth wrapper", "[http][router]") {
  http::internal::ExampleStore store;
  http::Router router;
  http::internal::add_example_routes(router, store);
  router.use(router.map_errors());
  auto r = router.handle(make("GET", "/v1/collections/notes/records", "", bearer()), {});
  CHECK(r.result_int() == 401);
}

TEST_CASE("Router keeps a client's X-Request-Id when it is well formed", "[http][router]") {
  Api api;
  auto r = api.call("GET", "/nope", "", {{"X-Request-Id", "abc-123"}});
  CHECK(r["X-Request-Id"] == "abc-123");
  CHECK(body_of(r)["error"]["request_id"] == "abc-123");
  auto bad = api.call("GET", "/nope", "", {{"X-Request-Id", "a b"}});
  CHECK(bad["X-Request-Id"] != "a b");
}

TEST_CASE("Router answers 500 for a response header that would split the answer",
          "[http][router]") {
  http::Router router;
  router.tag("t", "tests");
  router.use(router.map_errors());
  auto route = [&](const char* path, const char* id, http::Handler h) {
    router.add(ok_route(path, id)
                   .param(http::Param::query("v").max_length(80).describe("Echoed"))
                   .handle(std::move(h)));
  };
  auto ok = [] { return http::Response::json(200, {{"ok", true}}); };
  // Through header(), which refuses at once ...
  route("/echo", "echo",
        [&](http::Request& req) { return ok().header("X-Echo", req.param<std::string>("v")); });
  route("/named", "named",
        [&](http::Request& req) { return ok().header(req.param<std::string>("v"), "1"); });
  // ... and around it, which the router refuses before anything is sent.
  route("/pushed", "pushed", [&](http::Request& req) {
    auto r = ok();
    r.headers.emplace_back("X-Echo", req.param<std::string>("v"));
    return r;
  });
  route("/typed", "typed", [&](http::Request& req) {
    auto r = ok();
    r.content_type = "application/json; v=" + req.param<std::string>("v");
    return r;
  });
  const std::string injected = "a%0D%0ASet-Cookie:%20session=stolen";
  for (const std::string& target :
       std::vector<std::string>{"/echo?v=" + injected, "/echo?v=a%0Ab", "/echo?v=a%00b",
                                "/echo?v=a%7Fb", "/named?v=Bad%20Name", "/named?v=X-A%0D%0AX-B",
                                "/named?v=", "/pushed?v=" + injected, "/typed?v=" + injected}) {
    CAPTURE(target);
    auto req = make("GET", target);
    auto r = router.handle(req, {});
    CHECK(r.result_int() == 500);
    CHECK(Json::parse(r.body())["error"]["code"] == "response_invalid");
    CHECK(r.find("X-Echo") == r.end());
    CHECK(r.find("Set-Cookie") == r.end());
    std::string bytes;
    REQUIRE_FALSE(http::Router::serialize(r, bytes));
    CHECK(bytes.find("stolen") == std::string::npos);
  }
  // A tab and bytes above ASCII are field content, sent as they are.
  auto req = make("GET", "/echo?v=caf%C3%A9%09ok");
  auto r = router.handle(req, {});
  CHECK(r.result_int() == 200);
  CHECK(r["X-Echo"] == "caf\xC3\xA9\tok");
}

TEST_CASE("Response::serialize writes the bytes nlohmann's compact dump writes", "[http][router]") {
  const Json value = GENERATE(values<Json>({
      Json::object(),
      Json::array(),
      nullptr,
      true,
      Json{{"ok", "abcdefg"}},
      Json{{"n", -42}, {"u", std::numeric_limits<std::uint64_t>::max()}, {"i", INT64_MIN}},
      Json{{"ratio", 0.1}, {"big", 1e300}, {"whole", 100.0}, {"neg", -2.5e-7}},
      Json{{"quote\"key", "a\"b"}, {"slash\\", "c\\d"}, {"ctl", "\x01\t\n"}},
      Json{{"utf8", "caf\xC3\xA9"}, {"bad", "x\xFFy"}, {"del", "\x7F"}},
      Json{{"nested", {{"list", {1, "two", nullptr, false, {{"deep", Json::array({})}}}}}}},
      Json::array({"/", " ", "~", ""}),
  }));
  const std::string expected = value.dump(-1, ' ', false, Json::error_handler_t::replace);
  CAPTURE(expected);
  http::Response r = http::Response::json(200, value);
  r.serialize();
  CHECK(r.body == expected);
  CHECK_FALSE(r.value.has_value());
}

namespace {

// beast_bytes: what Beast's serializer writes for to_beast(r, ...).
std::string beast_bytes(http::Response r, unsigned version, bool keep_alive,
                        const std::string& id) {
  std::string out;
  const boost::system::error_code ec =
      http::Router::serialize(http::Router::to_beast(std::move(r), version, keep_alive, id), out);
  REQUIRE_FALSE(ec);
  return out;
}

}  // namespace

TEST_CASE("Router::write_response writes the bytes Beast's serializer writes", "[http][router]") {
  const std::string id = "00000000000000ab";
  std::vector<http::Response> answers;
  answers.push_back(http::Response::text(200, "application/json", R"({"ok":"abcdefg"})"));
  answers.push_back(http::Response::text(201, "text/plain; charset=utf-8", "made"));
  answers.push_back(http::Response::empty(204));
  answers.push_back(http::Response::empty(304));
  answers.push_back(http::Response::text(404, "application/json", "{}"));
  answers.push_back(http::Response::text(418, "", ""));
  answers.push_back(http::Response::text(599, "application/json", std::string(70000, 'x')));
  answers.push_back(http::Response::text(299, "a/b", "unknown reason"));
  answers.push_back(http::Response::text(200, "application/json", "[]")
                        .header("Server-Timing", "app;dur=0.012")
                        .header("Retry-After", "1"));
  answers.push_back(http::Response::text(200, "application/json", "1")
                        .header("x-request-id", "client-chosen")
                        .header("X-Empty", ""));
  for (const auto& answer : answers) {
    for (unsigned version : {10U, 11U}) {
      for (bool keep_alive : {true, false}) {
        CAPTURE(answer.status, answer.headers.size(), version, keep_alive);
        std::string direct = "left alone|";
        REQUIRE(http::Router::write_response(answer, version, keep_alive, id, direct));
        CHECK(direct == "left alone|" + beast_bytes(answer, version, keep_alive, id));
      }
    }
  }
  // What only Beast's rules settle is left to it, and nothing is written.
  std::vector<http::Response> left;
  left.push_back(http::Response::text(200, "a/b", "x").header("Connection", "close"));
  left.push_back(http::Response::text(200, "a/b", "x").header("content-length", "1"));
  left.push_back(http::Response::text(200, "a/b", "x").header("Transfer-Encoding", "chunked"));
  left.push_back(http::Response::text(200, "a/b", "x").header("X-Padded", " value"));
  left.push_back(http::Response::text(200, "a/b ", "x"));
  left.push_back(http::Response::text(204, "a/b", "a body on a 204"));
  left.push_back(http::Response::text(101, "", "a body on a 101"));
  left.push_back(http::Response::text(1000, "a/b", "x"));
  for (const auto& answer : left) {
    CAPTURE(answer.status, answer.content_type);
    std::string out;
    CHECK_FALSE(http::Router::write_response(answer, 11, true, id, out));
    CHECK(out.empty());
  }
}

TEST_CASE("for_each_plain_param splits a query as Boost.URL's encoded params do",
          "[http][router]") {
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  for (const char* query : {"", "n=1", "a=1&b=2", "a", "a=", "=v", "&", "&&a=1&", "a=b=c", "a&b",
                            "k=v&k=w", "x=1;y=2", "a/b?c=d", "=", "==&=", "n=1&", "&n=1"}) {
    CAPTURE(query);
    const std::string target = std::string("/p?") + query;  // the view below points into it
    const auto url = boost::urls::parse_origin_form(target);
    REQUIRE(url);
    Pairs boost_pairs;
    for (auto q : url->encoded_params()) {
      boost_pairs.emplace_back(std::string(q.key.data(), q.key.size()),
                               std::string(q.value.data(), q.value.size()));
    }
    Pairs split;
    http::internal::for_each_plain_param(query, [&](std::string_view k, std::string_view v) {
      split.emplace_back(std::string(k), std::string(v));
    });
    CHECK(split == boost_pairs);
  }
}

TEST_CASE("split_target and split_plain_path read a target as Boost.URL does", "[http][router]") {
  for (const char* target :
       {"/",          "/a",     "/a/",      "//",     "//a",
        "/./a",       "/.",     "/..",      "/a/./b", "/./",
        "/.//a",      "/a//b",  "/.a",      "/..a/b", "/v1/collections/notes/records/r1",
        "/bench?n=1", "/?",     "/a?",      "/a??b",  "/a?b?c",
        "/a/?x=1&y",  "/a;b/c", "/a%2Fb/c", "/%41",   "/a/%7e?q=%20",
        "/.%2e/a",    "/./?q"}) {
    CAPTURE(target);
    const auto url = boost::urls::parse_origin_form(target);
    REQUIRE(url);
    const http::internal::TargetParts parts = http::internal::split_target(target);
    CHECK(parts.path == std::string_view(url->encoded_path().data(), url->encoded_path().size()));
    CHECK(parts.has_query == url->has_query());
    CHECK(parts.query ==
          std::string_view(url->encoded_query().data(), url->encoded_query().size()));
    std::vector<std::string_view> split;
    if (http::internal::split_plain_path(parts.path, split)) {
      std::vector<std::string_view> boost_segments;
      for (auto s : url->encoded_segments()) boost_segments.emplace_back(s.data(), s.size());
      CHECK(split == boost_segments);
    } else {
      CHECK(split.empty());
      // Only an escape or a leading "/./" is left to Boost.URL.
      CHECK((parts.path.find('%') != std::string_view::npos || parts.path.starts_with("/./")));
    }
  }
}
