// coordkit/http/route.h: what one route declares (Route, Param, responses),
// what its handler receives (Request) and returns (Response), and the shape
// of a wrapper.
//
// A Route is declared once and then only read: the Router dispatches on it,
// validates parameters and bodies against it, checks its auth requirement
// and writes it into /openapi.json. Wrappers receive the Route as const and
// can only wrap its handler, so no wrapper can add, drop or rename a
// declared parameter.
//
// Example:
//   using namespace coordkit::http;
//   Route get_record =
//       Route(Method::kGet, "/v1/collections/{collection}/records/{id}")
//           .summary("Read one record")
//           .operation_id("getRecord")
//           .tag("records")
//           .auth(Auth::kBearer)
//           .param(Param::path("collection").max_length(64).describe("Collection name"))
//           .param(Param::path("id").max_length(128).describe("Record id"))
//           .param(Param::header("If-None-Match").max_length(80).describe("A known ETag"))
//           .response(200, "The record", Schema::object({{"id", Schema::string()}}, {"id"}))
//           .response_header(200, "ETag", "The record's version")
//           .error(404, "No such record")
//           .handle([](Request& req) {
//             return Response::json(200, {{"id", req.param<std::string>("id")}})
//                 .header("ETag", "\"1\"");
//           });
#ifndef COORDKIT_HTTP_ROUTE_H_
#define COORDKIT_HTTP_ROUTE_H_

#include <sys/types.h>

#include <algorithm>
#include <atomic>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "coordkit/http/error.h"
#include "coordkit/http/internal/pattern.h"
#include "coordkit/http/schema.h"

namespace coordkit::http {

using Json = nlohmann::json;
using BeastRequest = boost::beast::http::request<boost::beast::http::string_body>;
using BeastResponse = boost::beast::http::response<boost::beast::http::string_body>;
using Clock = std::chrono::steady_clock;

// Method: the methods a route may declare.
enum class Method { kGet, kPost, kPut, kPatch, kDelete };

constexpr std::string_view method_name(Method m) noexcept {
  switch (m) {
    case Method::kGet:
      return "GET";
    case Method::kPost:
      return "POST";
    case Method::kPut:
      return "PUT";
    case Method::kPatch:
      return "PATCH";
    case Method::kDelete:
      return "DELETE";
  }
  return "GET";
}

// parse_method: the Method named `text` (exact, upper case), or nullopt.
constexpr std::optional<Method> parse_method(std::string_view text) noexcept {
  for (Method m : {Method::kGet, Method::kPost, Method::kPut, Method::kPatch, Method::kDelete}) {
    if (method_name(m) == text) return m;
  }
  return std::nullopt;
}

// Auth: what a route requires. kLocalUser admits a peer on the Unix socket
// whose uid is the server's own (SO_PEERCRED); kBearerOrLocalUser admits
// either. The check is made by an auth wrapper (wrappers.h) and confirmed
// by the router, so a route that needs auth fails closed (401) when no auth
// wrapper is installed.
enum class Auth { kNone, kBearer, kLocalUser, kBearerOrLocalUser };

// In: where a parameter is read from.
enum class In { kPath, kQuery, kHeader };

constexpr std::string_view in_name(In in) noexcept {
  switch (in) {
    case In::kPath:
      return "path";
    case In::kQuery:
      return "query";
    case In::kHeader:
      return "header";
  }
  return "query";
}

// ParamType: the type a parameter's text is parsed into.
enum class ParamType { kString, kInteger, kNumber, kBoolean, kEnum };

// Param: one declared path, query or header parameter. Built with
// Param::path / query / header and the chained setters; a string parameter
// must declare max_length (so every parameter has a malformed form, and no
// unbounded text reaches a handler). Path parameters are always required.
// Immutable once in a Route; thread-safe to read.
class Param {
 public:
  static Param path(std::string name) { return Param(std::move(name), In::kPath, true); }
  static Param query(std::string name) { return Param(std::move(name), In::kQuery, false); }
  static Param header(std::string name) { return Param(std::move(name), In::kHeader, false); }

