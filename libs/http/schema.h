// coordkit/http/schema.h: the small JSON Schema subset routes declare their
// bodies in, its validator, and its JSON Schema (OpenAPI 3.1) form.
//
// The subset: object (typed properties, required, additionalProperties true
// or false), array (items, minItems, maxItems), string (minLength,
// maxLength in code points, enum), integer and number (minimum, maximum),
// boolean, any value, and nullable on each. A Schema is a value built with
// the functions below; it validates a parsed body and reports the first
// violation as a JSON pointer plus the keyword it broke.
//
// Example:
//   using coordkit::http::Schema;
//   Schema record = Schema::object({{"id", Schema::string().max_length(64)},
//                                   {"version", Schema::integer().minimum(1)},
//                                   {"data", Schema::any()}},
//                                  {"id", "version"});
//   auto v = record.validate(nlohmann::json{{"id", 7}, {"version", 1}});
//   // v->pointer == "/id", v->rule == "type"
#ifndef COORDKIT_HTTP_SCHEMA_H_
#define COORDKIT_HTTP_SCHEMA_H_

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace coordkit::http {

// Violation: the first place a value breaks a schema: a JSON pointer
// (RFC 6901; "" is the whole value), the keyword ("type", "required",
// "maxLength", "additionalProperties", ...) and a short message.
struct Violation {
  std::string pointer;
  std::string rule;
  std::string message;
};

// Schema: one node of the subset. Cheap to copy for small schemas; immutable
// once built, so any number of threads may validate with it at once.
class Schema {
 public:
  using Json = nlohmann::json;

  // Builders. Each returns a schema of one type; the chained setters below
  // add constraints. `object` lists properties in declaration order (kept in
  // the OpenAPI document) and the names that are required.
  static Schema string() { return Schema("string"); }
  static Schema integer() { return Schema("integer"); }
  static Schema number() { return Schema("number"); }
  static Schema boolean() { return Schema("boolean"); }
  static Schema any() { return Schema(Json::object()); }
  static Schema array(const Schema& items) {
    Schema s("array");
    s.json_["items"] = items.json_;
    return s;
  }
  static Schema object(std::initializer_list<std::pair<std::string, Schema>> properties = {},
                       std::initializer_list<std::string> required = {}) {
    Schema s("object");
    Json props = Json::object();
    for (const auto& [name, schema] : properties) props[name] = schema.json_;
    s.json_["properties"] = std::move(props);
    if (required.size() > 0) s.json_["required"] = std::vector<std::string>(required);
    return s;
  }
  // enumeration: a string that is one of `values`.
  // (nlohmann::json copies the strings either way.)
  static Schema enumeration(const std::vector<std::string>& values) {
    Schema s("string");
    s.json_["enum"] = values;
    return s;
  }

  Schema& min_length(std::size_t n) { return set("minLength", n); }
  Schema& max_length(std::size_t n) { return set("maxLength", n); }
  Schema& minimum(double v) { return set_number("minimum", v); }
  Schema& maximum(double v) { return set_number("maximum", v); }
  Schema& min_items(std::size_t n) { return set("minItems", n); }
  Schema& max_items(std::size_t n) { return set("maxItems", n); }
  // additional_properties: whether an object may hold undeclared properties
  // (JSON Schema's default, true, unless set).
  Schema& additional_properties(bool allowed) { return set("additionalProperties", allowed); }
  // nullable: null is accepted too (written as a type list with "null").
  Schema& nullable() {
    if (json_.contains("type") && json_["type"].is_string()) {
      json_["type"] = Json::array({json_["type"], "null"});
    }
    return *this;
  }
  Schema& describe(std::string text) { return set("description", std::move(text)); }

  // json: the schema as JSON Schema 2020-12 (what OpenAPI 3.1 embeds).
  const Json& json() const noexcept { return json_; }

  // validate: the first violation of `value`, or nullopt when it conforms.
  // Depth is bounded by the schema's, not the value's. Never throws but
  // std::bad_alloc.
  std::optional<Violation> validate(const Json& value) const {
    std::string pointer;
    return check(json_, value, pointer);
  }

 private:
  explicit Schema(const char* type) : json_({{"type", type}}) {}
  explicit Schema(Json j) : json_(std::move(j)) {}

  template <class T>
  Schema& set(const char* key, T value) {
    json_[key] = std::move(value);
    return *this;
  }
  Schema& set_number(const char* key, double v) {
    // Keep integral bounds integral in the document ("maximum": 100).
    if (v == static_cast<double>(static_cast<std::int64_t>(v))) {
      json_[key] = static_cast<std::int64_t>(v);
    } else {
      json_[key] = v;
    }
    return *this;
  }

  static bool type_matches(std::string_view type, const Json& v) {
    if (type == "string") return v.is_string();
    if (type == "boolean") return v.is_boolean();
    if (type == "null") return v.is_null();
    if (type == "object") return v.is_object();
    if (type == "array") return v.is_array();
    if (type == "number") return v.is_number();
    if (type == "integer") {
      if (v.is_number_integer()) return true;
      if (!v.is_number_float()) return false;
      const double d = v.get<double>();
      return d == static_cast<double>(static_cast<std::int64_t>(d));
    }
    return false;
  }

  static void append_token(std::string& pointer, std::string_view token) {
    pointer += '/';
    for (char c : token) {
      if (c == '~') {
        pointer += "~0";
      } else if (c == '/') {
        pointer += "~1";
      } else {
        pointer += c;
      }
    }
  }

  static std::size_t code_points(const std::string& s) {
    std::size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80 ? 1 : 0;
    return n;
  }

  static std::optional<Violation> fail(const std::string& pointer, const char* rule,
                                       std::string message) {
    return Violation{pointer, rule, std::move(message)};
  }

  static std::optional<Violation> check(const Json& s, const Json& v, std::string& pointer) {
    if (auto t = s.find("type"); t != s.end()) {
      bool ok = false;
      if (t->is_string()) {
        ok = type_matches(t->get_ref<const std::string&>(), v);
      } else {
        for (const auto& one : *t) ok = ok || type_matches(one.get_ref<const std::string&>(), v);
      }
      if (!ok) return fail(pointer, "type", "value has the wrong type");
    }
    if (v.is_null()) return std::nullopt;
    if (v.is_string()) {
      const auto& str = v.get_ref<const std::string&>();
      if (auto e = s.find("enum"); e != s.end()) {
        bool found = false;
        for (const auto& one : *e) found = found || one == v;
        if (!found) return fail(pointer, "enum", "value is not one of the allowed values");
      }
      if (auto m = s.find("minLength"); m != s.end() && code_points(str) < m->get<std::size_t>()) {
        return fail(pointer, "minLength", "string is too short");
      }
      if (auto m = s.find("maxLength"); m != s.end() && code_points(str) > m->get<std::size_t>()) {
        return fail(pointer, "maxLength", "string is too long");
      }
    } else if (v.is_number()) {
      const double d = v.get<double>();
      if (auto m = s.find("minimum"); m != s.end() && d < m->get<double>()) {
        return fail(pointer, "minimum", "number is below the minimum");
      }
      if (auto m = s.find("maximum"); m != s.end() && d > m->get<double>()) {
        return fail(pointer, "maximum", "number is above the maximum");
      }
    } else if (v.is_array()) {
      if (auto m = s.find("minItems"); m != s.end() && v.size() < m->get<std::size_t>()) {
        return fail(pointer, "minItems", "array has too few items");
      }
      if (auto m = s.find("maxItems"); m != s.end() && v.size() > m->get<std::size_t>()) {
        return fail(pointer, "maxItems", "array has too many items");
      }
      if (auto items = s.find("items"); items != s.end()) {
        const std::size_t len = pointer.size();
        for (std::size_t i = 0; i < v.size(); ++i) {
          append_token(pointer, std::to_string(i));
          if (auto bad = check(*items, v[i], pointer)) return bad;
          pointer.resize(len);
        }
      }
    } else if (v.is_object()) {
      const std::size_t len = pointer.size();
      if (auto req = s.find("required"); req != s.end()) {
        for (const auto& name : *req) {
          if (!v.contains(name.get_ref<const std::string&>())) {
            append_token(pointer, name.get_ref<const std::string&>());
            return fail(pointer, "required", "a required property is missing");
          }
        }
      }
      const auto props = s.find("properties");
      const auto extra = s.find("additionalProperties");
      const bool closed = extra != s.end() && extra->is_boolean() && !extra->get<bool>();
      for (auto it = v.begin(); it != v.end(); ++it) {
        const std::string& key = it.key();
        const Json* declared = nullptr;
        if (props != s.end()) {
          if (auto d = props->find(key); d != props->end()) declared = &*d;
        }
        if (declared == nullptr) {
          if (closed) {
            append_token(pointer, key);
            return fail(pointer, "additionalProperties", "property is not declared");
          }
          continue;
        }
        append_token(pointer, key);
        if (auto bad = check(*declared, it.value(), pointer)) return bad;
        pointer.resize(len);
      }
    }
    return std::nullopt;
  }

  Json json_;
};

}  // namespace coordkit::http

#endif  // COORDKIT_HTTP_SCHEMA_H_
