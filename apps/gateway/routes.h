// coordkit/gateway/routes.h: coordkit-gateway's route table: every route
// the gateway serves, declared once (coordkit::http), so dispatch, auth and
// /openapi.json read the same table.
//
//   records   POST   /v1/collections/{collection}/records         create (server id), 201 + ETag
//             GET    /v1/collections/{collection}/records         list: cursor + limit
//             GET    /v1/collections/{collection}/records/{id}    200 + ETag, 304 (If-None-Match)
//             PUT    /v1/collections/{collection}/records/{id}    If-Match / If-None-Match: *
//             DELETE /v1/collections/{collection}/records/{id}    If-Match
//   ops       GET    /v1/health, /v1/ready, /v1/status, /metrics (admin unless open)
//   admin     GET /v1/admin/stats; POST /v1/admin/{checkpoint,check,backup,rekey,shutdown}
//             bearer token, or the gateway's own uid over the Unix socket
//
// Each handler bounds its database work by Request::deadline (the server
// sets it --request-timeout-ms after the request was read); a database
// still busy then answers 503 with Retry-After. Every route that touches
// the database is blocking (Route::blocking): it runs on the server's
// blocking threads, so concurrent writes wait inside the Store together
// and share a group commit, while the I/O threads keep serving. The one
// exception is the record get (unless Context::inline_reads is off): a WAL
// read never waits for the writer, so it runs on the I/O thread that read
// the request, sparing the hand-off to a blocking thread and back, and its
// waits (a reader connection, a rare busy database) end at
// kInlineReadWait.
//
// Example:
//   coordkit::http::Router router({.title = "coordkit-gateway", .version = kVersion});
//   coordkit::gateway::add_routes(router, context);
//   coordkit::gateway::use_wrappers(router, context, metrics, access_log, admin_token);
#ifndef COORDKIT_APPS_GATEWAY_ROUTES_H_
#define COORDKIT_APPS_GATEWAY_ROUTES_H_

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "coordkit/apps/exit_codes.h"
#include "coordkit/apps/records.h"
#include "coordkit/db/db.h"
#include "coordkit/gateway/config.h"
#include "coordkit/gateway/internal/json_object.h"
#include "coordkit/gateway/internal/record_cache.h"
#include "coordkit/gateway/metrics.h"
#include "coordkit/gateway/service.h"
#include "coordkit/http/http.h"
#include "coordkit/ipc/ipc.h"
#include "coordkit/log/log.h"