  Param& integer() { return type(ParamType::kInteger); }
  Param& number() { return type(ParamType::kNumber); }
  Param& boolean() { return type(ParamType::kBoolean); }
  Param& one_of(std::vector<std::string> values) {
    enum_ = std::move(values);
    return type(ParamType::kEnum);
  }
  Param& required(bool yes = true) {
    required_ = yes || in_ == In::kPath;
    return *this;
  }
  Param& default_value(Json value) {
    default_ = std::move(value);
    return *this;
  }
  Param& example(Json value) {
    example_ = std::move(value);
    return *this;
  }
  Param& minimum(double v) {
    minimum_ = v;
    return *this;
  }
  Param& maximum(double v) {
    maximum_ = v;
    return *this;
  }
  Param& min_length(std::size_t n) {
    min_length_ = n;
    return *this;
  }
  Param& max_length(std::size_t n) {
    max_length_ = n;
    return *this;
  }
  // pattern: an ECMAScript regular expression the value must contain a
  // match of (JSON Schema's unanchored `pattern`; anchor it with ^...$).
  // Throws std::regex_error for an invalid one. The usual shapes (an
  // anchored character class with a count, such as `^[A-Za-z0-9._-]+$`)
  // are checked per request by a compiled class-and-count matcher, the
  // rest by std::regex; both give the same answers.
  Param& pattern(std::string re) {
    auto regex = std::make_shared<const std::regex>(re, std::regex::ECMAScript);
    auto fast = internal::CompiledPattern::compile(re);
    pattern_ = std::move(re);
    if (fast) {
      fast_ = std::make_shared<const internal::CompiledPattern>(std::move(*fast));
      regex_.reset();
    } else {
      fast_.reset();
      regex_ = std::move(regex);
    }
    return *this;
  }
  Param& describe(std::string text) {
    description_ = std::move(text);
    return *this;
  }

  const std::string& name() const noexcept { return name_; }
  In in() const noexcept { return in_; }
  ParamType param_type() const noexcept { return type_; }
  bool is_required() const noexcept { return required_; }
  const std::optional<Json>& default_json() const noexcept { return default_; }
  const std::optional<Json>& example_json() const noexcept { return example_; }
  const std::string& description() const noexcept { return description_; }
  const std::optional<std::size_t>& max_length_value() const noexcept { return max_length_; }
  const std::string& pattern_text() const noexcept { return pattern_; }

