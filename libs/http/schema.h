// coordkit/http/schema.h: the small JSON Schema subset routes declare their
// bodies in, its validator, and its JSON Schema (OpenAPI 3.1) form.
//
// The subset: object (typed properties, required, additionalProperties true
// or false), array (items, minItems, maxItems), string (minLength,
// maxLength in code points, enum), integer and number (minimum, maximum),
// boolean, any value, and nullable on each. A Schema is a value built with
// the functions below; it validates a parsed body and reports the first
// violation as a JSON pointer plus the keyword it broke. Each schema is
// compiled once, as it is built, into a tree of typed rules, so a
// validation reads no JSON keywords and looks up no schema members.
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

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
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

namespace internal {

// SchemaNode: one schema compiled into the rules validate() applies. Built
// once from the schema's JSON form and never changed; shared by copies.
struct SchemaNode {
  enum Type : unsigned {
    kString = 1U << 0U,
    kInteger = 1U << 1U,
    kNumber = 1U << 2U,
    kBoolean = 1U << 3U,
    kObject = 1U << 4U,
    kArray = 1U << 5U,
    kNull = 1U << 6U,
  };
  bool typed = false;  // a "type" keyword is present
  unsigned types = 0;  // the types it admits
  bool has_enum = false;
  std::vector<nlohmann::json> enum_values;
  std::optional<std::size_t> min_length, max_length, min_items, max_items;
  std::optional<double> minimum, maximum;
  std::shared_ptr<const SchemaNode> items;
  std::vector<std::string> required;
  // properties: in the order the value's members are looked up against
  // (sorted by name, binary-searched).
  std::vector<std::pair<std::string, std::shared_ptr<const SchemaNode>>> properties;
  bool closed = false;  // additionalProperties: false

  static unsigned type_bit(const nlohmann::json& name) {
    if (!name.is_string()) return 0;
    const auto& n = name.get_ref<const std::string&>();
    if (n == "string") return kString;
    if (n == "integer") return kInteger;
    if (n == "number") return kNumber;
    if (n == "boolean") return kBoolean;
    if (n == "object") return kObject;
    if (n == "array") return kArray;
    if (n == "null") return kNull;
    return 0;
  }

  // compile: the rules of the schema `s` (JSON Schema, the subset).
  static std::shared_ptr<const SchemaNode> compile(const nlohmann::json& s) {
    auto n = std::make_shared<SchemaNode>();
    if (!s.is_object()) return n;
    if (auto t = s.find("type"); t != s.end()) {
      n->typed = true;
      if (t->is_array()) {
        for (const auto& one : *t) n->types |= type_bit(one);
      } else {
        n->types = type_bit(*t);
      }
    }
    if (auto e = s.find("enum"); e != s.end() && e->is_array()) {
      n->has_enum = true;
      for (const auto& one : *e) n->enum_values.push_back(one);
    }
    auto size = [&](const char* key, std::optional<std::size_t>& out) {
      if (auto m = s.find(key); m != s.end() && m->is_number()) out = m->get<std::size_t>();
    };
    auto number = [&](const char* key, std::optional<double>& out) {
      if (auto m = s.find(key); m != s.end() && m->is_number()) out = m->get<double>();
    };
    size("minLength", n->min_length);
    size("maxLength", n->max_length);
    size("minItems", n->min_items);
    size("maxItems", n->max_items);
    number("minimum", n->minimum);
    number("maximum", n->maximum);
    if (auto items = s.find("items"); items != s.end()) n->items = compile(*items);
    if (auto req = s.find("required"); req != s.end() && req->is_array()) {
      for (const auto& name : *req) {
        if (name.is_string()) n->required.push_back(name.get<std::string>());
      }
    }
    if (auto props = s.find("properties"); props != s.end() && props->is_object()) {
      // nlohmann's object keeps its members sorted by name already.
      for (auto it = props->begin(); it != props->end(); ++it)
        n->properties.emplace_back(it.key(), compile(it.value()));
    }
    if (auto extra = s.find("additionalProperties");
        extra != s.end() && extra->is_boolean() && !extra->get<bool>()) {
      n->closed = true;
    }
    return n;
  }