namespace coordkit::gateway {

// Context: what the handlers need. Everything it points to outlives the
// router's serving. Thread-safe as its parts are.
struct Context {
  Service* service = nullptr;
  Metrics* metrics = nullptr;
  // phase: the status file's state (ipc::Server::phase).
  std::function<ipc::Phase()> phase;
  // request_shutdown: the admin route's way into the one shutdown path.
  std::function<void(ipc::ShutdownMode, std::chrono::milliseconds)> request_shutdown;
  std::string address;  // as published in the status file
  std::vector<std::string> addresses;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  bool metrics_open = false;
  // inline_reads: record get runs on the I/O threads (not a blocking
  // route), its waits bounded by kInlineReadWait.
  bool inline_reads = true;
  // splice_bodies: set by use_wrappers(), whose splice_bodies() wrapper
  // puts record bodies into responses as text (see record_response).
  bool splice_bodies = false;
  // record_cache: made by use_wrappers(): the record get's earlier answers
  // (internal/record_cache.h, record_reads()).
  std::shared_ptr<internal::RecordCache> record_cache;
  log::Logger log{};  // the gateway's log (admin actions)
};

// kInlineReadWait: the longest an inline record get (Context::inline_reads)
// waits, on its I/O thread, for a reader connection or a busy database
// before it answers 503 with Retry-After (the request's own deadline, if
// sooner, still wins). The query itself is not cut short.
inline constexpr std::chrono::milliseconds kInlineReadWait{100};

// error_map: the one mapping from errors to statuses: apps/common's table,
// then the gateway's own codes.
inline http::ErrorMap error_map() {
  http::ErrorMap map;
  for (const apps::ErrorMapping& m : apps::kErrorTable) {
    if (m.http_status >= 400 && m.http_status <= 599) {
      map.add(std::string(m.library), std::string(m.code_name),
              static_cast<unsigned>(m.http_status),
              m.retry_after ? static_cast<unsigned>(apps::kRetryAfterSeconds) : 0);
    }
  }
  map.add("gateway", "invalid_argument", 400);
  map.add("gateway", "already_exists", 409);
  map.add("gateway", "unavailable", 503, static_cast<unsigned>(apps::kRetryAfterSeconds));
  map.add("gateway", "closed", 503, static_cast<unsigned>(apps::kRetryAfterSeconds));
  map.add("gateway", "key_file_failed", 500);
  return map;
}

namespace internal {

using http::Auth;
using http::Json;
using http::Method;
using http::Param;
using http::Request;
using http::Response;
using http::Route;
using http::Schema;

inline Schema record_schema() {
  return Schema::object({{"collection", Schema::string().max_length(records::kMaxCollectionLength)},
                         {"id", Schema::string().max_length(records::kMaxIdLength)},
                         {"version", Schema::integer().minimum(1)},
                         {"body", Schema::object().describe("The stored JSON document")},
                         {"created_at_ms", Schema::integer()},
                         {"updated_at_ms", Schema::integer()}},
                        {"collection", "id", "version", "body", "created_at_ms", "updated_at_ms"})
      .additional_properties(false);
}

inline Param collection_param() {
  return Param::path("collection")
      .max_length(records::kMaxCollectionLength)
      .pattern("^[a-z0-9_-]+$")
      .example("notes")
      .describe("Collection name: [a-z0-9_-]{1,64}");
}
inline Param id_param() {
  return Param::path("id")
      .max_length(records::kMaxIdLength)
      .pattern("^[A-Za-z0-9._~-]+$")
      .example("0190f4c2-7b5e-7d3a-9c1e-2f4a6b8c0d1e")
      .describe("Record id: [A-Za-z0-9._~-]{1,128}");
}

inline std::string_view raw_body(const Request& req) {
  return req.raw != nullptr ? std::string_view(req.raw->body()) : std::string_view();
}

// request_body: the body text with the value the router parsed it into to
// check it against the route's schema, so the records code does not parse
// it again.
inline Service::BodyText request_body(const Request& req) { return {raw_body(req), &req.body}; }

// Records are answered with their stored body text as it is, spliced into
// the serialised response, rather than parsed into a JSON value and
// serialised again. The handler answers the record as a value whose "body"
// is an empty object, so the router still checks every field against
// record_schema(), and carries the body text beside it under kSpliceHeader;
// splice_bodies(), the innermost wrapper, takes it out and puts it in the
// place of that empty object. A body spliced so is a JSON object: one just
// made by records::Body, or a stored one that is_json_object_text() passes
// (internal/json_object.h's one pass decides the usual bodies, json::accept()
// the rest; neither builds a value). Anything else takes the slow path
// (records::to_json), which answers as before.
inline constexpr std::string_view kSpliceHeader = "X-Coordkit-Spliced-Body";
// kRowHeader: beside kSpliceHeader on a record read back from the database:
// "<version> <created_at_ms> <updated_at_ms>", the rest of the row the
// answer was made from, for the record cache (record_reads()), which takes
// it out with the body text.
inline constexpr std::string_view kRowHeader = "X-Coordkit-Record-Row";
// kSplicedPrefix: how the serialised value starts; "body" sorts first among
// the record's keys (Json objects keep their keys in order).
inline constexpr std::string_view kSplicedPrefix = R"({"body":{})";

// BodySource: where the text of a record's body came from.
enum class BodySource {
  kModel,   // records::Body made it for this write: a compact JSON object
  kStored,  // read back from the database: checked before it is served
};

// is_json_object_text: `text` is one JSON object. The quick check decides
// the bodies records::Body stores; nlohmann the others.
inline bool is_json_object_text(std::string_view text) {
  if (is_plain_json_object(text)) return true;
  const std::size_t first = text.find_first_not_of(" \t\r\n");
  return first != std::string_view::npos && text[first] == '{' && Json::accept(text);
}

// record_response: the record `r` (consumed) with its ETag. With `splice`
// (splice_bodies() is in use) the body travels as text, see above.
inline Response record_response(unsigned status, records::Record&& r, bool splice,
                                BodySource source) {
  std::string tag = records::etag(r.version);
  if (!splice || (source == BodySource::kStored && !is_json_object_text(r.body))) {
    return Response::json(status, records::to_json(r)).header("ETag", std::move(tag));
  }
  Json v = Json::object();
  // In key order, each at the end: no lookups.
  auto& fields = v.get_ref<Json::object_t&>();
  fields.emplace_hint(fields.end(), "body", Json::object());
  fields.emplace_hint(fields.end(), "collection", std::move(r.collection));
  fields.emplace_hint(fields.end(), "created_at_ms", r.created_at_ms);
  fields.emplace_hint(fields.end(), "id", std::move(r.id));
  fields.emplace_hint(fields.end(), "updated_at_ms", r.updated_at_ms);
  fields.emplace_hint(fields.end(), "version", r.version);
  Response out = Response::json(status, std::move(v));
  out.headers.reserve(4);
  out.header("ETag", std::move(tag));
  if (source == BodySource::kStored) {
    out.header(std::string(kRowHeader), std::to_string(r.version) + ' ' +
                                            std::to_string(r.created_at_ms) + ' ' +
                                            std::to_string(r.updated_at_ms));
  }
  // Not header(), which refuses line breaks: a stored body may hold them
  // between its tokens, and this header never leaves the process
  // (splice_bodies() takes it out; the router refuses any that remains).
  out.headers.emplace_back(kSpliceHeader, std::move(r.body));
  return out;
}

// take_header: the value of `r`'s header `name`, taken out of `r`; nullopt
// when it has none.
inline std::optional<std::string> take_header(Response& r, std::string_view name) {
  auto it = std::find_if(r.headers.begin(), r.headers.end(),
                         [name](const auto& h) { return h.first == name; });
  if (it == r.headers.end()) return std::nullopt;
  std::string v = std::move(it->second);
  r.headers.erase(it);
  return v;
}

// splice_body: `r` (serialised) with the body text under kSpliceHeader put
// in the place of its empty "body" object; `r` as it was without one.
// Returns the body text spliced in (empty without one).
inline std::string splice_body(Response& r) {
  std::optional<std::string> taken = take_header(r, kSpliceHeader);
  if (!taken) return {};
  std::string text = std::move(*taken);
  r.serialize();
  if (r.body.starts_with(kSplicedPrefix)) {
    constexpr std::string_view kKey = R"({"body":)";
    std::string out;
    out.reserve(r.body.size() - kSplicedPrefix.size() + kKey.size() + text.size());
    out.append(kKey).append(text).append(r.body, kSplicedPrefix.size());
    r.body = std::move(out);
  } else {
    Json v = Json::parse(r.body);
    v["body"] = Json::parse(text);
    r.body = v.dump(-1, ' ', false, Json::error_handler_t::replace);
  }
  return text;
}

// parse_row: kRowHeader's three numbers into `r`; false when malformed.
inline bool parse_row(std::string_view text, records::Record& r) {
  const char* p = text.data();
  const char* end = text.data() + text.size();
  for (std::int64_t* field : {&r.version, &r.created_at_ms, &r.updated_at_ms}) {
    if (field != &r.version) {
      if (p == end || *p != ' ') return false;
      ++p;
    }
    const auto [next, ec] = std::from_chars(p, end, *field);
    if (ec != std::errc()) return false;
    p = next;
  }
  return p == end;
}

// read_deadline: how long a record get waits for the database: the
// request's deadline, and inline (on an I/O thread) at most kInlineReadWait.
inline Deadline read_deadline(const Context& ctx, const Request& req) {
  return ctx.inline_reads ? std::min(req.deadline, http::Clock::now() + kInlineReadWait)
                          : req.deadline;
}

// string_param: a declared string parameter's value, without a copy.
inline const std::string& string_param(const Request& req, const char* name) {
  return req.params.at(name).get_ref<const std::string&>();
}

// condition: If-Match (an ETag, or *) and If-None-Match: * as a
// WriteCondition. A malformed If-Match is a 400.
inline records::WriteCondition condition(const Request& req, bool allow_if_none_match) {
  records::WriteCondition c;
  if (req.has_param("If-Match")) {
    const auto v = req.param<std::string>("If-Match");
    if (v == "*") {
      c.if_exists = true;
    } else if (auto version = records::parse_etag(v)) {
      c.if_version = *version;
    } else {
      throw std::move(http::Error(http::ErrorCode::kInvalidParameter,
                                  "If-Match is \"<version>\" as ETag sends it, or *")
                          .with_parameter("If-Match"));
    }
  }
  if (allow_if_none_match && req.has_param("If-None-Match")) {
    if (req.param<std::string>("If-None-Match") != "*") {
      throw std::move(
          http::Error(http::ErrorCode::kInvalidParameter, "on a write, If-None-Match is * alone")
              .with_parameter("If-None-Match"));
    }
    if (c.if_version || c.if_exists) {
      throw std::move(http::Error(http::ErrorCode::kInvalidParameter,
                                  "If-Match and If-None-Match exclude each other")
                          .with_parameter("If-None-Match"));
    }
    c.if_absent = true;
  }
  return c;
}

// db_families: every libs/db counter as a Prometheus counter family.
inline std::vector<Family> db_families(const db::Counters& c) {
  std::vector<Family> out;
  for (const db::CounterField& f : db::kCounterFields) {
    out.push_back({"coordkit_db_" + std::string(f.name) + "_total",
                   std::string(f.description),
                   "counter",
                   {{{}, static_cast<double>(c.*f.member)}}});
  }
  Family by_class{"coordkit_db_failures_total", "failed attempts by retry class", "counter", {}};
  for (db::RetryClass rc : {db::RetryClass::kRetrySameConnection, db::RetryClass::kReconnect,
                            db::RetryClass::kPermanent}) {
    by_class.samples.push_back(
        {{{"class", std::string(db::code_name(rc))}}, static_cast<double>(c.failures(rc))});
  }
  out.push_back(std::move(by_class));
  return out;
}

}  // namespace internal

// add_routes: the gateway's routes on `router`. `ctx` must outlive it.
inline void add_routes(http::Router& router, const Context& ctx) {
  using namespace internal;  // NOLINT(google-build-using-namespace): the route DSL
  const Context* c = &ctx;
  router.tag("records", "JSON documents in named collections, with versions as ETags");
  router.tag("ops", "Health, readiness, status and metrics");
  router.tag("admin",
             "Administration: bearer token, or the gateway's own uid over its Unix socket");

  const auto common_errors = [](Route& r) -> Route& {
    return r.error(400, "A malformed parameter, id, collection or body")
        .error(503, "Starting, draining, or the database stayed busy past the request's deadline")
        .response_header(503, "Retry-After", "Seconds to wait before trying again")
        .error(500, "An internal failure");
  };

  {
    Route r(Method::kPost, "/v1/collections/{collection}/records");
    r.summary("Create a record with a server-made id")
        .describe("The id is a time-ordered UUIDv7. The new record has version 1.")
        .operation_id("createRecord")
        .blocking()
        .tag("records")
        .param(collection_param())
        .body(Schema::object().describe("Any JSON object"), "The document to store")
        .response(201, "Created", record_schema())
        .response_header(201, "ETag", "The record's version")
        .response_header(201, "Location", "The record's URL")
        .error(413, "The body is over the size limit");
    common_errors(r).handle([c](Request& req) {
      const std::string& collection = string_param(req, "collection");
      records::Record rec = c->service->create(collection, request_body(req), req.deadline);
      std::string location = "/v1/collections/" + collection + "/records/" + rec.id;
      return record_response(201, std::move(rec), c->splice_bodies, BodySource::kModel)
          .header("Location", std::move(location));
    });
    router.add(std::move(r));
  }
  {
    Route r(Method::kGet, "/v1/collections/{collection}/records");
    r.summary("List records, in id order, a page at a time")
        .describe(
            "Pass next_cursor back as cursor for the next page. A record that exists "
            "throughout the listing is returned exactly once.")
        .operation_id("listRecords")
        .blocking()
        .tag("records")
        .param(collection_param())
        .param(Param::query("limit").integer().minimum(1).maximum(1000).default_value(100).describe(
            "Records per page"))
        .param(Param::query("cursor").max_length(512).describe("next_cursor of the page before"))
        .response(200, "One page",
                  Schema::object({{"records", Schema::array(record_schema())},
                                  {"next_cursor", Schema::string().nullable()}},
                                 {"records", "next_cursor"})
                      .additional_properties(false));
    common_errors(r).handle([c](Request& req) {
      const records::Page page = c->service->list(
          req.param<std::string>("collection"),
          req.has_param("cursor") ? req.param<std::string>("cursor") : std::string(),
          static_cast<std::size_t>(req.param<std::int64_t>("limit")), req.deadline);
      Json items = Json::array();
      for (const auto& rec : page.records) items.push_back(records::to_json(rec));
      return Response::json(
          200, {{"records", std::move(items)},
                {"next_cursor", page.next_cursor ? Json(*page.next_cursor) : Json(nullptr)}});
    });
    router.add(std::move(r));
  }
  {
    Route r(Method::kGet, "/v1/collections/{collection}/records/{id}");
    r.summary("Read one record")
        .operation_id("getRecord")
        .blocking(!ctx.inline_reads)
        .tag("records")
        .param(collection_param())
        .param(id_param())
        .param(Param::header("If-None-Match")
                   .max_length(80)
                   .describe("An ETag the client has: 304 while it is still current"))
        .response(200, "The record", record_schema())
        .response_header(200, "ETag", "The record's version")
        .response_empty(304, "The record still has the given ETag")
        .error(404, "No such record");
    common_errors(r).handle([c](Request& req) {
      // Inline (on an I/O thread), the read's waits (a free reader
      // connection, a busy database) end at kInlineReadWait: past it, 503.
      records::Record rec = c->service->get(string_param(req, "collection"),
                                            string_param(req, "id"), read_deadline(*c, req));
      if (req.has_param("If-None-Match")) {
        std::string tag = records::etag(rec.version);
        if (string_param(req, "If-None-Match") == tag) {
          return Response::empty(304).header("ETag", std::move(tag));
        }
      }
      return record_response(200, std::move(rec), c->splice_bodies, BodySource::kStored);
    });
    router.add(std::move(r));
  }
  {
    Route r(Method::kPut, "/v1/collections/{collection}/records/{id}");
    r.summary("Create or replace a record")
        .describe(
            "If-Match: \"<version>\" replaces only that version (else 412); If-Match: * "
            "only an existing record; If-None-Match: * creates only if absent (else 412).")
        .operation_id("putRecord")
        .blocking()
        .tag("records")
        .param(collection_param())
        .param(id_param())
        .param(Param::header("If-Match").max_length(80).describe("The ETag the record must have"))
        .param(Param::header("If-None-Match").max_length(8).describe("* : only if absent"))
        .body(Schema::object().describe("Any JSON object"), "The document to store")
        .response(200, "Replaced", record_schema())
        .response_header(200, "ETag", "The new version")
        .response(201, "Created", record_schema())
        .response_header(201, "ETag", "The new version")
        .error(412, "The record's ETag is not the one given, or it exists (If-None-Match: *)")
        .error(413, "The body is over the size limit");
    common_errors(r).handle([c](Request& req) {
      records::PutResult p =
          c->service->put(string_param(req, "collection"), string_param(req, "id"),
                          request_body(req), condition(req, true), req.deadline);
      return record_response(p.created ? 201 : 200, std::move(p.record), c->splice_bodies,
                             BodySource::kModel);
    });
    router.add(std::move(r));
  }
  {
    Route r(Method::kDelete, "/v1/collections/{collection}/records/{id}");
    r.summary("Delete a record")
        .operation_id("deleteRecord")
        .blocking()
        .tag("records")
        .param(collection_param())
        .param(id_param())
        .param(Param::header("If-Match").max_length(80).describe("The ETag the record must have"))
        .response_empty(204, "Deleted")
        .error(404, "No such record")
        .error(412, "The record's ETag is not the one given");
    common_errors(r).handle([c](Request& req) {
      c->service->remove(req.param<std::string>("collection"), req.param<std::string>("id"),
                         condition(req, false), req.deadline);
      return Response::empty(204);
    });
    router.add(std::move(r));
  }

  // ---------------------------------------------------------------- ops
  router.add(Route(Method::kGet, "/v1/health")
                 .summary("Liveness: the process answers")
                 .operation_id("getHealth")
                 .tag("ops")
                 .response(200, "Alive",
                           Schema::object({{"status", Schema::enumeration({"ok"})}}, {"status"})
                               .additional_properties(false))
                 .handle([](Request&) {
                   return Response::json(200, {{"status", "ok"}});
                 }));
  const Schema ready_schema =
      Schema::object({{"state", Schema::enumeration({"starting", "ready", "draining"})}}, {"state"})
          .additional_properties(false);
  router.add(Route(Method::kGet, "/v1/ready")
                 .summary("Readiness: 200 while ready, 503 while starting or draining")
                 .operation_id("getReady")
                 .tag("ops")
                 .response(200, "Ready", ready_schema)
                 .response(503, "Starting or draining", ready_schema)
                 .response_header(503, "Retry-After", "Seconds to wait")
                 .handle([c](Request&) {
                   const ipc::Phase p = c->phase();
                   Response r = Response::json(p == ipc::Phase::kReady ? 200 : 503,
                                               {{"state", std::string(ipc::to_string(p))}});
                   if (p != ipc::Phase::kReady) r.header("Retry-After", "1");
                   return r;
                 }));
  router.add(
      Route(Method::kGet, "/v1/status")
          .summary("Version, uptime, state, database and addresses")
          .operation_id("getStatus")
          .tag("ops")
          .response(200, "The gateway's status",
                    Schema::object(
                        {{"version", Schema::string()},
                         {"pid", Schema::integer()},
                         {"uptime_s", Schema::number()},
                         {"state", Schema::enumeration({"starting", "ready", "draining"})},
                         {"database", Schema::string()},
                         {"address", Schema::string()},
                         {"addresses", Schema::array(Schema::string())}},
                        {"version", "pid", "uptime_s", "state", "database", "address", "addresses"})
                        .additional_properties(false))
          .handle([c](Request&) {
            const double up =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - c->started)
                    .count();
            return Response::json(200, {{"version", kVersion},
                                        {"pid", static_cast<std::int64_t>(::getpid())},
                                        {"uptime_s", up},
                                        {"state", std::string(ipc::to_string(c->phase()))},
                                        {"database", c->service->database_path().string()},
                                        {"address", c->address},
                                        {"addresses", c->addresses}});
          }));
  router.add(Route(Method::kGet, "/metrics")
                 .summary("Prometheus metrics: requests and latency by route, database counters")
                 .operation_id("getMetrics")
                 .tag("ops")
                 .auth(ctx.metrics_open ? Auth::kNone : Auth::kBearerOrLocalUser)
                 .response_text(200, "The text exposition format 0.0.4", Metrics::kContentType)
                 .error(401, "Missing or wrong credentials")
                 .handle([c](Request&) {
                   std::vector<Family> extra = db_families(c->service->counters());
                   extra.push_back({"coordkit_gateway_ready",
                                    "1 while the gateway is ready",
                                    "gauge",
                                    {{{}, c->phase() == ipc::Phase::kReady ? 1.0 : 0.0}}});
                   return Response::text(200, Metrics::kContentType, c->metrics->render(extra));
                 }));