  // parse: the typed value of `raw` (a JSON string, integer, number or
  // boolean), or throws Error(kInvalidParameter) naming the parameter.
  Json parse(std::string_view raw) const {
    auto bad = [&](const char* what) {
      return Error(ErrorCode::kInvalidParameter,
                   std::string(in_name(in_)) + " parameter '" + name_ + "' " + what)
          .with_parameter(name_);
    };
    switch (type_) {
      case ParamType::kInteger: {
        std::int64_t v = 0;
        auto [end, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), v);
        if (ec != std::errc() || end != raw.data() + raw.size() || raw.empty()) {
          throw bad("is not an integer");
        }
        if ((minimum_ && static_cast<double>(v) < *minimum_) ||
            (maximum_ && static_cast<double>(v) > *maximum_)) {
          throw bad("is out of range");
        }
        return v;
      }
      case ParamType::kNumber: {
        double v = 0;
        auto [end, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), v);
        if (ec != std::errc() || end != raw.data() + raw.size() || raw.empty() || v != v) {
          throw bad("is not a number");
        }
        if ((minimum_ && v < *minimum_) || (maximum_ && v > *maximum_))
          throw bad("is out of range");
        return v;
      }
      case ParamType::kBoolean:
        if (raw == "true") return true;
        if (raw == "false") return false;
        throw bad("is not true or false");
      case ParamType::kEnum:
        for (const auto& one : enum_) {
          if (one == raw) return one;
        }
        throw bad("is not one of the allowed values");
      case ParamType::kString: {
        std::size_t points = 0;
        for (unsigned char c : raw) points += (c & 0xC0) != 0x80 ? 1 : 0;
        if (min_length_ && points < *min_length_) throw bad("is too short");
        if (max_length_ && points > *max_length_) throw bad("is too long");
        if ((fast_ && !fast_->matches(raw)) ||
            (regex_ && !std::regex_search(raw.begin(), raw.end(), *regex_))) {
          throw bad("does not match its pattern");
        }
        return std::string(raw);
      }
    }
    throw bad("has an unknown type");
  }

  // schema_json: the parameter's JSON Schema (type and constraints).
  Json schema_json() const {
    Json s;
    switch (type_) {
      case ParamType::kString:
      case ParamType::kEnum:
        s["type"] = "string";
        break;
      case ParamType::kInteger:
        s["type"] = "integer";
        break;
      case ParamType::kNumber:
        s["type"] = "number";
        break;
      case ParamType::kBoolean:
        s["type"] = "boolean";
        break;
    }
    if (type_ == ParamType::kEnum) s["enum"] = enum_;
    auto number = [&](const char* key, double v) {
      if (type_ == ParamType::kInteger) {
        s[key] = static_cast<std::int64_t>(v);
      } else {
        s[key] = v;
      }
    };
    if (minimum_) number("minimum", *minimum_);
    if (maximum_) number("maximum", *maximum_);
    if (min_length_) s["minLength"] = *min_length_;
    if (max_length_) s["maxLength"] = *max_length_;
    if (!pattern_.empty()) s["pattern"] = pattern_;
    if (default_) s["default"] = *default_;
    return s;
  }

  // raw_text: `value` (a parsed value) written back as request text.
  static std::string raw_text(const Json& value) {
    return value.is_string() ? value.get<std::string>() : value.dump();
  }

  // valid_example: a value the parameter accepts (its example, its default,
  // or one made from its constraints), as request text. For tests and docs.
  std::string valid_example() const {
    if (example_) return raw_text(*example_);
    if (default_) return raw_text(*default_);
    switch (type_) {
      case ParamType::kInteger:
      case ParamType::kNumber: {
        double v = minimum_ ? *minimum_ : (maximum_ && *maximum_ < 1 ? *maximum_ : 1);
        return type_ == ParamType::kInteger ? std::to_string(static_cast<std::int64_t>(v))
                                            : Json(v).dump();
      }
      case ParamType::kBoolean:
        return "true";
      case ParamType::kEnum:
        return enum_.empty() ? "" : enum_.front();
      case ParamType::kString:
        return std::string(min_length_ ? std::max<std::size_t>(*min_length_, 1) : 1, 'a');
    }
    return "";
  }

  // malformed_example: request text the parameter rejects with a 400.
  std::string malformed_example() const {
    switch (type_) {
      case ParamType::kInteger:
        return "not-an-integer";
      case ParamType::kNumber:
        return "not-a-number";
      case ParamType::kBoolean:
        return "maybe";
      case ParamType::kEnum: {
        std::string v = "not-one-of-them";
        for (const auto& one : enum_) v += one;
        return v;
      }
      case ParamType::kString:
        return std::string(max_length_.value_or(0) + 1, 'x');
    }
    return "";
  }

 private:
  Param(std::string name, In in, bool required)
      : name_(std::move(name)), in_(in), required_(required) {}
  Param& type(ParamType t) {
    type_ = t;
    return *this;
  }

  std::string name_;
  In in_;
  ParamType type_ = ParamType::kString;
  bool required_;
  std::optional<Json> default_;
  std::optional<Json> example_;
  std::optional<double> minimum_;
  std::optional<double> maximum_;
  std::optional<std::size_t> min_length_;
  std::optional<std::size_t> max_length_;
  std::vector<std::string> enum_;
  std::string pattern_;
  // One of the two when a pattern is set: the compiled matcher for the
  // shapes it takes, std::regex for the others.
  std::shared_ptr<const internal::CompiledPattern> fast_;
  std::shared_ptr<const std::regex> regex_;
  std::string description_;
};

// ResponseSpec: one declared status of a route. A JSON response has a
// schema; a text response (Prometheus /metrics) a content type and no
// schema; an empty one (204) neither. `is_error` statuses carry the
// uniform error body.
struct ResponseSpec {
  struct HeaderSpec {
    std::string name;
    std::string description;
  };
  unsigned status = 200;
  std::string description;
  std::string content_type;  // "" for no body
  std::optional<Schema> schema;
  bool is_error = false;
  std::vector<HeaderSpec> headers;
};

