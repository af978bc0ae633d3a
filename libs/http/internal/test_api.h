// coordkit/http/internal/test_api.h: the example API plus test-only routes
// (a handler that throws, a large response), served on real sockets, and
// requests generated from the route table.
#ifndef COORDKIT_HTTP_INTERNAL_TEST_API_H_
#define COORDKIT_HTTP_INTERNAL_TEST_API_H_

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "coordkit/http/http.h"
#include "coordkit/http/internal/example_api.h"
#include "coordkit/http/internal/test_client.h"

namespace coordkit::http::testing {

inline constexpr const char* kToken = "test-token-0123456789";

inline std::string temp_dir() {
  const char* t = std::getenv("TEST_TMPDIR");
  return t != nullptr ? t : "/tmp";
}

// ShortDir: a fresh directory with a short path (a Unix socket path must
// fit in 108 bytes; TEST_TMPDIR is often longer), removed with its files.
struct ShortDir {
  std::string path;
  ShortDir() {
    char tmpl[] = "/tmp/ckhttp.XXXXXX";
    path = ::mkdtemp(tmpl) != nullptr ? tmpl : "/tmp";
  }
  ~ShortDir() {
    if (path != "/tmp") std::filesystem::remove_all(path);
  }
};

// TestServer: the example API and test routes on 127.0.0.1:0 and a Unix
// socket under TEST_TMPDIR, responses validated, stopped on destruction.
struct TestServer {
  ShortDir dir;
  internal::ExampleStore store;
  Router router{ApiInfo{.title = "test", .version = "1.0.0"}};
  std::unique_ptr<Server> server;

  explicit TestServer(ServerOptions options = {}, const std::string& socket_name = "http.sock") {
    router.set_validate_responses(true);
    internal::add_example_routes(router, store);
    router.tag("test", "Test-only routes");
    router.add(Route(Method::kGet, "/test/throws")
                   .summary("Throws")
                   .operation_id("testThrows")
                   .tag("test")
                   .response_empty(204, "never")
                   .handle([](Request&) -> Response { throw std::runtime_error("boom"); }));
    router.add(
        Route(Method::kGet, "/test/big")
            .summary("A large text body")
            .operation_id("testBig")
            .tag("test")
            .param(Param::query("kb").integer().minimum(1).maximum(65536).default_value(4096))
            .response_text(200, "Many bytes", "text/plain")
            .handle([](Request& req) {
              return Response::text(
                  200, "text/plain",
                  std::string(static_cast<std::size_t>(req.param<std::int64_t>("kb")) * 1024, 'x'));
            }));
    // Blocking routes (Route::blocking): they run on the server's blocking pool.
    router.add(
        Route(Method::kPost, "/test/blocking/sleep")
            .summary("Sleep on a blocking thread, then answer")
            .operation_id("testBlockingSleep")
            .tag("test")
            .blocking()
            .param(Param::query("ms").integer().minimum(0).maximum(60000).required())
            .response(200, "Slept", Schema::object({{"slept_ms", Schema::integer()}}, {"slept_ms"}))
            .handle([](Request& req) {
              const auto ms = req.param<std::int64_t>("ms");
              std::this_thread::sleep_for(std::chrono::milliseconds(ms));
              return Response::json(200, {{"slept_ms", ms}});
            }));
    router.add(Route(Method::kGet, "/test/blocking/throws")
                   .summary("Throws on a blocking thread")
                   .operation_id("testBlockingThrows")
                   .tag("test")
                   .blocking()
                   .response_empty(204, "never")
                   .handle([](Request&) -> Response { throw std::runtime_error("boom"); }));
    internal::use_example_wrappers(router, log::Logger(), kToken);
    if (options.listen.empty()) {
      options.listen = {"127.0.0.1:0", "unix:" + dir.path + "/" + socket_name};
    }
    server = std::make_unique<Server>(router, std::move(options));
    server->start();
  }
  unsigned short port() const { return server->tcp_port(); }
  std::string url(const std::string& target) const {
    return "http://127.0.0.1:" + std::to_string(port()) + target;
  }
};

// minimal_value: the smallest JSON value `schema` (JSON Schema subset)
// accepts: required properties only, shortest strings, lowest numbers.
inline Json minimal_value(const Json& schema) {
  std::string type = "object";
  if (auto t = schema.find("type"); t != schema.end()) {
    type = t->is_array() ? (*t)[0].get<std::string>() : t->get<std::string>();
  } else {
    return Json::object();
  }
  if (type == "string") {
    if (schema.contains("enum")) return schema["enum"][0];
    return std::string(schema.value("minLength", std::size_t{0}), 'a');
  }
  if (type == "integer" || type == "number") return schema.value("minimum", 0);
  if (type == "boolean") return false;
  if (type == "array") return Json::array();
  if (type == "null") return nullptr;
  Json out = Json::object();
  for (const auto& name : schema.value("required", Json::array())) {
    out[name.get<std::string>()] = minimal_value(schema["properties"][name.get<std::string>()]);
  }
  return out;
}

// GeneratedRequest: a request for a route made from its declaration.
struct GeneratedRequest {
  std::string method;
  std::string target;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Override: how one parameter differs from a valid request.
enum class Override { kNone, kMissing, kMalformed };

// generate: a request for `route` with every parameter valid (required
// ones, and optional ones too when `all_optional`), except `which`, which
// is left out or malformed as `how` says. Adds the bearer token when
// `with_token`.
inline GeneratedRequest generate(const Route& route, const Param* which = nullptr,
                                 Override how = Override::kNone, bool with_token = true) {
  GeneratedRequest out;
  out.method = std::string(method_name(route.method()));
  std::string path;
  std::size_t pos = 1;
  const std::string& tmpl = route.path();
  while (pos <= tmpl.size()) {
    std::size_t end = tmpl.find('/', pos);
    if (end == std::string::npos) end = tmpl.size();
    std::string seg = tmpl.substr(pos, end - pos);
    path += '/';
    if (seg.size() >= 2 && seg.front() == '{') {
      const Param* p = route.find_param(In::kPath, seg.substr(1, seg.size() - 2));
      if (p == which && how == Override::kMissing) {
        // An empty segment: the path no longer matches.
      } else {
        path +=
            p == which && how == Override::kMalformed ? p->malformed_example() : p->valid_example();
      }
    } else {
      path += seg;
    }
    pos = end + 1;
  }
  std::string query;
  for (const auto& p : route.params()) {
    if (p.in() == In::kPath) continue;
    const bool is_it = &p == which;
    if (is_it && how == Override::kMissing) continue;
    if (!is_it && !p.is_required()) continue;
    std::string value =
        is_it && how == Override::kMalformed ? p.malformed_example() : p.valid_example();
    if (p.in() == In::kQuery) {
      query += query.empty() ? '?' : '&';
      query += p.name() + "=" + value;
    } else {
      out.headers.emplace_back(p.name(), value);
    }
  }
  out.target = path + query;
  if (route.body_schema()) out.body = minimal_value(route.body_schema()->json()).dump();
  if (with_token && route.auth_requirement() != Auth::kNone) {
    out.headers.emplace_back("Authorization", std::string("Bearer ") + kToken);
  }
  return out;
}

inline BeastRequest to_beast(const GeneratedRequest& g) {
  return make_request(g.method, g.target, g.body, g.headers);
}

}  // namespace coordkit::http::testing

#endif  // COORDKIT_HTTP_INTERNAL_TEST_API_H_
