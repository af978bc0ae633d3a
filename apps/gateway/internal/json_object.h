// Internal: a quick check that a stored record body is one JSON object,
// before the gateway splices its text into a response (routes.h). It
// decides the common case, a body as records::Body stored it, in one pass
// without building a value or setting up nlohmann's parser (which costs
// about ten times as much for a small body), and leaves every case it is
// not certain about to nlohmann::json::accept.
//
// Example:
//   if (coordkit::gateway::internal::is_plain_json_object(text) ||
//       nlohmann::json::accept(text)) { ... }
#ifndef COORDKIT_APPS_GATEWAY_INTERNAL_JSON_OBJECT_H_
#define COORDKIT_APPS_GATEWAY_INTERNAL_JSON_OBJECT_H_

#include <cstddef>
#include <string_view>

namespace coordkit::gateway::internal {

// is_plain_json_object: true when `text` is certainly one JSON object (RFC
// 8259, whitespace around it allowed) that nlohmann::json::accept accepts
// too. It accepts only ASCII text, string escapes but \u escapes of
// surrogates, numbers without an exponent and of at most 15 digits, and
// nesting up to 64 levels; false means "not certain", not "not JSON": the
// caller asks nlohmann then. Never throws; thread-safe.
inline bool is_plain_json_object(std::string_view text) noexcept {
  constexpr int kMaxDepth = 64;
  constexpr int kMaxDigits = 15;
  const char* p = text.data();
  const char* const end = p + text.size();
  const auto skip_ws = [&] {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) ++p;
  };
  const auto hex = [](char c) {
    return (c >= '0' && c <= '9')   ? c - '0'
           : (c >= 'a' && c <= 'f') ? c - 'a' + 10
           : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                    : -1;
  };
  // string: at '"'; past the closing '"'.
  const auto string = [&] {
    for (++p; p < end; ++p) {
      const auto c = static_cast<unsigned char>(*p);
      if (c == '"') {
        ++p;
        return true;
      }
      if (c < 0x20 || c >= 0x80) return false;
      if (c != '\\') continue;
      if (++p == end) return false;
      switch (*p) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
          break;
        case 'u': {
          if (end - p < 5) return false;
          int v = 0;
          for (int i = 1; i <= 4; ++i) {
            const int d = hex(p[i]);
            if (d < 0) return false;
            v = v * 16 + d;
          }
          if (v >= 0xD800 && v <= 0xDFFF) return false;
          p += 4;
          break;
        }
        default:
          return false;
      }
    }
    return false;
  };
  const auto digits = [&] {
    int n = 0;
    while (p < end && *p >= '0' && *p <= '9') {
      ++p;
      ++n;
    }
    return n;
  };
  const auto number = [&] {
    if (*p == '-') ++p;
    if (p == end || *p < '0' || *p > '9') return false;
    const bool zero = *p == '0';
    int n = digits();
    if (zero && n != 1) return false;
    if (p < end && *p == '.') {
      ++p;
      const int fraction = digits();
      if (fraction == 0) return false;
      n += fraction;
    }
    return n <= kMaxDigits && (p == end || (*p != 'e' && *p != 'E'));
  };
  const auto literal = [&](std::string_view word) {
    if (static_cast<std::size_t>(end - p) < word.size() ||
        std::string_view(p, word.size()) != word) {
      return false;
    }
    p += word.size();
    return true;
  };

  char open[kMaxDepth];  // '{' or '[' of each container around p
  int depth = 0;
  skip_ws();
  if (p == end || *p != '{') return false;
  open[depth++] = *p++;
  bool first = true;  // right after the opener: its closer may follow
  for (;;) {
    // A member of open[depth - 1] (a key and a value, or a value), or its
    // closer when first.
    skip_ws();
    if (p == end) return false;
    const bool object = open[depth - 1] == '{';
    if (first && *p == (object ? '}' : ']')) {
      ++p;
      --depth;
    } else {
      if (object) {
        if (*p != '"' || !string()) return false;
        skip_ws();
        if (p == end || *p != ':') return false;
        ++p;
        skip_ws();
        if (p == end) return false;
      }
      if (*p == '{' || *p == '[') {
        if (depth == kMaxDepth) return false;
        open[depth++] = *p++;
        first = true;
        continue;
      }
      const bool ok = *p == '"'   ? string()
                      : *p == 't' ? literal("true")
                      : *p == 'f' ? literal("false")
                      : *p == 'n' ? literal("null")
                                  : number();
      if (!ok) return false;
    }
    // After a value: a ',' and the next member, or closers.
    for (;;) {
      skip_ws();
      if (depth == 0) return p == end;
      if (p == end) return false;
      if (*p == ',') {
        ++p;
        first = false;
        break;
      }
      if (*p != (open[depth - 1] == '{' ? '}' : ']')) return false;
      ++p;
      --depth;
    }
  }
}

}  // namespace coordkit::gateway::internal

#endif  // COORDKIT_APPS_GATEWAY_INTERNAL_JSON_OBJECT_H_
