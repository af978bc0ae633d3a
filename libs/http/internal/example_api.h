// coordkit/http/internal/example_api.h: the library's own example API: a
// small in-memory records service with the shapes the gateway needs (path,
// query and header parameters, a JSON body, ETag/If-Match, 201/204/404/412,
// bearer and local-user auth, a Prometheus text route). The example server
// serves it, the validators check its document, and the tests drive it.
#ifndef COORDKIT_HTTP_INTERNAL_EXAMPLE_API_H_
#define COORDKIT_HTTP_INTERNAL_EXAMPLE_API_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "coordkit/http/router.h"
#include "coordkit/http/wrappers.h"

namespace coordkit::http::internal {

// ExampleStore: the records behind the example API.
struct ExampleStore {
  // Its implicit move and destructor are nlohmann::json's, noexcept by that
  // library's contract; clang-tidy sees a throw deep inside json's destroy().
  struct Record {  // NOLINT(bugprone-exception-escape)
    Json data;
    std::int64_t version = 0;
  };
  std::mutex mu;
  std::map<std::string, std::map<std::string, Record>> collections;
  std::uint64_t requests = 0;
};

inline Schema example_record_schema() {
  return Schema::object({{"collection", Schema::string().max_length(64)},
                         {"id", Schema::string().max_length(128)},
                         {"version", Schema::integer().minimum(1)},
                         {"data", Schema::object().describe("The stored JSON document")},
                         {"tags", Schema::array(Schema::string().max_length(32)).max_items(8)}},
                        {"collection", "id", "version", "data"})
      .additional_properties(false);
}

// add_example_routes: the example API's routes on `router`. `store` must
// outlive the router.
inline void add_example_routes(Router& router, ExampleStore& store) {
  router.tag("records", "JSON records in named collections");
  router.tag("ops", "Health and metrics");
  router.tag("admin", "Administration, behind auth");
  router.tag("demo", "Parameter types, for trying the validation out");

  const auto collection = [] {
    return Param::path("collection")
        .max_length(64)
        .pattern("^[a-z][a-z0-9_-]*$")
        .example("notes")
        .describe("Collection name: lower case letters, digits, '_' and '-'");
  };
  const auto id = [] {
    return Param::path("id").max_length(128).min_length(1).describe(
        "Record id within the collection");
  };
  const auto etag = [](std::int64_t v) { return "\"" + std::to_string(v) + "\""; };

  router.add(Route(Method::kGet, "/v1/health")
                 .summary("Liveness")
                 .operation_id("getHealth")
                 .tag("ops")
                 .response(200, "The service is up",
                           Schema::object({{"status", Schema::enumeration({"ok"})}}, {"status"})
                               .additional_properties(false))
                 .handle([](Request&) {
                   return Response::json(200, {{"status", "ok"}});
                 }));

  router.add(
      Route(Method::kGet, "/metrics")
          .summary("Prometheus metrics")
          .operation_id("getMetrics")
          .tag("ops")
          .response_text(200, "Counters in the Prometheus text format", "text/plain; version=0.0.4")
          .handle([&store](Request&) {
            std::lock_guard lock(store.mu);
            std::string text = "# TYPE example_collections gauge\nexample_collections " +
                               std::to_string(store.collections.size()) + "\n";
            return Response::text(200, "text/plain; version=0.0.4", std::move(text));
          }));

  router.add(
      Route(Method::kGet, "/v1/demo/echo")
          .summary("Echo typed query parameters")
          .describe("Returns the parsed parameters; every type the table supports appears once.")
          .operation_id("echo")
          .tag("demo")
          .param(Param::query("n").integer().minimum(0).maximum(1000).required().describe(
              "An integer from 0 to 1000"))
          .param(Param::query("ratio").number().minimum(0).maximum(1).default_value(0.5).describe(
              "A number from 0 to 1"))
          .param(Param::query("flag").boolean().describe("true or false"))
          .param(Param::query("color")
                     .one_of({"red", "green", "blue"})
                     .default_value("red")
                     .describe("One of three colours"))
          .param(Param::query("word").max_length(16).describe("Up to 16 characters"))
          .param(Param::header("X-Trace").max_length(32).describe("An optional header"))
          .response(200, "The parsed parameters",
                    Schema::object({{"n", Schema::integer()},
                                    {"ratio", Schema::number()},
                                    {"flag", Schema::boolean().nullable()},
                                    {"color", Schema::string()},
                                    {"word", Schema::string().nullable()},
                                    {"trace", Schema::string().nullable()}},
                                   {"n", "ratio", "color"})
                        .additional_properties(false))
          .handle([](Request& req) {
            Json out = {{"n", req.param<std::int64_t>("n")},
                        {"ratio", req.param<double>("ratio")},
                        {"color", req.param<std::string>("color")}};
            out["flag"] = req.has_param("flag") ? Json(req.param<bool>("flag")) : Json(nullptr);
            out["word"] =
                req.has_param("word") ? Json(req.param<std::string>("word")) : Json(nullptr);
            out["trace"] =
                req.has_param("X-Trace") ? Json(req.param<std::string>("X-Trace")) : Json(nullptr);
            return Response::json(200, std::move(out));
          }));

  router.add(
      Route(Method::kGet, "/v1/collections/{collection}/records")
          .summary("List records")
          .operation_id("listRecords")
          .tag("records")
          .auth(Auth::kBearer)
          .param(collection())
          .param(Param::query("limit").integer().minimum(1).maximum(100).default_value(20).describe(
              "Page size"))
          .param(Param::query("cursor").max_length(128).describe("Id after which the page starts"))
          .response(200, "One page of records",
                    Schema::object({{"records", Schema::array(example_record_schema())},
                                    {"next_cursor", Schema::string().nullable()}},
                                   {"records", "next_cursor"})
                        .additional_properties(false))
          .handle([&store](Request& req) {
            std::lock_guard lock(store.mu);
            const auto name = req.param<std::string>("collection");
            const auto limit = req.param<std::int64_t>("limit");
            Json records = Json::array();
            Json next = nullptr;
            auto& c = store.collections[name];
            auto it = req.has_param("cursor") ? c.upper_bound(req.param<std::string>("cursor"))
                                              : c.begin();
            for (; it != c.end(); ++it) {
              if (static_cast<std::int64_t>(records.size()) == limit) {
                next = records.back()["id"];
                break;
              }
              records.push_back({{"collection", name},
                                 {"id", it->first},
                                 {"version", it->second.version},
                                 {"data", it->second.data}});
            }
            return Response::json(200, {{"records", std::move(records)}, {"next_cursor", next}});
          }));

  router.add(Route(Method::kGet, "/v1/collections/{collection}/records/{id}")
                 .summary("Read one record")
                 .operation_id("getRecord")
                 .tag("records")
                 .auth(Auth::kBearer)
                 .param(collection())
                 .param(id())
                 .param(Param::header("If-None-Match").max_length(80).describe("A known ETag"))
                 .response(200, "The record", example_record_schema())
                 .response_header(200, "ETag", "The record's version")
                 .response_empty(304, "The record still has the given ETag")
                 .error(404, "No such record")
                 .handle([&store, etag](Request& req) {
                   std::lock_guard lock(store.mu);
                   const auto name = req.param<std::string>("collection");
                   const auto key = req.param<std::string>("id");
                   auto& c = store.collections[name];
                   auto it = c.find(key);
                   if (it == c.end()) throw Error(ErrorCode::kNotFound, "no such record");
                   if (req.has_param("If-None-Match") &&
                       req.param<std::string>("If-None-Match") == etag(it->second.version)) {
                     return Response::empty(304);
                   }
                   return Response::json(200, {{"collection", name},
                                               {"id", key},
                                               {"version", it->second.version},
                                               {"data", it->second.data}})
                       .header("ETag", etag(it->second.version));
                 }));

  router.add(
      Route(Method::kPut, "/v1/collections/{collection}/records/{id}")
          .summary("Create or replace a record")
          .describe("With If-Match, the write happens only if the record still has that ETag.")
          .operation_id("putRecord")
          .tag("records")
          .auth(Auth::kBearer)
          .param(collection())
          .param(id())
          .param(Param::header("If-Match").max_length(80).describe("The ETag the record must have"))
          .body(Schema::object(
                    {{"data", Schema::object()},
                     {"tags", Schema::array(Schema::string().max_length(32)).max_items(8)}},
                    {"data"})
                    .additional_properties(false),
                "The document to store")
          .response(200, "Replaced", example_record_schema())
          .response_header(200, "ETag", "The new version")
          .response(201, "Created", example_record_schema())
          .response_header(201, "ETag", "The new version")
          .error(412, "The record's ETag is not the one given in If-Match")
          .handle([&store, etag](Request& req) {
            std::lock_guard lock(store.mu);
            const auto name = req.param<std::string>("collection");
            const auto key = req.param<std::string>("id");
            auto& c = store.collections[name];
            auto it = c.find(key);
            if (req.has_param("If-Match") &&
                (it == c.end() || req.param<std::string>("If-Match") != etag(it->second.version))) {
              throw Error(ErrorCode::kPreconditionFailed, "the record changed");
            }
            const bool created = it == c.end();
            auto& rec = c[key];
            rec.data = req.body["data"];
            rec.version += 1;
            Json out = {
                {"collection", name}, {"id", key}, {"version", rec.version}, {"data", rec.data}};
            if (req.body.contains("tags")) out["tags"] = req.body["tags"];
            return Response::json(created ? 201 : 200, std::move(out))
                .header("ETag", etag(rec.version));
          }));

  router.add(Route(Method::kDelete, "/v1/collections/{collection}/records/{id}")
                 .summary("Delete a record")
                 .operation_id("deleteRecord")
                 .tag("records")
                 .auth(Auth::kBearer)
                 .param(collection())
                 .param(id())
                 .response_empty(204, "Deleted")
                 .error(404, "No such record")
                 .handle([&store](Request& req) {
                   std::lock_guard lock(store.mu);
                   auto& c = store.collections[req.param<std::string>("collection")];
                   if (c.erase(req.param<std::string>("id")) == 0)
                     throw Error(ErrorCode::kNotFound, "no such record");
                   return Response::empty(204);
                 }));

  router.add(
      Route(Method::kGet, "/v1/admin/whoami")
          .summary("Who the server admitted")
          .describe("Admits a bearer token, or a Unix-socket peer running as the server's user.")
          .operation_id("whoami")
          .tag("admin")
          .auth(Auth::kBearerOrLocalUser)
          .response(200, "The admitted principal",
                    Schema::object({{"principal", Schema::string()}}, {"principal"}))
          .handle([](Request& req) {
            return Response::json(200, {{"principal", req.principal}});
          }));

  router.add(
      Route(Method::kPost, "/v1/admin/sleep")
          .summary("Sleep, then answer")
          .describe("Holds a request in flight for the given time (drain and timeout demos).")
          .operation_id("sleep")
          .tag("admin")
          .auth(Auth::kBearerOrLocalUser)
          .param(Param::query("ms").integer().minimum(0).maximum(60000).required().describe(
              "Milliseconds to sleep"))
          .response(200, "Slept", Schema::object({{"slept_ms", Schema::integer()}}, {"slept_ms"}))
          .handle([](Request& req) {
            const auto ms = req.param<std::int64_t>("ms");
            std::this_thread::sleep_for(std::chrono::milliseconds(ms));
            return Response::json(200, {{"slept_ms", ms}});
          }));
}

// use_example_wrappers: the wrappers in their usual order.
inline void use_example_wrappers(Router& router, const log::Logger& access, std::string token) {
  router.use(request_id());
  router.use(access_log(access));
  router.use(router.map_errors());
  router.use(timing());
  router.use(auth({.bearer_token = std::move(token), .local_uid = std::nullopt}));
}

}  // namespace coordkit::http::internal

#endif  // COORDKIT_HTTP_INTERNAL_EXAMPLE_API_H_
