// coordkit/http/router.h: the route table, and the one path every request
// takes through it: match, wrappers, validation, handler, response check.
//
// A Router holds the routes (Route, route.h), the wrappers applied to all
// of them (wrappers.h), the ErrorMap and the logger for failures. The same
// table answers GET /openapi.json (registered by the constructor), so the
// document is generated from exactly what dispatches.
//
// Per request, outermost first: request id, route match (404, 405 with
// Allow, 400 for a malformed target), the wrappers in use() order, then the
// router's own stage: the auth confirmation (401 unless an auth wrapper
// admitted the request), path/query/header parameters (400 naming the
// parameter; unknown query parameters are 400 too), the body (415, 400 for
// not JSON, 422 with pointer and rule), the handler, and, when
// validate_responses is on, the response against the declared status and
// schema (a mismatch is a 500 "response_invalid", logged at error level and
// counted). Anything a handler throws becomes the uniform error body
// through the ErrorMap; nothing escapes dispatch().
//
// Example:
//   coordkit::http::Router router({.title = "example", .version = "1.0.0"});
//   router.tag("hello", "Greetings");
//   router.add(coordkit::http::Route(coordkit::http::Method::kGet, "/hello")
//                  .summary("Say hello").operation_id("hello").tag("hello")
//                  .response(200, "A greeting", coordkit::http::Schema::object(
//                      {{"text", coordkit::http::Schema::string()}}, {"text"}))
//                  .handle([](coordkit::http::Request&) {
//                    return coordkit::http::Response::json(200, {{"text", "hi"}});
//                  }));
//   router.use(router.map_errors());
//   nlohmann::json doc = router.openapi();
#ifndef COORDKIT_HTTP_ROUTER_H_
#define COORDKIT_HTTP_ROUTER_H_

#include <atomic>
#include <boost/beast/core/buffers_range.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <charconv>
#include <cstdint>
#include <deque>
#include <exception>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "coordkit/http/error.h"
#include "coordkit/http/internal/openapi_builder.h"
#include "coordkit/http/route.h"
#include "coordkit/http/schema.h"
#include "coordkit/log/log.h"

namespace coordkit::http {

namespace internal {

// TargetParts: an origin-form target's path and query, as views of it.
struct TargetParts {
  std::string_view path;
  std::string_view query;  // after the '?'
  bool has_query = false;  // a '?' is there (the query may be empty)
};

// split_target: the parts of a target that Boost.URL parsed as origin-form
// (which has no fragment): the path up to the first '?', the query after
// it; what encoded_path(), encoded_query() and has_query() return
// (router_test compares them).
inline TargetParts split_target(std::string_view target) noexcept {
  const std::size_t q = target.find('?');
  if (q == std::string_view::npos) return {target, {}, false};
  return {target.substr(0, q), target.substr(q + 1), true};
}

// split_plain_path: appends to `out` the segments of an origin-form path
// that holds no percent-escape: the pieces between '/' after the leading
// one, none for "/". These are Boost.URL's encoded_segments() (router_test
// compares them). Returns false, appending nothing, for a path with an
// escape, or one that starts "/./", whose "./" Boost.URL drops.
inline bool split_plain_path(std::string_view path, std::vector<std::string_view>& out) {
  if (path.find('%') != std::string_view::npos || path.starts_with("/./")) return false;
  if (path.size() <= 1) return true;
  path.remove_prefix(1);
  for (;;) {
    const std::size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) return true;
    path.remove_prefix(slash + 1);
  }
}

// for_each_plain_param: calls f(key, value) for each parameter of a
// query that holds no percent-escape and no '+', in order: the pieces
// between '&', each split at its first '=' (no '=': an empty value). For
// such a query these are exactly Boost.URL's encoded_params() keys and
// values (router_test compares them); splitting a query that parsed as
// a URL's query needs no decoding, and skips Boost.URL's iterator calls.
template <class F>
void for_each_plain_param(std::string_view query, F&& f) {
  for (;;) {
    const std::size_t amp = query.find('&');
    const std::string_view piece = query.substr(0, amp);
    const std::size_t eq = piece.find('=');
    if (eq == std::string_view::npos) {
      f(piece, std::string_view());
    } else {
      f(piece.substr(0, eq), piece.substr(eq + 1));
    }
    if (amp == std::string_view::npos) return;
    query.remove_prefix(amp + 1);
  }
}

}  // namespace internal