// Peer: who is on the other end of the connection.
struct Peer {
  enum class Transport { kNone, kTcp, kUnix };
  Transport transport = Transport::kNone;
  std::optional<uid_t> uid;  // the Unix socket peer's uid (SO_PEERCRED)
  std::string address;       // "127.0.0.1:5123" or the socket path
};

class Route;
struct Request;
struct Response;

// Handler: a plain function of the request. It may throw http::Error (or
// any coordkit::Error the ErrorMap knows); anything else is a 500.
using Handler = std::function<Response(Request&)>;

// Request: what a handler receives. Parameters and body are validated
// before the handler runs: params() holds every declared parameter that was
// given or has a default, typed (string, integer, number, boolean); body()
// holds the parsed body (null when the route declares none).
struct Request {
  const Route* route = nullptr;
  const BeastRequest* raw = nullptr;  // the request as read (headers, target, body text)
  Json params = Json::object();
  Json body;
  std::string request_id;
  // deadline: when the server stops waiting for this request's answer.
  Clock::time_point deadline = Clock::time_point::max();
  Peer peer;
  // principal: who the auth wrapper admitted ("bearer", "uid:1000"); empty
  // when the route needs no auth or none was checked yet.
  std::string principal;
  // started: when dispatch began (for timing and access logs).
  Clock::time_point started = Clock::now();

  // param: the typed value of a declared parameter. Throws
  // Error(kInternal) if the name is not declared or has no value (check
  // has_param() for an optional one without default).
  template <class T>
  T param(std::string_view name) const {
    auto it = params.find(name);
    if (it == params.end()) {
      throw Error(ErrorCode::kInternal, "parameter '" + std::string(name) + "' has no value");
    }
    return it->get<T>();
  }
  bool has_param(std::string_view name) const { return params.contains(name); }

  // Set and read by the router alone: the decoded path values in template
  // order, and why a request matched no route.
  enum class Unmatched { kNone, kBadTarget, kNotFound, kMethodNotAllowed, kUnknownMethod };
  std::vector<std::string> path_values_;
  Unmatched unmatched_ = Unmatched::kNone;
  std::string allow_;
  // Set by the server: a blocking route's request that was not run,
  // answered 503 with Retry-After through the route's wrappers (so the
  // access log and metrics see it): the blocking pool's queue was full,
  // or the request's deadline passed while it waited there.
  enum class Shed { kNone, kPoolFull, kExpired };
  Shed shed_ = Shed::kNone;
  const Handler* chain_ = nullptr;  // the matched handler chain (Router::begin)

  // reset: back to a fresh Request for the next request on a connection,
  // keeping the memory its strings and containers already hold; `now` is
  // its new `started` (a server that already read the clock passes it).
  void reset(Clock::time_point now = Clock::now()) {
    route = nullptr;
    raw = nullptr;
    if (params.is_object()) {
      params.clear();
    } else {
      params = Json::object();
    }
    body = nullptr;
    request_id.clear();
    deadline = Clock::time_point::max();
    peer = Peer{};
    principal.clear();
    started = now;
    path_values_.clear();
    unmatched_ = Unmatched::kNone;
    allow_.clear();
    shed_ = Shed::kNone;
    chain_ = nullptr;
  }

  // header: a request header's value ("" when absent).
  std::string_view header(std::string_view name) const;
};