  const SchemaNode* property(const std::string& name) const noexcept {
    auto it = std::lower_bound(properties.begin(), properties.end(), name,
                               [](const auto& p, const std::string& k) { return p.first < k; });
    if (it == properties.end() || it->first != name) return nullptr;
    return it->second.get();
  }
};

}  // namespace internal

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
    s.compile();
    return s;
  }
  static Schema object(std::initializer_list<std::pair<std::string, Schema>> properties = {},
                       std::initializer_list<std::string> required = {}) {
    Schema s("object");
    Json props = Json::object();
    for (const auto& [name, schema] : properties) props[name] = schema.json_;
    s.json_["properties"] = std::move(props);
    if (required.size() > 0) s.json_["required"] = std::vector<std::string>(required);
    s.compile();
    return s;
  }
  // enumeration: a string that is one of `values`.
  // (nlohmann::json copies the strings either way.)
  static Schema enumeration(const std::vector<std::string>& values) {
    Schema s("string");
    s.json_["enum"] = values;
    s.compile();
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
    return compile();
  }
  Schema& describe(std::string text) { return set("description", std::move(text)); }

  // json: the schema as JSON Schema 2020-12 (what OpenAPI 3.1 embeds).
  const Json& json() const noexcept { return json_; }

  // validate: the first violation of `value`, or nullopt when it conforms.
  // Depth is bounded by the schema's, not the value's. Never throws but
  // std::bad_alloc.
  std::optional<Violation> validate(const Json& value) const {
    std::string pointer;
    return check(*node_, value, pointer);
  }

 private:
  using Node = internal::SchemaNode;

  explicit Schema(const char* type) : json_({{"type", type}}) { compile(); }
  explicit Schema(Json j) : json_(std::move(j)) { compile(); }

  // compile: the rules of json_, after every change to it (schemas are
  // built once, at start-up, and validated per request).
  Schema& compile() {
    node_ = Node::compile(json_);
    return *this;
  }

  template <class T>
  Schema& set(const char* key, T value) {
    json_[key] = std::move(value);
    return compile();
  }
  Schema& set_number(const char* key, double v) {
    // Keep integral bounds integral in the document ("maximum": 100).
    if (v == static_cast<double>(static_cast<std::int64_t>(v))) {
      json_[key] = static_cast<std::int64_t>(v);
    } else {
      json_[key] = v;
    }
    return compile();
  }

  static bool type_matches(unsigned types, const Json& v) {
    if (v.is_string()) return (types & Node::kString) != 0;
    if (v.is_boolean()) return (types & Node::kBoolean) != 0;
    if (v.is_null()) return (types & Node::kNull) != 0;
    if (v.is_object()) return (types & Node::kObject) != 0;
    if (v.is_array()) return (types & Node::kArray) != 0;
    if (v.is_number()) {
      if ((types & Node::kNumber) != 0) return true;
      if ((types & Node::kInteger) == 0) return false;
      if (v.is_number_integer()) return true;
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

  static std::optional<Violation> check(const Node& s, const Json& v, std::string& pointer) {
    if (s.typed && !type_matches(s.types, v))
      return fail(pointer, "type", "value has the wrong type");
    if (v.is_null()) return std::nullopt;
    if (v.is_string()) {
      const auto& str = v.get_ref<const std::string&>();
      if (s.has_enum) {
        bool found = false;
        for (const auto& one : s.enum_values) found = found || one == v;
        if (!found) return fail(pointer, "enum", "value is not one of the allowed values");
      }
      if (s.min_length || s.max_length) {
        const std::size_t n = code_points(str);
        if (s.min_length && n < *s.min_length)
          return fail(pointer, "minLength", "string is too short");
        if (s.max_length && n > *s.max_length)
          return fail(pointer, "maxLength", "string is too long");
      }
    } else if (v.is_number()) {
      const double d = v.get<double>();
      if (s.minimum && d < *s.minimum)
        return fail(pointer, "minimum", "number is below the minimum");
      if (s.maximum && d > *s.maximum)
        return fail(pointer, "maximum", "number is above the maximum");
    } else if (v.is_array()) {
      if (s.min_items && v.size() < *s.min_items)
        return fail(pointer, "minItems", "array has too few items");
      if (s.max_items && v.size() > *s.max_items)
        return fail(pointer, "maxItems", "array has too many items");
      if (s.items) {
        const std::size_t len = pointer.size();
        for (std::size_t i = 0; i < v.size(); ++i) {
          append_token(pointer, std::to_string(i));
          if (auto bad = check(*s.items, v[i], pointer)) return bad;
          pointer.resize(len);
        }
      }
    } else if (v.is_object()) {
      const std::size_t len = pointer.size();
      for (const auto& name : s.required) {
        if (!v.contains(name)) {
          append_token(pointer, name);
          return fail(pointer, "required", "a required property is missing");
        }
      }
      for (auto it = v.begin(); it != v.end(); ++it) {
        const std::string& key = it.key();
        const Node* declared = s.property(key);
        if (declared == nullptr) {
          if (s.closed) {
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
  std::shared_ptr<const Node> node_;  // json_ compiled
};

}  // namespace coordkit::http

#endif  // COORDKIT_HTTP_SCHEMA_H_