// Router: see the top of this file.
//
// Thread-safety: tag(), add(), use() and the setters are set-up calls, made
// before the router serves; dispatch(), handle() and the readers may then
// be called from any number of threads. Not copyable or movable (handlers
// made by wrappers point back at it).
class Router {
 public:
  explicit Router(ApiInfo info = {}) : info_(std::move(info)) {
    std::random_device rd;
    id_prefix_ = (std::uint64_t{rd()} << 32) | rd();
    tag("meta", "The service's own description");
    add(Route(Method::kGet, "/openapi.json")
            .summary("This API's OpenAPI 3.1 document")
            .operation_id("getOpenApi")
            .tag("meta")
            .response(200, "The OpenAPI document", Schema::object().describe("OpenAPI 3.1"))
            .handle([this](Request&) { return Response::json(200, openapi()); }));
  }
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // tag: declares a tag routes may name. Throws kInvalidRoute for a
  // duplicate.
  Router& tag(std::string name, std::string description) {
    for (const auto& t : tags_) {
      if (t.name == name)
        throw Error(ErrorCode::kInvalidRoute, "tag '" + name + "' declared twice");
    }
    tags_.push_back({std::move(name), std::move(description)});
    return *this;
  }

  // add: registers `route` after checking it (throws Error(kInvalidRoute)
  // naming the problem): a path template of literal and {name} segments
  // whose names are exactly the path parameters; unique parameters, string
  // parameters with max_length, examples and defaults the parameter
  // accepts; a summary, a unique operation id, declared tags, a 2xx
  // response, a handler, and a (method, path) not yet taken.
  Router& add(Route route) {
    check(route);
    routes_.push_back(std::move(route));
    compiled_.push_back(compile(routes_.back()));
    rebuild();
    return *this;
  }

  // use: wraps every route's handler (and the 404/405 answer) with
  // `wrapper`; the first use() is the outermost. Routes added later are
  // wrapped too.
  Router& use(Wrapper wrapper) {
    wrappers_.push_back(std::move(wrapper));
    rebuild();
    return *this;
  }

  Router& set_error_map(ErrorMap map) {
    errors_ = std::move(map);
    return *this;
  }
  // set_logger: where handler failures (5xx) and response violations go.
  Router& set_logger(log::Logger logger) {
    log_ = std::move(logger);
    return *this;
  }
  // set_validate_responses: check each response against its route's
  // declaration (on by default; every test keeps it on).
  Router& set_validate_responses(bool on) {
    validate_responses_ = on;
    return *this;
  }

  const std::deque<Route>& routes() const noexcept { return routes_; }
  const std::vector<Wrapper>& wrappers() const noexcept { return wrappers_; }
  const std::vector<TagInfo>& tags() const noexcept { return tags_; }
  const ApiInfo& info() const noexcept { return info_; }
  const ErrorMap& error_map() const noexcept { return errors_; }
  const log::Logger& logger() const noexcept { return log_; }
  // response_violations: responses replaced by a 500 because they broke
  // their declaration.
  std::uint64_t response_violations() const noexcept { return violations_.load(); }

  // next_request_id: a fresh request id (16 hex digits), for answers the
  // server makes before a request reaches the table (431, 413, 503 ...).
  std::string next_request_id() const {
    static const BeastRequest kNone;
    return request_id_for(kNone);
  }

  // openapi: the OpenAPI 3.1.0 document of the table. Throws bad_alloc.
  Json openapi() const { return internal::build_openapi(info_, tags_, routes_); }

  // map_errors: a wrapper that turns whatever the inner handler throws into
  // the uniform error response through this router's ErrorMap (the same
  // mapping dispatch() applies to anything escaping the wrappers). Put it
  // inside the access log so the log sees the mapped status.
  Wrapper map_errors() const {
    return {"map_errors", [this](const Route&, Handler next) -> Handler {
              return [this, next = std::move(next)](Request& req) {
                try {
                  return next(req);
                } catch (...) {
                  return response_for(std::current_exception(), req);
                }
              };
            }};
  }

  // dispatch: answers `req` (whose `raw`, `peer` and `deadline` the caller
  // set): begin() then finish(), on the calling thread. Sets
  // req.request_id. Never throws.
  Response dispatch(Request& req) const noexcept {
    begin(req);
    return finish(req);
  }