namespace internal {

// find_header: the first field of `raw` named `name` (letter case aside),
// or nullptr. A walk over the few fields a request has, comparing lengths
// first: cheaper than Beast's ordered lookup, which compares names letter
// by letter down its tree, and it finds the same field (the first one
// received among equal names).
inline const BeastRequest::fields_type::value_type* find_header(const BeastRequest& raw,
                                                                std::string_view name) noexcept {
  for (const auto& f : raw) {
    const auto n = f.name_string();
    if (n.size() != name.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < n.size() && same; ++i) {
      char a = n[i];
      char b = name[i];
      if (a >= 'A' && a <= 'Z') a = static_cast<char>(a - 'A' + 'a');
      if (b >= 'A' && b <= 'Z') b = static_cast<char>(b - 'A' + 'a');
      same = a == b;
    }
    if (same) return &f;
  }
  return nullptr;
}

// plain_json_text: whether nlohmann's dump writes `s` as it is between its
// quotes: printable ASCII without '"' or '\\'.
inline bool plain_json_text(std::string_view s) noexcept {
  for (const char c : s) {
    if (c < 0x20 || c > 0x7E || c == '"' || c == '\\') return false;
  }
  return true;
}

// dump_compact: appends `v` as nlohmann's compact dump (with invalid UTF-8
// replaced) writes it. Objects, arrays, integers, booleans, null and plain
// strings are written here, without the serializer nlohmann sets up per
// call (a locale query, a heap adapter, a virtual call per character);
// anything else (a string to escape, a float, binary) is written by
// nlohmann itself, so the bytes are always its own.
inline void dump_compact(const Json& v, std::string& out) {
  switch (v.type()) {
    case Json::value_t::object: {
      out += '{';
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!first) out += ',';
        first = false;
        if (plain_json_text(it.key())) {
          out += '"';
          out += it.key();
          out += '"';
        } else {
          out += Json(it.key()).dump(-1, ' ', false, Json::error_handler_t::replace);
        }
        out += ':';
        dump_compact(it.value(), out);
      }
      out += '}';
      return;
    }
    case Json::value_t::array: {
      out += '[';
      bool first = true;
      for (const auto& item : v) {
        if (!first) out += ',';
        first = false;
        dump_compact(item, out);
      }
      out += ']';
      return;
    }
    case Json::value_t::string: {
      const auto& str = v.get_ref<const std::string&>();
      if (!plain_json_text(str)) break;
      out += '"';
      out += str;
      out += '"';
      return;
    }
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: {
      char buf[24];
      const auto r = v.is_number_unsigned()
                         ? std::to_chars(buf, buf + sizeof buf, v.get<std::uint64_t>())
                         : std::to_chars(buf, buf + sizeof buf, v.get<std::int64_t>());
      out.append(buf, r.ptr);
      return;
    }
    case Json::value_t::boolean:
      out += v.get<bool>() ? "true" : "false";
      return;
    case Json::value_t::null:
      out += "null";
      return;
    default:
      break;
  }
  out += v.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// check_header: throws Error(kResponseInvalid) unless `name: value` can be
// sent as a response header as it is: the name an HTTP token (RFC 9110
// 5.6.2), the value free of control characters other than HTAB (5.5).
// Neither Beast nor the server's own writer escapes a header, so a CR or LF
// in a value a handler copied from a client would otherwise end the header
// there and start one, or a whole response, of the client's choosing.
inline void check_header(std::string_view name, std::string_view value) {
  auto token_char = [](unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
  };
  if (name.empty() || !std::all_of(name.begin(), name.end(), token_char))
    throw Error(ErrorCode::kResponseInvalid, "a response header's name is not a token");
  for (const char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && u != '\t') || u == 0x7f) {
      throw Error(ErrorCode::kResponseInvalid,
                  "response header '" + std::string(name) +
                      "' holds a control character (CR, LF, NUL, ...)");
    }
  }
}

}  // namespace internal

inline std::string_view Request::header(std::string_view name) const {
  if (raw == nullptr) return {};
  const auto* f = internal::find_header(*raw, name);
  if (f == nullptr) return {};
  return {f->value().data(), f->value().size()};
}

// PreparedJson: a JSON body serialized once, for a handler whose answer is
// fixed (a health check, a constant document): Response::prepared_json()
// copies its text instead of building, checking and serializing a Json on
// every request. The response check still validates it against the
// route's schema, once per schema it is checked against (it cannot change
// in between). Immutable; share it between threads freely. Throws
// bad_alloc.
//
//   static const auto kOk = std::make_shared<const PreparedJson>(Json{{"ok", true}});
//   route.handle([](Request&) { return Response::prepared_json(200, kOk); });
class PreparedJson {
 public:
  explicit PreparedJson(Json value) : value_(std::move(value)) {
    internal::dump_compact(value_, text_);
  }
  PreparedJson(const PreparedJson&) = delete;
  PreparedJson& operator=(const PreparedJson&) = delete;