  // ---------------------------------------------------------------- admin
  const auto admin = [](Route r) {
    r.tag("admin")
        .auth(Auth::kBearerOrLocalUser)
        .error(401, "Missing or wrong credentials")
        .error(503, "The database stayed busy past the deadline, or the gateway is draining")
        .response_header(503, "Retry-After", "Seconds to wait")
        .error(500, "An internal failure");
    return r;
  };
  {
    Route r = admin(Route(Method::kGet, "/v1/admin/stats"));
    r.summary("Database counters (retries, write turn, group commit), request figures by route")
        .operation_id("getStats")
        .blocking()
        .response(200, "The figures",
                  Schema::object().describe("database, counters, "
                                            "collections, requests"))
        .handle([c](Request& req) {
          Json out = c->service->stats(req.deadline);
          Json routes = Json::object();
          for (const RouteFigures& f : c->metrics->snapshot()) {
            Json by_status = Json::object();
            for (const auto& [s, n] : f.by_status) by_status[std::to_string(s)] = n;
            routes[f.route] = {
                {"count", f.count},
                {"by_status", std::move(by_status)},
                {"p50_ms", f.quantile_seconds(0.5) * 1000},
                {"p99_ms", f.quantile_seconds(0.99) * 1000},
                {"mean_ms", f.count ? f.sum_seconds * 1000 / static_cast<double>(f.count) : 0.0}};
          }
          out["requests"] = std::move(routes);
          const db::Counters counters = c->service->counters();
          out["group_commit"] = {
              {"batches", counters.group_commits},
              {"writes", counters.group_commit_writes},
              {"mean_batch", counters.group_commits
                                 ? static_cast<double>(counters.group_commit_writes) /
                                       static_cast<double>(counters.group_commits)
                                 : 0.0}};
          return Response::json(200, std::move(out));
        });
    router.add(std::move(r));
  }
  {
    Route r = admin(Route(Method::kPost, "/v1/admin/checkpoint"));
    r.summary("Run a WAL checkpoint")
        .operation_id("checkpoint")
        .blocking()
        .param(Param::query("mode")
                   .one_of({"passive", "full", "restart", "truncate"})
                   .default_value("passive")
                   .describe("sqlite3_wal_checkpoint_v2's mode"))
        .response(200, "The checkpoint's figures",
                  Schema::object({{"log_frames", Schema::integer()},
                                  {"checkpointed_frames", Schema::integer()},
                                  {"busy", Schema::boolean()}},
                                 {"log_frames", "checkpointed_frames", "busy"}))
        .error(400, "A bad mode")
        .handle([c](Request& req) {
          const auto m = req.param<std::string>("mode");
          const db::CheckpointMode mode = m == "truncate"  ? db::CheckpointMode::kTruncate
                                          : m == "restart" ? db::CheckpointMode::kRestart
                                          : m == "full"    ? db::CheckpointMode::kFull
                                                           : db::CheckpointMode::kPassive;
          const db::CheckpointResult res = c->service->checkpoint(mode, req.deadline);
          return Response::json(200, {{"log_frames", res.log_frames},
                                      {"checkpointed_frames", res.checkpointed_frames},
                                      {"busy", res.busy}});
        });
    router.add(std::move(r));
  }
  {
    Route r = admin(Route(Method::kPost, "/v1/admin/check"));
    r.summary("Integrity check: quick (default) or full")
        .operation_id("check")
        .blocking()
        .param(Param::query("full").boolean().default_value(false).describe(
            "integrity_check instead of quick_check"))
        .response(200, "The verdict",
                  Schema::object({{"ok", Schema::boolean()},
                                  {"full", Schema::boolean()},
                                  {"problems", Schema::array(Schema::string())}},
                                 {"ok", "full", "problems"}))
        .error(400, "A bad parameter")
        .handle([c](Request& req) {
          const bool full = req.param<bool>("full");
          const db::CheckResult res = c->service->check(full, req.deadline);
          return Response::json(200, {{"ok", res.ok}, {"full", full}, {"problems", res.problems}});
        });
    router.add(std::move(r));
  }
  {
    Route r = admin(Route(Method::kPost, "/v1/admin/backup"));
    r.summary("Online backup into <data-dir>/backups/<name>, encrypted with the current key")
        .operation_id("backup")
        .blocking()
        .body(Schema::object({{"name", Schema::string().min_length(1).max_length(64)}}, {"name"})
                  .additional_properties(false),
              "The backup's file name ([A-Za-z0-9._-], not starting with '.'): never a path")
        .response(200, "Backed up",
                  Schema::object({{"name", Schema::string()},
                                  {"path", Schema::string()},
                                  {"bytes", Schema::integer()}},
                                 {"name", "path", "bytes"}))
        .error(400, "A bad name")
        .error(409, "A backup of that name exists")
        .handle([c](Request& req) {
          const BackupResult b =
              c->service->backup(req.body["name"].get<std::string>(), req.deadline);
          return Response::json(200, {{"name", b.name},
                                      {"path", b.path.string()},
                                      {"bytes", static_cast<std::int64_t>(b.bytes)}});
        });
    router.add(std::move(r));
  }
  {
    Route r = admin(Route(Method::kPost, "/v1/admin/rekey"));
    r.summary("Re-encrypt the database in place with a new key")
        .describe(
            "Give key_hex (64 hex digits) or passphrase. The gateway uses the new key "
            "for every connection from then on. When its key came from a key file, that "
            "file holds the new key afterwards (staged as <key file>.next, re-encrypted, "
            "renamed over: a crash at any point leaves a key file that opens the "
            "database); when it came from the environment, key_file_updated is false and "
            "the next start needs the new key there.")
        .operation_id("rekey")
        .blocking()
        .body(Schema::object({{"key_hex", Schema::string().min_length(64).max_length(64)},
                              {"passphrase", Schema::string().min_length(1).max_length(1024)}})
                  .additional_properties(false),
              "The new key: exactly one of key_hex and passphrase")
        .response(200, "Rekeyed",
                  Schema::object({{"rekeyed", Schema::boolean()},
                                  {"key_file_updated", Schema::boolean()},
                                  {"key_source", Schema::enumeration({"key_file", "environment"})},
                                  {"key_file", Schema::string()}},
                                 {"rekeyed", "key_file_updated", "key_source"}))
        .error(400,
               "Not exactly one of key_hex and passphrase, bad hex, or a passphrase a key "
               "file cannot hold")
        .handle([c](Request& req) {
          const bool hex = req.body.contains("key_hex");
          const bool pass = req.body.contains("passphrase");
          if (hex == pass) {
            throw http::Error(http::ErrorCode::kBadRequest,
                              "give exactly one of key_hex and passphrase");
          }
          const std::string& text = hex ? req.body["key_hex"].get_ref<const std::string&>()
                                        : req.body["passphrase"].get_ref<const std::string&>();
          db::Key key;
          try {
            key = hex ? db::Key::raw_hex(text) : db::Key::passphrase(text);
          } catch (const db::Error&) {
            throw http::Error(http::ErrorCode::kBadRequest, "key_hex is not 64 hex digits");
          }
          const RekeyResult done = c->service->rekey(key, text, req.deadline);
          Json out = {{"rekeyed", true},
                      {"key_file_updated", done.key_file_updated},
                      {"key_source", done.key_file.empty() ? "environment" : "key_file"}};
          if (!done.key_file.empty()) out["key_file"] = done.key_file.string();
          c->log.info("rekeyed", {{"key_file_updated", done.key_file_updated},
                                  {"key_file", done.key_file.string()}});
          return Response::json(200, std::move(out));
        });
    router.add(std::move(r));
  }
  {
    Route r = admin(Route(Method::kPost, "/v1/admin/shutdown"));
    r.summary("Stop the gateway: the same path as the shutdown file and SIGTERM")
        .operation_id("shutdown")
        .param(Param::query("mode")
                   .one_of({"graceful", "fast"})
                   .default_value("graceful")
                   .describe("graceful lets in-flight requests finish; fast cuts them"))
        .param(Param::query("deadline_ms")
                   .integer()
                   .minimum(0)
                   .maximum(600000)
                   .default_value(0)
                   .describe("Longest drain (0: --drain-timeout-ms)"))
        .response(202, "Shutting down",
                  Schema::object({{"state", Schema::enumeration({"draining"})}}, {"state"}))
        .error(400, "A bad parameter")
        .handle([c](Request& req) {
          c->request_shutdown(req.param<std::string>("mode") == "fast"
                                  ? ipc::ShutdownMode::kFast
                                  : ipc::ShutdownMode::kGraceful,
                              std::chrono::milliseconds(req.param<std::int64_t>("deadline_ms")));
          return Response::json(202, {{"state", "draining"}});
        });
    router.add(std::move(r));
  }
}