  // begin: the first half of dispatch(): picks req.request_id and matches
  // the route (req.route; for a 404, 405 or malformed target the answer is
  // made by finish() all the same). Returns whether the matched route is
  // blocking (Route::blocking), so a server can choose the thread that
  // calls finish(). Cheap and never blocks; never throws.
  bool begin(Request& req) const noexcept {
    try {
      request_id_into(*req.raw, req.request_id);
      req.chain_ = match(req);
      return req.route != nullptr && req.route->is_blocking();
    } catch (...) {
      req.chain_ = nullptr;
      return false;
    }
  }

  // finish: the second half: the wrappers, the router's own stage, the
  // handler and the response check, for a request begin() matched. May be
  // called on another thread than begin() (not at the same time as
  // anything else on `req`). Never throws.
  Response finish(Request& req) const noexcept {
    try {
      if (req.chain_ == nullptr) throw Error(ErrorCode::kInternal, "the request was not matched");
      try {
        Response out = (*req.chain_)(req);
        // Headers set without header() (the public vector, a content type)
        // are checked here: nothing unsafe to send leaves the router.
        if (!out.content_type.empty()) internal::check_header("Content-Type", out.content_type);
        for (const auto& [name, value] : out.headers) internal::check_header(name, value);
        out.serialize();
        return out;
      } catch (...) {
        return response_for(std::current_exception(), req);
      }
    } catch (...) {
      Response r = Response::text(
          500, "application/json",
          R"({"error":{"code":"internal","message":"internal error","request_id":""}})");
      r.is_error = true;
      return r;
    }
  }

  // handle: dispatch() for a request read off the wire, answered as a
  // Beast response (same version, keep-alive as the client asked).
  BeastResponse handle(const BeastRequest& raw, const Peer& peer,
                       Clock::time_point deadline = Clock::time_point::max()) const {
    Request req;
    req.raw = &raw;
    req.peer = peer;
    req.deadline = deadline;
    Response r = dispatch(req);
    return to_beast(std::move(r), raw.version(), raw.keep_alive(), req.request_id);
  }

  // to_beast: `r` as a Beast response; X-Request-Id is always set.
  static BeastResponse to_beast(Response r, unsigned version, bool keep_alive,
                                const std::string& request_id) {
    BeastResponse out{static_cast<boost::beast::http::status>(r.status), version};
    // insert, not set: the message is new, so there is nothing to replace.
    if (!r.content_type.empty())
      out.insert(boost::beast::http::field::content_type, r.content_type);
    bool has_id = false;
    bool has_connection = false;
    for (auto& [name, value] : r.headers) {
      out.insert(name, value);
      has_id = has_id || boost::beast::iequals(name, "X-Request-Id");
      has_connection = has_connection || boost::beast::iequals(name, "Connection");
    }
    if (!has_id) out.insert("X-Request-Id", request_id);
    out.body() = std::move(r.body);
    // HTTP/1.1 without a Connection header already means keep-alive: only
    // another version, a close, or a handler's own Connection header needs
    // Beast to rewrite the header's tokens.
    if (version < 11 || !keep_alive || has_connection) out.keep_alive(keep_alive);
    out.prepare_payload();
    return out;
  }

  // serialize: appends to `out` what Beast's serializer writes for `res`
  // (the header, then the body, chunked if res says so).
  static boost::system::error_code serialize(const BeastResponse& res, std::string& out) {
    boost::beast::http::serializer<false, boost::beast::http::string_body> sr(res);
    boost::system::error_code ec;
    do {
      sr.next(ec, [&](boost::system::error_code&, const auto& buffers) {
        for (const auto b : boost::beast::buffers_range_ref(buffers))
          out.append(static_cast<const char*>(b.data()), b.size());
        sr.consume(boost::beast::buffer_bytes(buffers));
      });
    } while (!ec && !sr.is_done());
    return ec;
  }