  const Json& value() const noexcept { return value_; }
  // text: the compact serialization, as Response::serialize() writes it.
  const std::string& text() const noexcept { return text_; }

  // passed / remember_passed: for the response check alone: whether the
  // value already passed `schema` (by address: a route's schemas do not
  // move once registered).
  bool passed(const void* schema) const noexcept { return passed_.load() == schema; }
  void remember_passed(const void* schema) const noexcept { passed_.store(schema); }

 private:
  Json value_;
  std::string text_;
  mutable std::atomic<const void*> passed_{nullptr};
};

// Response: what a handler returns. Build with json(), prepared_json(),
// text() or empty(); add headers with header(). The router checks it
// against the route's declared statuses and schema (when response
// validation is on) and its headers (always, as header() does), then
// serializes a JSON value into `body`.
struct Response {
  unsigned status = 200;
  std::string content_type;
  std::string body;
  std::optional<Json> value;  // the JSON a json() response was built from
  std::vector<std::pair<std::string, std::string>> headers;
  bool is_error = false;  // a uniform error body made by the library
  // prepared: the PreparedJson a prepared_json() response carries (`body`
  // is already its text).
  std::shared_ptr<const PreparedJson> prepared;

  static Response json(unsigned status, Json v) {
    Response r;
    r.status = status;
    r.content_type = "application/json";
    r.value = std::move(v);
    return r;
  }
  // prepared_json: `json` (not null) as the body, its text copied.
  static Response prepared_json(unsigned status, std::shared_ptr<const PreparedJson> json) {
    Response r;
    r.status = status;
    r.content_type = "application/json";
    r.body = json->text();
    r.prepared = std::move(json);
    return r;
  }
  static Response text(unsigned status, std::string content_type, std::string text) {
    Response r;
    r.status = status;
    r.content_type = std::move(content_type);
    r.body = std::move(text);
    return r;
  }
  static Response empty(unsigned status = 204) {
    Response r;
    r.status = status;
    return r;
  }
  // header: adds `name: v`. Throws Error(kResponseInvalid), a 500 naming
  // the header, for a name that is not an HTTP token or a value holding a
  // control character such as CR or LF (see internal::check_header).
  Response& header(std::string name, std::string v) & {
    internal::check_header(name, v);
    // Room for the few headers wrappers add (request id, timing): one
    // allocation instead of one per growth.
    if (headers.capacity() == 0) headers.reserve(4);
    headers.emplace_back(std::move(name), std::move(v));
    return *this;
  }
  Response&& header(std::string name, std::string v) && {
    return std::move(header(std::move(name), std::move(v)));
  }
  // serialize: writes `value` into `body` (compact JSON, byte for byte
  // what `value->dump(-1, ' ', false, Json::error_handler_t::replace)`
  // writes) once.
  void serialize() {
    if (value) {
      body.clear();
      internal::dump_compact(*value, body);
      value.reset();
    }
  }
};

// Wrapper: wraps a route's handler. `wrap` receives the route (read-only:
// a wrapper reads metadata such as auth(), it cannot change it) and the
// next handler, and returns the handler to call instead. `provides_auth`
// marks the wrapper that checks Route::auth().
struct Wrapper {
  std::string name;
  std::function<Handler(const Route&, Handler)> wrap;
  bool provides_auth = false;
};

// Route: one declared operation. See the example at the top of this file.
// Registration (Router::add) checks the declaration and throws
// Error(kInvalidRoute) when it is inconsistent.
class Route {
 public:
  Route(Method method, std::string path_template)
      : method_(method), path_(std::move(path_template)) {}