// metrics_wrapper: counts each answered request and its latency under the
// route's operation id ("unmatched" for 404/405 without a route).
inline http::Wrapper metrics_wrapper(Metrics& metrics) {
  return {"metrics", [&metrics](const http::Route& route, http::Handler next) -> http::Handler {
            const std::string name = route.operation().empty() ? "unmatched" : route.operation();
            return [&metrics, name, next = std::move(next)](http::Request& req) {
              const auto start = http::Clock::now();
              try {
                http::Response r = next(req);
                metrics.observe(name, r.status, http::Clock::now() - start);
                return r;
              } catch (...) {
                metrics.observe(name, 500, http::Clock::now() - start);
                throw;
              }
            };
          }};
}

namespace internal {

// from_row_alone: the record get's answer depends on the row alone: no
// If-None-Match (304), no query (400: the route declares none), no body
// (400), not shed by the server (503). Only such gets use the cache.
inline bool from_row_alone(const Request& req) {
  const http::BeastRequest& raw = *req.raw;
  return req.shed_ == Request::Shed::kNone && raw.body().empty() &&
         raw.target().find('?') == boost::beast::string_view::npos &&
         http::internal::find_header(raw, "If-None-Match") == nullptr;
}

// record_reads: the record get's body splice (splice_body) and its cache
// (internal/record_cache.h). A get whose answer depends on its row alone
// (from_row_alone) and whose target was answered before reads the row, as
// the route does (Service::get, read_deadline), and when the row is the
// one that answer was made from, answers with it again without running
// the route; a missing record, a busy database or a deadline then throw as
// the route would. Any other get runs the route, and its 200 is kept.
inline http::Handler record_reads(const Context& ctx, http::Handler next) {
  return [c = &ctx, cache = ctx.record_cache, next = std::move(next)](Request& req) {
    const bool cacheable = from_row_alone(req);
    const std::string_view target(req.raw->target().data(), req.raw->target().size());
    if (cacheable) {
      if (std::shared_ptr<const CachedRecord> hit = cache->find(target)) {
        const records::Record row =
            c->service->get(hit->row.collection, hit->row.id, read_deadline(*c, req));
        if (hit->matches(row)) return hit->response;
      }
    }
    Response r = next(req);
    std::optional<std::string> row = take_header(r, kRowHeader);
    std::string body = splice_body(r);
    if (cacheable && r.status == 200 && row) {
      CachedRecord e;
      if (parse_row(*row, e.row)) {
        e.row.collection = string_param(req, "collection");
        e.row.id = string_param(req, "id");
        e.row.body = std::move(body);
        e.response = r;
        cache->put(target, std::make_shared<const CachedRecord>(std::move(e)));
      }
    }
    return r;
  };
}

}  // namespace internal