  // write_response: appends to `out` the bytes serialize() writes
  // for to_beast(r, version, keep_alive, request_id), without building
  // Beast's fields (a node allocated per header, a tree, a second walk to
  // write them): the server's path for nearly every answer. Returns false,
  // and appends nothing, where only Beast's own rules settle the bytes: a
  // handler's Connection, Content-Length or Transfer-Encoding header, a
  // value with blanks at either end (Beast trims them), a status outside
  // 100-999, or a body on a status that must not have one (1xx, 204, 304).
  static bool write_response(const Response& r, unsigned version, bool keep_alive,
                             std::string_view request_id, std::string& out) {
    namespace bh = boost::beast::http;
    const unsigned s = r.status;
    if (s < 100 || s > 999 || version > 99) return false;
    if ((s < 200 || s == 204 || s == 304) && !r.body.empty()) return false;
    auto trimmed = [](std::string_view v) {
      return v.empty() ||
             (v.front() != ' ' && v.front() != '\t' && v.back() != ' ' && v.back() != '\t');
    };
    if (!trimmed(r.content_type) || !trimmed(request_id)) return false;
    bool has_id = false;
    for (const auto& [name, value] : r.headers) {
      if (boost::beast::iequals(name, "Connection") ||
          boost::beast::iequals(name, "Content-Length") ||
          boost::beast::iequals(name, "Transfer-Encoding") || !trimmed(value)) {
        return false;
      }
      has_id = has_id || boost::beast::iequals(name, "X-Request-Id");
    }
    const char line[] = {'H',
                         'T',
                         'T',
                         'P',
                         '/',
                         static_cast<char>('0' + version / 10),
                         '.',
                         static_cast<char>('0' + version % 10),
                         ' ',
                         static_cast<char>('0' + s / 100),
                         static_cast<char>('0' + s / 10 % 10),
                         static_cast<char>('0' + s % 10),
                         ' '};
    out.append(line, sizeof line);
    const auto reason = bh::obsolete_reason(static_cast<bh::status>(s));
    out.append(reason.data(), reason.size());
    out += "\r\n";
    auto field = [&out](std::string_view name, std::string_view value) {
      out.append(name);
      out += ": ";
      out.append(value);
      out += "\r\n";
    };
    if (!r.content_type.empty()) field("Content-Type", r.content_type);
    for (const auto& [name, value] : r.headers) field(name, value);
    if (!has_id) field("X-Request-Id", request_id);
    // What Beast's keep_alive() writes into an absent Connection header.
    if (version < 11 && keep_alive) field("Connection", "keep-alive");
    if (version >= 11 && !keep_alive) field("Connection", "close");
    char length[24];
    const auto end = std::to_chars(length, length + sizeof length, r.body.size()).ptr;
    field("Content-Length", std::string_view(length, static_cast<std::size_t>(end - length)));
    out += "\r\n";
    out += r.body;
    return true;
  }

  // error_response: the uniform error body for `reply` and `request_id`.
  static Response error_response(const ErrorReply& reply, const std::string& request_id) {
    Json err = {{"code", reply.code}, {"message", reply.message}, {"request_id", request_id}};
    if (!reply.parameter.empty()) err["parameter"] = reply.parameter;
    if (reply.pointer) {
      err["pointer"] = *reply.pointer;
      err["rule"] = reply.rule;
    }
    Response r = Response::json(reply.status, {{"error", std::move(err)}});
    r.headers = reply.headers;
    r.is_error = true;
    r.serialize();
    return r;
  }

  // response_for: the error response for a thrown exception; 5xx are
  // logged with the request id, the route and what() of the cause.
  Response response_for(const std::exception_ptr& ep, const Request& req) const {
    ErrorReply reply;
    std::string cause;
    try {
      std::rethrow_exception(ep);
    } catch (const coordkit::Error& e) {
      reply = errors_.reply(e);
      cause = e.what();
    } catch (const std::exception& e) {
      cause = e.what();
    } catch (...) {
      cause = "a non-standard exception";
    }
    if (reply.status >= 500) {
      log_.error("request failed",
                 {{"request_id", req.request_id},
                  {"route", req.route != nullptr ? req.route->path() : std::string()},
                  {"status", reply.status},
                  {"cause", cause}});
    }
    return error_response(reply, req.request_id);
  }

 private:
  struct Segment {
    bool is_param;
    std::string text;
  };
  struct Compiled {
    std::vector<Segment> segments;
    Handler chain;
  };

