// coordkit/http/internal/openapi_builder.h: writes the OpenAPI 3.1 document
// from the route table. Only Router calls it (Router::openapi()).
#ifndef COORDKIT_HTTP_INTERNAL_OPENAPI_BUILDER_H_
#define COORDKIT_HTTP_INTERNAL_OPENAPI_BUILDER_H_

#include <deque>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "coordkit/http/route.h"

namespace coordkit::http {

// ApiInfo: the document's info and servers.
struct ApiInfo {
  std::string title = "coordkit service";
  std::string version = "0.1.0";
  std::string description = "";
  std::string license_name = "MIT";
  std::string license_url = "https://opensource.org/licenses/MIT";
  std::vector<std::string> servers = {"http://127.0.0.1:8080"};
};

// TagInfo: a tag routes may name, with its description.
struct TagInfo {
  std::string name;
  std::string description;
};

namespace internal {

// error_schema: the uniform error body, {"error":{"code","message",
// "request_id"}} plus the optional details of a 400 and a 422.
inline Json error_schema() {
  return Schema::object(
             {{"error",
               Schema::object(
                   {{"code", Schema::string().describe("Stable snake_case reason")},
                    {"message", Schema::string().describe("What went wrong, for people")},
                    {"request_id",
                     Schema::string().describe("The request's id, as in X-Request-Id")},
                    {"parameter", Schema::string().describe("The parameter a 400 is about")},
                    {"pointer",
                     Schema::string().describe("JSON pointer of a 422's first violation")},
                    {"rule", Schema::string().describe("The schema keyword a 422 broke")}},
                   {"code", "message", "request_id"})
                   .additional_properties(false)}},
             {"error"})
      .additional_properties(false)
      .describe("The uniform error body of every error status")
      .json();
}

// implied_errors: the error statuses the library itself may answer on
// `route`, beyond those the route declares: 400 (malformed target, unknown
// query parameter, bad parameter or body), 401 with auth, 413/415/422 with
// a body, 500 (a handler failed).
inline std::vector<std::pair<unsigned, std::string>> implied_errors(const Route& route) {
  std::vector<std::pair<unsigned, std::string>> out = {{400, "Malformed request or parameter"}};
  if (route.auth_requirement() != Auth::kNone)
    out.emplace_back(401, "Missing or wrong credentials");
  if (route.body_schema()) {
    out.emplace_back(413, "Body too large");
    out.emplace_back(415, "Body is not application/json");
    out.emplace_back(422, "Body breaks its schema");
  }
  out.emplace_back(500, "The handler failed");
  out.emplace_back(503, "The server is draining or overloaded");
  return out;
}

inline Json build_openapi(const ApiInfo& info, const std::vector<TagInfo>& tags,
                          const std::deque<Route>& routes) {
  Json doc;
  doc["openapi"] = "3.1.0";
  doc["info"] = {{"title", info.title},
                 {"version", info.version},
                 {"license", {{"name", info.license_name}, {"url", info.license_url}}}};
  if (!info.description.empty()) doc["info"]["description"] = info.description;
  doc["servers"] = Json::array();
  for (const auto& s : info.servers) doc["servers"].push_back({{"url", s}});
  doc["tags"] = Json::array();
  for (const auto& t : tags)
    doc["tags"].push_back({{"name", t.name}, {"description", t.description}});
  const Json error_ref = {{"$ref", "#/components/schemas/Error"}};
  Json paths = Json::object();
  for (const auto& route : routes) {
    Json op;
    op["operationId"] = route.operation();
    op["summary"] = route.summary_text();
    if (!route.description().empty()) op["description"] = route.description();
    op["tags"] = route.tags();
    Json params = Json::array();
    for (const auto& p : route.params()) {
      Json one = {{"name", p.name()},
                  {"in", std::string(in_name(p.in()))},
                  {"required", p.is_required()},
                  {"schema", p.schema_json()}};
      if (!p.description().empty()) one["description"] = p.description();
      if (p.example_json()) one["example"] = *p.example_json();
      params.push_back(std::move(one));
    }
    if (!params.empty()) op["parameters"] = std::move(params);
    if (route.body_schema()) {
      Json body = {{"required", route.body_required()},
                   {"content", {{"application/json", {{"schema", route.body_schema()->json()}}}}}};
      if (!route.body_description().empty()) body["description"] = route.body_description();
      op["requestBody"] = std::move(body);
    }
    Json responses = Json::object();
    for (const auto& r : route.responses()) {
      Json one = {{"description", r.description}};
      if (r.is_error) {
        one["content"] = {{"application/json", {{"schema", error_ref}}}};
      } else if (!r.content_type.empty()) {
        Json media = Json::object();
        if (r.schema) {
          media["schema"] = r.schema->json();
        } else {
          media["schema"] = {{"type", "string"}};
        }
        one["content"] = {{r.content_type, std::move(media)}};
      }
      if (!r.headers.empty()) {
        Json headers = Json::object();
        for (const auto& h : r.headers) {
          headers[h.name] = {{"description", h.description}, {"schema", {{"type", "string"}}}};
        }
        one["headers"] = std::move(headers);
      }
      responses[std::to_string(r.status)] = std::move(one);
    }
    for (const auto& [status, text] : implied_errors(route)) {
      const std::string key = std::to_string(status);
      if (responses.contains(key)) continue;
      responses[key] = {{"description", text},
                        {"content", {{"application/json", {{"schema", error_ref}}}}}};
    }
    op["responses"] = std::move(responses);
    if (route.auth_requirement() == Auth::kBearer ||
        route.auth_requirement() == Auth::kBearerOrLocalUser) {
      op["security"] = Json::array({{{"bearerAuth", Json::array()}}});
    } else {
      op["security"] = Json::array();
    }
    if (route.auth_requirement() == Auth::kLocalUser ||
        route.auth_requirement() == Auth::kBearerOrLocalUser) {
      op["x-coordkit-local-user"] = true;
    }
    std::string method(method_name(route.method()));
    for (auto& c : method) c = static_cast<char>(c - 'A' + 'a');
    paths[route.path()][method] = std::move(op);
  }
  doc["paths"] = std::move(paths);
  doc["components"] = {{"schemas", {{"Error", error_schema()}}},
                       {"securitySchemes",
                        {{"bearerAuth",
                          {{"type", "http"},
                           {"scheme", "bearer"},
                           {"description", "A static bearer token, compared in constant time"}}}}}};
  return doc;
}

}  // namespace internal
}  // namespace coordkit::http

#endif  // COORDKIT_HTTP_INTERNAL_OPENAPI_BUILDER_H_