// splice_bodies: on the routes that answer a record, puts its body text
// into the serialised response (record_response, splice_body), and on the
// record get keeps and reuses its answers (internal::record_reads).
// Innermost: it runs right after the router checked and serialised the
// response, so the wrappers outside it (access log, metrics) see the final
// one. `ctx` must outlive the router.
inline http::Wrapper splice_bodies(const Context& ctx) {
  return {"splice_bodies",
          [c = &ctx](const http::Route& route, http::Handler next) -> http::Handler {
            const std::string& op = route.operation();
            if (op == "getRecord") return internal::record_reads(*c, std::move(next));
            if (op != "createRecord" && op != "putRecord") return next;
            return [next = std::move(next)](http::Request& req) {
              http::Response r = next(req);
              internal::splice_body(r);
              return r;
            };
          }};
}

// use_wrappers: request id, access log, metrics, error mapping, timing,
// auth and the body splice, outermost first; turns on ctx.splice_bodies.
inline void use_wrappers(http::Router& router, Context& ctx, Metrics& metrics,
                         const log::Logger& access, std::string admin_token) {
  router.set_error_map(error_map());
  router.use(http::request_id());
  router.use(http::access_log(access));
  router.use(metrics_wrapper(metrics));
  router.use(router.map_errors());
  router.use(http::timing());
  router.use(http::auth({.bearer_token = std::move(admin_token), .local_uid = std::nullopt}));
  ctx.record_cache = std::make_shared<internal::RecordCache>();
  router.use(splice_bodies(ctx));
  ctx.splice_bodies = true;
}

}  // namespace coordkit::gateway

#endif  // COORDKIT_APPS_GATEWAY_ROUTES_H_