  static std::vector<Segment> split_template(const std::string& path) {
    std::vector<Segment> out;
    std::size_t pos = 1;
    while (pos <= path.size()) {
      std::size_t end = path.find('/', pos);
      if (end == std::string::npos) end = path.size();
      std::string seg = path.substr(pos, end - pos);
      if (seg.size() >= 2 && seg.front() == '{' && seg.back() == '}') {
        out.push_back({true, seg.substr(1, seg.size() - 2)});
      } else {
        out.push_back({false, seg});
      }
      pos = end + 1;
    }
    return out;
  }

  void check(const Route& r) const {
    auto bad = [&](const std::string& what) {
      return Error(ErrorCode::kInvalidRoute,
                   std::string(method_name(r.method())) + " " + r.path() + ": " + what);
    };
    if (r.path().empty() || r.path().front() != '/') throw bad("the path must start with '/'");
    std::set<std::string> path_names;
    for (const auto& seg : split_template(r.path())) {
      if (seg.is_param) {
        if (seg.text.empty() || !path_names.insert(seg.text).second)
          throw bad("bad or repeated {name}");
      } else if (seg.text.find_first_of("{}") != std::string::npos) {
        throw bad("a template parameter must be a whole segment");
      }
    }
    std::set<std::pair<int, std::string>> seen;
    std::set<std::string> declared_path;
    for (const auto& p : r.params()) {
      std::string key = p.name();
      if (p.in() == In::kHeader) {
        for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (key == "authorization" || key == "content-type" || key == "accept") {
          throw bad("header parameter '" + p.name() + "' is handled by the library");
        }
      }
      if (p.name().empty() || !seen.insert({static_cast<int>(p.in()), key}).second) {
        throw bad("parameter '" + p.name() + "' is empty or declared twice");
      }
      if (p.in() == In::kPath) declared_path.insert(p.name());
      if (p.param_type() == ParamType::kString && !p.max_length_value()) {
        throw bad("string parameter '" + p.name() + "' needs max_length");
      }
      if (p.in() == In::kPath && p.default_json())
        throw bad("path parameter '" + p.name() + "' has a default");
      for (const auto* sample : {&p.example_json(), &p.default_json()}) {
        if (!*sample) continue;
        try {
          if (p.parse(Param::raw_text(**sample)) != **sample)
            throw bad("example/default of '" + p.name() + "'");
        } catch (const Error&) {
          throw bad("parameter '" + p.name() + "' rejects its own example or default");
        }
      }
      try {
        p.parse(p.valid_example());
      } catch (const Error&) {
        throw bad("parameter '" + p.name() +
                  "' needs an example (its pattern rejects the generated one)");
      }
    }
    if (declared_path != path_names)
      throw bad("path parameters and {names} in the template differ");
    if (r.summary_text().empty()) throw bad("no summary");
    if (r.operation().empty()) throw bad("no operation id");
    if (!r.handler()) throw bad("no handler");
    if (r.tags().empty()) throw bad("no tag");
    for (const auto& t : r.tags()) {
      bool known = false;
      for (const auto& d : tags_) known = known || d.name == t;
      if (!known) throw bad("tag '" + t + "' is not declared (Router::tag)");
    }
    std::set<unsigned> statuses;
    bool has_2xx = false;
    for (const auto& resp : r.responses()) {
      if (resp.status < 100 || resp.status > 599 || !statuses.insert(resp.status).second) {
        throw bad("response status " + std::to_string(resp.status) + " is invalid or repeated");
      }
      if (resp.description.empty())
        throw bad("response " + std::to_string(resp.status) + " has no description");
      has_2xx = has_2xx || (resp.status >= 200 && resp.status < 300 && !resp.is_error);
    }
    if (!has_2xx) throw bad("no 2xx response");
    for (const auto& other : routes_) {
      if (other.operation() == r.operation())
        throw bad("operation id '" + r.operation() + "' is taken");
      if (other.method() == r.method() && other.path() == r.path()) throw bad("declared twice");
    }
  }

  Compiled compile(const Route& r) const { return {split_template(r.path()), Handler()}; }

  // core: the router's own stage for `route`, inside every wrapper.
  Handler core(const Route& route, const std::vector<Segment>& segments) const {
    return [this, &route, &segments](Request& req) { return run(route, segments, req); };
  }