  Route& summary(std::string text) {
    summary_ = std::move(text);
    return *this;
  }
  Route& describe(std::string text) {
    description_ = std::move(text);
    return *this;
  }
  Route& tag(std::string name) {
    tags_.push_back(std::move(name));
    return *this;
  }
  Route& operation_id(std::string id) {
    operation_id_ = std::move(id);
    return *this;
  }
  Route& auth(Auth a) {
    auth_ = a;
    return *this;
  }
  Route& param(Param p) {
    params_.push_back(std::move(p));
    return *this;
  }
  // body: the request body is JSON matching `schema` (required unless
  // `required` is false).
  Route& body(Schema schema, std::string description = "", bool required = true) {
    body_ = std::move(schema);
    body_description_ = std::move(description);
    body_required_ = required;
    return *this;
  }
  Route& response(unsigned status, std::string description, Schema schema) {
    responses_.push_back(
        {status, std::move(description), "application/json", std::move(schema), false, {}});
    return *this;
  }
  Route& response_text(unsigned status, std::string description, std::string content_type) {
    responses_.push_back(
        {status, std::move(description), std::move(content_type), std::nullopt, false, {}});
    return *this;
  }
  Route& response_empty(unsigned status, std::string description) {
    responses_.push_back({status, std::move(description), "", std::nullopt, false, {}});
    return *this;
  }
  // error: the route may answer `status` with the uniform error body.
  Route& error(unsigned status, std::string description) {
    responses_.push_back(
        {status, std::move(description), "application/json", std::nullopt, true, {}});
    return *this;
  }
  // response_header: a header the route sends with `status` (declared
  // before with response*() or error()).
  Route& response_header(unsigned status, std::string name, std::string description) {
    for (auto& r : responses_) {
      if (r.status == status) {
        r.headers.push_back({std::move(name), std::move(description)});
        return *this;
      }
    }
    throw Error(ErrorCode::kInvalidRoute,
                "response_header for undeclared status " + std::to_string(status));
  }
  Route& handle(Handler h) {
    handler_ = std::move(h);
    return *this;
  }
  // blocking: the handler may block its thread (a database transaction,
  // file I/O, a wait on another process). The Server then runs it, with
  // every wrapper, on its pool of blocking threads instead of an I/O
  // thread (ServerOptions::blocking_threads), so a slow handler never
  // holds the threads that read and write the other connections. Not part
  // of the OpenAPI document: it says where the handler runs, not what the
  // route does.
  Route& blocking(bool yes = true) {
    blocking_ = yes;
    return *this;
  }

  Method method() const noexcept { return method_; }
  const std::string& path() const noexcept { return path_; }
  const std::string& summary_text() const noexcept { return summary_; }
  const std::string& description() const noexcept { return description_; }
  const std::vector<std::string>& tags() const noexcept { return tags_; }
  const std::string& operation() const noexcept { return operation_id_; }
  Auth auth_requirement() const noexcept { return auth_; }
  const std::vector<Param>& params() const noexcept { return params_; }
  const std::optional<Schema>& body_schema() const noexcept { return body_; }
  const std::string& body_description() const noexcept { return body_description_; }
  bool body_required() const noexcept { return body_required_; }
  const std::vector<ResponseSpec>& responses() const noexcept { return responses_; }
  const Handler& handler() const noexcept { return handler_; }
  bool is_blocking() const noexcept { return blocking_; }

  // find_response: the declared spec for `status`, or nullptr.
  const ResponseSpec* find_response(unsigned status) const noexcept {
    for (const auto& r : responses_) {
      if (r.status == status) return &r;
    }
    return nullptr;
  }
  // find_param: the declared parameter `name` in `in`, or nullptr.
  const Param* find_param(In in, std::string_view name) const noexcept {
    for (const auto& p : params_) {
      if (p.in() == in && p.name() == name) return &p;
    }
    return nullptr;
  }

 private:
  Method method_;
  std::string path_;
  std::string summary_;
  std::string description_;
  std::vector<std::string> tags_;
  std::string operation_id_;
  Auth auth_ = Auth::kNone;
  std::vector<Param> params_;
  std::optional<Schema> body_;
  std::string body_description_;
  bool body_required_ = true;
  std::vector<ResponseSpec> responses_;
  Handler handler_;
  bool blocking_ = false;
};

}  // namespace coordkit::http

#endif  // COORDKIT_HTTP_ROUTE_H_
