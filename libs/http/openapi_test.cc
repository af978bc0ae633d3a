// The OpenAPI document against the route table, and against itself with
// and without every wrapper.
#include <catch2/catch_test_macros.hpp>
#include <string>

#include "coordkit/http/internal/example_api.h"
#include "coordkit/http/router.h"
#include "coordkit/http/wrappers.h"

namespace http = coordkit::http;
using Json = nlohmann::json;

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

const Json& operation(const Json& doc, const http::Route& route) {
  return doc.at("paths").at(route.path()).at(lower(http::method_name(route.method())));
}

}  // namespace

TEST_CASE("OpenAPI document says what the route table says", "[http][openapi]") {
  http::internal::ExampleStore store;
  http::Router router({.title = "example", .version = "1.2.3"});
  http::internal::add_example_routes(router, store);
  const Json doc = router.openapi();
  CHECK(doc["openapi"] == "3.1.0");
  CHECK(doc["info"]["version"] == "1.2.3");
  std::size_t operations = 0;
  for (const auto& [path, item] : doc["paths"].items()) operations += item.size();
  CHECK(operations == router.routes().size());
  for (const auto& route : router.routes()) {
    CAPTURE(route.path(), http::method_name(route.method()));
    const Json& op = operation(doc, route);
    CHECK(op["operationId"] == route.operation());
    CHECK(op["summary"] == route.summary_text());
    CHECK(op["tags"] == Json(route.tags()));
    const Json params = op.value("parameters", Json::array());
    REQUIRE(params.size() == route.params().size());
    for (std::size_t i = 0; i < params.size(); ++i) {
      const auto& p = route.params()[i];
      CHECK(params[i]["name"] == p.name());
      CHECK(params[i]["in"] == std::string(http::in_name(p.in())));
      CHECK(params[i]["required"] == p.is_required());
      CHECK(params[i]["schema"] == p.schema_json());
      CHECK(params[i].value("description", "") == p.description());
    }
    if (route.body_schema()) {
      CHECK(op["requestBody"]["content"]["application/json"]["schema"] ==
            route.body_schema()->json());
      CHECK(op["requestBody"]["required"] == route.body_required());
    } else {
      CHECK_FALSE(op.contains("requestBody"));
    }
    for (const auto& r : route.responses()) {
      const Json& resp = op["responses"].at(std::to_string(r.status));
      CHECK(resp["description"] == r.description);
      if (r.schema) CHECK(resp["content"][r.content_type]["schema"] == r.schema->json());
      if (r.is_error)
        CHECK(resp["content"]["application/json"]["schema"]["$ref"] ==
              "#/components/schemas/Error");
      if (r.content_type.empty()) CHECK_FALSE(resp.contains("content"));
      for (const auto& h : r.headers) CHECK(resp["headers"].contains(h.name));
    }
    CHECK(op["responses"].contains("400"));
    CHECK(op["responses"].contains("500"));
    const bool bearer = route.auth_requirement() == http::Auth::kBearer ||
                        route.auth_requirement() == http::Auth::kBearerOrLocalUser;
    CHECK(op["security"] ==
          (bearer ? Json::array({{{"bearerAuth", Json::array()}}}) : Json::array()));
    CHECK(op["responses"].contains("401") == (route.auth_requirement() != http::Auth::kNone));
  }
}

TEST_CASE("OpenAPI document is the same under every wrapper, parameter by parameter",
          "[http][openapi]") {
  http::internal::ExampleStore plain_store;
  http::Router plain;
  http::internal::add_example_routes(plain, plain_store);

  http::internal::ExampleStore store;
  http::Router wrapped;
  http::internal::add_example_routes(wrapped, store);
  const Json before = wrapped.openapi();
  // Every wrapper the library has, some twice, in an unusual order as well.
  wrapped.use(http::auth({.bearer_token = "t", .local_uid = std::nullopt}));
  wrapped.use(http::timing());
  wrapped.use(http::request_id());
  wrapped.use(http::access_log(coordkit::log::Logger()));
  wrapped.use(wrapped.map_errors());
  wrapped.use(http::timing());
  REQUIRE(wrapped.wrappers().size() == 6);
  const Json after = wrapped.openapi();
  const Json reference = plain.openapi();

  for (const auto& route : wrapped.routes()) {
    CAPTURE(route.path(), http::method_name(route.method()));
    const Json& a = operation(after, route);
    const Json& b = operation(before, route);
    const Json& r = operation(reference, route);
    const Json pa = a.value("parameters", Json::array());
    const Json pr = r.value("parameters", Json::array());
    REQUIRE(pa.size() == route.params().size());
    REQUIRE(pr.size() == pa.size());
    for (std::size_t i = 0; i < pa.size(); ++i) {
      CAPTURE(pa[i]["name"]);
      CHECK(pa[i] == pr[i]);
      CHECK(pa[i] == b["parameters"][i]);
    }
    CHECK(a == b);
    CHECK(a == r);
  }
  CHECK(after == before);
  CHECK(after == reference);
}

TEST_CASE("OpenAPI document is what GET /openapi.json serves", "[http][openapi]") {
  http::internal::ExampleStore store;
  http::Router router;
  http::internal::add_example_routes(router, store);
  http::internal::use_example_wrappers(router, coordkit::log::Logger(), "t");
  http::BeastRequest req{boost::beast::http::verb::get, "/openapi.json", 11};
  auto r = router.handle(req, {});
  REQUIRE(r.result_int() == 200);
  CHECK(Json::parse(r.body()) == router.openapi());
}