  void rebuild() {
    for (std::size_t i = 0; i < routes_.size(); ++i) {
      Handler h = core(routes_[i], compiled_[i].segments);
      for (auto it = wrappers_.rbegin(); it != wrappers_.rend(); ++it)
        h = it->wrap(routes_[i], std::move(h));
      compiled_[i].chain = std::move(h);
    }
    Handler h = [](Request& req) -> Response { throw unmatched_error(req); };
    for (auto it = wrappers_.rbegin(); it != wrappers_.rend(); ++it)
      h = it->wrap(unmatched_route_, std::move(h));
    unmatched_chain_ = std::move(h);
  }

  static Error unmatched_error(const Request& req) {
    switch (req.unmatched_) {
      case Request::Unmatched::kBadTarget:
        return Error(ErrorCode::kBadRequest, "the request target is not a valid origin-form path");
      case Request::Unmatched::kMethodNotAllowed:
      case Request::Unmatched::kUnknownMethod:
        return std::move(Error(ErrorCode::kMethodNotAllowed, "the path does not take this method")
                             .with_header("Allow", req.allow_));
      default:
        return Error(ErrorCode::kNotFound, "no route for this path");
    }
  }

  std::string request_id_for(const BeastRequest& raw) const {
    std::string id;
    request_id_into(raw, id);
    return id;
  }

  // request_id_into: the request id for `raw`, written into `out` (whose
  // memory a reused Request keeps: no allocation per request).
  void request_id_into(const BeastRequest& raw, std::string& out) const {
    if (const auto* it = internal::find_header(raw, "X-Request-Id")) {
      auto v = it->value();
      bool ok = !v.empty() && v.size() <= 64;
      for (char c : v) {
        ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.');
      }
      if (ok) {
        out.assign(v.data(), v.size());
        return;
      }
    }
    static constexpr char kHex[] = "0123456789abcdef";
    std::uint64_t n = id_prefix_ + counter_.fetch_add(1, std::memory_order_relaxed);
    out.assign(16, '0');
    for (int i = 15; i >= 0; --i, n >>= 4) out[static_cast<std::size_t>(i)] = kHex[n & 0xF];
  }

  // match: the chain for `req`, with req.route and path_values_ set;
  // the unmatched chain (404/405/400) otherwise.
  const Handler* match(Request& req) const {
    const auto& raw = *req.raw;
    req.route = nullptr;
    auto parsed = boost::urls::parse_origin_form(
        boost::core::string_view(raw.target().data(), raw.target().size()));
    if (!parsed) {
      req.unmatched_ = Request::Unmatched::kBadTarget;
      req.route = &unmatched_route_;
      return &unmatched_chain_;
    }
    const boost::urls::url_view& url = *parsed;
    const std::string_view path =
        internal::split_target({raw.target().data(), raw.target().size()}).path;
    const std::string_view method_text(raw.method_string().data(), raw.method_string().size());
    const auto method = parse_method(method_text);
    // The path's segments, in buffers each thread keeps (their capacity
    // survives from one request to the next). A path without a
    // percent-escape decodes to itself: its segments are views of the
    // target, split as Boost.URL splits it, with no copy and no decoding.
    thread_local std::vector<std::string> decoded;
    thread_local std::vector<std::string_view> segs;
    segs.clear();
    if (!internal::split_plain_path(path, segs)) {
      decoded.clear();
      for (auto s : url.segments()) decoded.push_back(std::move(s));
      for (const auto& s : decoded) segs.emplace_back(s);
    }
    // A path of "/" has one empty segment in the templates' split.
    if (segs.empty()) segs.emplace_back();
    const Compiled* best = nullptr;
    const Route* best_route = nullptr;
    std::uint64_t best_score = 0;
    bool matched_path = false;
    std::string allow;
    for (std::size_t i = 0; i < routes_.size(); ++i) {
      const auto& c = compiled_[i];
      if (c.segments.size() != segs.size()) continue;
      std::uint64_t score = 1;
      bool ok = true;
      for (std::size_t k = 0; k < segs.size() && ok; ++k) {
        if (c.segments[k].is_param) {
          ok = !segs[k].empty();
          score <<= 1;
        } else {
          ok = c.segments[k].text == segs[k];
          score = (score << 1) | 1;
        }
      }
      if (!ok) continue;
      matched_path = true;
      if (method && routes_[i].method() == *method && score > best_score) {
        best = &c;
        best_route = &routes_[i];
        best_score = score;
      }
    }
    if (best == nullptr && matched_path) {
      // Allow: every method of the templates this path matches.
      for (std::size_t i = 0; i < routes_.size(); ++i) {
        if (!matches(compiled_[i].segments, segs)) continue;
        if (allow.find(method_name(routes_[i].method())) == std::string::npos) {
          if (!allow.empty()) allow += ", ";
          allow += method_name(routes_[i].method());
        }
      }
    }
    if (best == nullptr) {
      req.route = &unmatched_route_;
      req.unmatched_ =
          allow.empty() ? Request::Unmatched::kNotFound : Request::Unmatched::kMethodNotAllowed;
      req.allow_ = std::move(allow);
      return &unmatched_chain_;
    }
    req.route = best_route;
    for (std::size_t k = 0; k < segs.size(); ++k) {
      if (best->segments[k].is_param) req.path_values_.emplace_back(segs[k]);
    }
    return &best->chain;
  }

