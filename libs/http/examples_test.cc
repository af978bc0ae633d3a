// The `// Example:` blocks of libs/http's public headers, compiled (with
// -Wall -Wextra -Werror) and run, so they cannot rot. Each test case sets up
// the names an example leaves to its reader (`some_db_error`, the places a
// server listens on and logs to), holds the example as the header shows it,
// then checks what it did. Two substitutions: a port of 0 (the system picks)
// for a fixed one, and paths under a scratch directory for fixed paths.
#include <catch2/catch_test_macros.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "coordkit/base/error.h"
#include "coordkit/http/http.h"
#include "coordkit/http/internal/test_api.h"
#include "coordkit/http/internal/test_client.h"
#include "coordkit/log/log.h"

namespace t = coordkit::http::testing;

namespace {

// DbError: an error of another coordkit library, as libs/db throws it.
class DbError : public coordkit::Error {
 public:
  explicit DbError(std::string_view code) : coordkit::Error("db", code, "database is busy") {}
};

// get: a request through the router alone, as the server would pass it.
coordkit::http::BeastResponse get(
    const coordkit::http::Router& router, const std::string& target,
    const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  return router.handle(t::make_request("GET", target, "", headers), coordkit::http::Peer{},
                       std::chrono::steady_clock::now() + std::chrono::seconds(5));
}

std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("the error.h example holds", "[http][examples]") {
  const DbError some_db_error("busy");
  try {
    // --- error.h
    throw coordkit::http::Error(coordkit::http::ErrorCode::kNotFound, "no record 'a1'");
    // ---
  } catch (const coordkit::http::Error& e) {
    CHECK(e.code() == coordkit::http::ErrorCode::kNotFound);
    CHECK(e.status() == 404);
  }
  // --- error.h
  coordkit::http::ErrorMap map;
  map.add("db", "busy", 503, /*retry_after_seconds=*/1);
  coordkit::http::ErrorReply reply = map.reply(some_db_error);  // 503, code "busy"
  // ---
  CHECK(reply.status == 503);
  CHECK(reply.code == "busy");
  REQUIRE(reply.headers.size() == 1);
  CHECK(reply.headers[0].first == "Retry-After");
  CHECK(reply.headers[0].second == "1");
  CHECK(map.reply(DbError("corrupt")).status == 500);  // not in the map
}

TEST_CASE("the schema.h example holds", "[http][examples]") {
  // --- schema.h
  using coordkit::http::Schema;
  Schema record = Schema::object({{"id", Schema::string().max_length(64)},
                                  {"version", Schema::integer().minimum(1)},
                                  {"data", Schema::any()}},
                                 {"id", "version"});
  auto v = record.validate(nlohmann::json{{"id", 7}, {"version", 1}});
  // v->pointer == "/id", v->rule == "type"
  // ---
  REQUIRE(v.has_value());
  CHECK(v->pointer == "/id");
  CHECK(v->rule == "type");
  CHECK_FALSE(record.validate(nlohmann::json{{"id", "a"}, {"version", 1}}).has_value());
}

TEST_CASE("the route.h example holds", "[http][examples]") {
  // --- route.h
  using namespace coordkit::http;
  Route get_record =
      Route(Method::kGet, "/v1/collections/{collection}/records/{id}")
          .summary("Read one record")
          .operation_id("getRecord")
          .tag("records")
          .auth(Auth::kBearer)
          .param(Param::path("collection").max_length(64).describe("Collection name"))
          .param(Param::path("id").max_length(128).describe("Record id"))
          .param(Param::header("If-None-Match").max_length(80).describe("A known ETag"))
          .response(200, "The record", Schema::object({{"id", Schema::string()}}, {"id"}))
          .response_header(200, "ETag", "The record's version")
          .error(404, "No such record")
          .handle([](Request& req) {
            return Response::json(200, {{"id", req.param<std::string>("id")}})
                .header("ETag", "\"1\"");
          });
  // ---
  Router router({.title = "records", .version = "1.0.0"});
  router.tag("records", "Records");
  router.set_validate_responses(true);
  router.add(std::move(get_record));
  router.use(router.map_errors());
  router.use(auth({.bearer_token = "secret"}));
  const BeastResponse ok =
      get(router, "/v1/collections/notes/records/a1", {{"Authorization", "Bearer secret"}});
  CHECK(ok.result_int() == 200);
  CHECK(nlohmann::json::parse(ok.body())["id"] == "a1");
  CHECK(ok[boost::beast::http::field::etag] == "\"1\"");
  CHECK(get(router, "/v1/collections/notes/records/a1").result_int() == 401);
  const nlohmann::json doc = router.openapi();
  CHECK(doc["paths"]["/v1/collections/{collection}/records/{id}"]["get"]["operationId"] ==
        "getRecord");
}

TEST_CASE("the router.h example holds", "[http][examples]") {
  // --- router.h
  coordkit::http::Router router({.title = "example", .version = "1.0.0"});
  router.tag("hello", "Greetings");
  router.add(coordkit::http::Route(coordkit::http::Method::kGet, "/hello")
                 .summary("Say hello")
                 .operation_id("hello")
                 .tag("hello")
                 .response(200, "A greeting",
                           coordkit::http::Schema::object(
                               {{"text", coordkit::http::Schema::string()}}, {"text"}))
                 .handle([](coordkit::http::Request&) {
                   return coordkit::http::Response::json(200, {{"text", "hi"}});
                 }));
  router.use(router.map_errors());
  nlohmann::json doc = router.openapi();
  // ---
  CHECK(doc["info"]["title"] == "example");
  CHECK(doc["paths"]["/hello"]["get"]["operationId"] == "hello");
  const coordkit::http::BeastResponse r = get(router, "/hello");
  CHECK(r.result_int() == 200);
  CHECK(nlohmann::json::parse(r.body())["text"] == "hi");
}

TEST_CASE("the server.h example holds", "[http][examples]") {
  // --- server.h (port 0 for 8080)
  coordkit::http::Router router({.title = "example", .version = "1.0.0"});
  // ... router.tag(), router.add(), router.use() ...
  coordkit::http::Server server(router, {.listen = {"127.0.0.1:0"}, .threads = 2});
  server.start();
  std::printf("listening on %u\n", server.tcp_port());
  // ... until asked to stop:
  // ---
  REQUIRE(server.tcp_port() != 0);
  t::TcpClient client(server.tcp_port());
  CHECK(client.request(t::make_request("GET", "/openapi.json")).result_int() == 200);
  // --- server.h
  coordkit::http::DrainResult d = server.drain(std::chrono::seconds(5));
  server.stop();
  // ---
  CHECK(d.cut == 0);
  CHECK(server.stats().open_connections == 0);
}

TEST_CASE("the http.h example holds", "[http][examples]") {
  // The example's fixed paths, made under a scratch directory (a socket
  // path must fit in 108 bytes, so under /tmp).
  const t::ShortDir dir;
  const std::string access_log_path = dir.path + "/access.log";
  const std::string socket_path = dir.path + "/notes.sock";
  // --- http.h, the body of main() (port 0 for 8080; the paths above)
  namespace http = coordkit::http;
  http::Router router({.title = "notes", .version = "1.0.0"});
  router.tag("notes", "Short notes");
  router.add(http::Route(http::Method::kGet, "/v1/notes/{id}")
                 .summary("Read a note")
                 .operation_id("getNote")
                 .tag("notes")
                 .auth(http::Auth::kBearer)
                 .param(http::Param::path("id").max_length(64).describe("Note id"))
                 .param(http::Param::query("upper").boolean().default_value(false))
                 .response(200, "The note",
                           http::Schema::object(
                               {{"id", http::Schema::string()}, {"text", http::Schema::string()}},
                               {"id", "text"}))
                 .error(404, "No such note")
                 .handle([](http::Request& req) {
                   if (req.param<std::string>("id") != "1") {
                     throw http::Error(http::ErrorCode::kNotFound, "no such note");
                   }
                   return http::Response::json(200, {{"id", "1"}, {"text", "hello"}});
                 }));
  auto log = coordkit::log::Logger(
      "http", {std::make_shared<coordkit::log::FileSink>(coordkit::log::FileSinkOptions{
                  .path = access_log_path, .format = coordkit::log::Format::kJson})});
  router.use(http::request_id());
  router.use(http::access_log(log));
  router.use(router.map_errors());
  router.use(http::auth({.bearer_token = "secret"}));

  http::Server server(router, {.listen = {"127.0.0.1:0", "unix:" + socket_path}});
  server.start();
  // ... wait for a shutdown request, then:
  // ---
  {
    t::TcpClient tcp(server.tcp_port());
    const auto ok = tcp.request(
        t::make_request("GET", "/v1/notes/1", "", {{"Authorization", "Bearer secret"}}));
    CHECK(ok.result_int() == 200);
    CHECK(nlohmann::json::parse(ok.body())["text"] == "hello");
    const auto missing = tcp.request(
        t::make_request("GET", "/v1/notes/2", "", {{"Authorization", "Bearer secret"}}));
    CHECK(missing.result_int() == 404);
    CHECK(nlohmann::json::parse(missing.body())["error"]["code"] == "not_found");
    t::UnixClient local(socket_path);
    CHECK(local.request(t::make_request("GET", "/v1/notes/1")).result_int() == 401);
  }
  // --- http.h
  http::DrainResult d = server.drain(std::chrono::seconds(5));
  server.stop();
  // ---
  CHECK(d.cut == 0);
  log.flush();
  const std::string logged = read_all(access_log_path);
  CHECK(logged.find("/v1/notes/{id}") != std::string::npos);  // the route template
}