  static bool matches(const std::vector<Segment>& tmpl, const std::vector<std::string_view>& segs) {
    if (tmpl.size() != segs.size()) return false;
    for (std::size_t k = 0; k < segs.size(); ++k) {
      if (tmpl[k].is_param ? segs[k].empty() : tmpl[k].text != segs[k]) return false;
    }
    return true;
  }

  static bool is_json_type(std::string_view ct) {
    std::string lower;
    for (char c : ct.substr(0, ct.find(';'))) {
      if (c != ' ' && c != '\t')
        lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return lower == "application/json";
  }

  Response run(const Route& route, const std::vector<Segment>& segments, Request& req) const {
    if (req.shed_ != Request::Shed::kNone) {
      throw std::move(Error(ErrorCode::kUnavailable, req.shed_ == Request::Shed::kPoolFull
                                                         ? "the server is busy"
                                                         : "the request waited past its deadline")
                          .with_header("Retry-After", "1"));
    }
    if (route.auth_requirement() != Auth::kNone && req.principal.empty()) {
      throw std::move(Error(ErrorCode::kUnauthorized, "this route needs credentials")
                          .with_header("WWW-Authenticate", "Bearer"));
    }
    const auto& raw = *req.raw;
    // Path parameters, in template order.
    std::size_t k = 0;
    for (const auto& seg : segments) {
      if (!seg.is_param) continue;
      const Param* p = route.find_param(In::kPath, seg.text);
      req.params[p->name()] = p->parse(req.path_values_.at(k++));
    }
    // Query parameters: each at most once, none undeclared.
    auto query_param = [&](std::string_view key, std::string_view value) {
      const Param* p = route.find_param(In::kQuery, key);
      if (p == nullptr) {
        throw std::move(Error(ErrorCode::kInvalidParameter,
                              "unknown query parameter '" + std::string(key) + "'")
                            .with_parameter(std::string(key)));
      }
      if (req.params.contains(p->name())) {
        throw std::move(Error(ErrorCode::kInvalidParameter,
                              "query parameter '" + std::string(key) + "' given twice")
                            .with_parameter(std::string(key)));
      }
      req.params[p->name()] = p->parse(value);
    };
    // As with the path: a query without a percent-escape or a '+' (a
    // space) decodes to itself, so its keys and values are used as split;
    // one with them is decoded by Boost.URL, from the target parsed again.
    // No '?' is no parameter; a bare '?' is one empty key, as in Boost.URL.
    const std::string_view target(raw.target().data(), raw.target().size());
    const internal::TargetParts parts = internal::split_target(target);
    if (parts.has_query && parts.query.find_first_of("%+") == std::string_view::npos) {
      internal::for_each_plain_param(parts.query, query_param);
    } else if (parts.has_query) {
      const auto url = boost::urls::parse_origin_form(target);
      for (auto q : url->params(boost::urls::encoding_opts(true))) query_param(q.key, q.value);
    }
    for (const auto& p : route.params()) {
      if (p.in() == In::kHeader) {
        if (const auto* it = internal::find_header(raw, p.name())) {
          req.params[p.name()] = p.parse(std::string_view(it->value().data(), it->value().size()));
        }
      }
      if (p.in() == In::kPath || req.params.contains(p.name())) continue;
      if (p.default_json()) {
        req.params[p.name()] = *p.default_json();
      } else if (p.is_required()) {
        throw std::move(
            Error(ErrorCode::kMissingParameter,
                  std::string(in_name(p.in())) + " parameter '" + p.name() + "' is required")
                .with_parameter(p.name()));
      }
    }
    // Body.
    if (route.body_schema()) {
      if (raw.body().empty()) {
        if (route.body_required()) throw Error(ErrorCode::kInvalidJson, "a JSON body is required");
      } else {
        auto ct = raw.find(boost::beast::http::field::content_type);
        if (ct == raw.end() ||
            !is_json_type(std::string_view(ct->value().data(), ct->value().size()))) {
          throw Error(ErrorCode::kUnsupportedMediaType, "the body must be application/json");
        }
        req.body = Json::parse(raw.body(), nullptr, false);
        if (req.body.is_discarded()) {
          req.body = nullptr;
          throw Error(ErrorCode::kInvalidJson, "the body is not JSON");
        }
        if (auto v = route.body_schema()->validate(req.body)) {
          throw std::move(
              Error(ErrorCode::kSchemaViolation, "the body breaks its schema: " + v->message)
                  .with_pointer(v->pointer, v->rule));
        }
      }
    } else if (!raw.body().empty()) {
      throw Error(ErrorCode::kBadRequest, "this route takes no body");
    }
    Response out = route.handler()(req);
    if (validate_responses_) check_response(route, req, out);
    out.serialize();
    return out;
  }

  void check_response(const Route& route, const Request& req, const Response& out) const {
    auto violation = [&](const std::string& what) {
      violations_.fetch_add(1, std::memory_order_relaxed);
      log_.error("response breaks its declaration", {{"request_id", req.request_id},
                                                     {"route", route.path()},
                                                     {"status", out.status},
                                                     {"problem", what}});
      return Error(ErrorCode::kResponseInvalid, "the handler's response breaks its declaration");
    };
    const ResponseSpec* spec = route.find_response(out.status);
    if (spec == nullptr)
      throw violation("status " + std::to_string(out.status) + " is not declared");
    const Json* value = out.value ? &*out.value : nullptr;
    if (value == nullptr && out.prepared) value = &out.prepared->value();
    // check: `value` against `schema`; a PreparedJson that passed it once
    // is not checked again.
    auto check = [&](const Schema& schema, const char* where) {
      if (out.prepared && out.prepared->passed(&schema)) return;
      if (auto v = schema.validate(*value)) throw violation(where + v->pointer + "': " + v->rule);
      if (out.prepared) out.prepared->remember_passed(&schema);
    };
    if (spec->is_error) {
      if (value == nullptr) throw violation("an error status without the uniform error body");
      check(error_validator(), "error body at '");
      return;
    }
    if (spec->content_type.empty()) {
      if (value != nullptr || !out.body.empty())
        throw violation("a body on a status declared empty");
      return;
    }
    if (out.content_type != spec->content_type)
      throw violation("content type '" + out.content_type + "'");
    if (spec->schema) {
      if (value == nullptr) throw violation("not a JSON value");
      check(*spec->schema, "at '");
    }
  }

  static const Schema& error_validator() {
    static const Schema kError =
        Schema::object({{"error", Schema::object({{"code", Schema::string()},
                                                  {"message", Schema::string()},
                                                  {"request_id", Schema::string()},
                                                  {"parameter", Schema::string()},
                                                  {"pointer", Schema::string()},
                                                  {"rule", Schema::string()}},
                                                 {"code", "message", "request_id"})
                                      .additional_properties(false)}},
                       {"error"});
    return kError;
  }

  ApiInfo info_;
  std::vector<TagInfo> tags_;
  std::deque<Route> routes_;
  std::deque<Compiled> compiled_;
  std::vector<Wrapper> wrappers_;
  Route unmatched_route_ = Route(Method::kGet, "");
  Handler unmatched_chain_;
  ErrorMap errors_;
  log::Logger log_;
  bool validate_responses_ = true;
  std::uint64_t id_prefix_ = 0;
  mutable std::atomic<std::uint64_t> counter_{0};
  mutable std::atomic<std::uint64_t> violations_{0};
};

}  // namespace coordkit::http

#endif  // COORDKIT_HTTP_ROUTER_H_
