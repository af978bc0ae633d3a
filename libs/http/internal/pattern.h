// A compiled matcher for the regular expressions string parameters
// usually declare (`^[A-Za-z0-9._-]{1,64}$`, `^[a-z][a-z0-9_-]*$`): a
// character-class bitset and a count range per piece, anchored at both
// ends. Not API: Param::pattern() uses it when it accepts the pattern and
// std::regex otherwise, and the two give the same answer for every string
// (pattern_test compares them over many strings for each shape accepted).
//
// Accepted: `^`, then pieces, then `$`. A piece is a class `[...]` (literal
// printable ASCII, ranges `a-z`, `\d`, `\w`, and `\` before punctuation;
// no negation), `\d`, `\w`, an escaped punctuation character, or a letter,
// digit or one of ` _-/:,;=@~%!#&'"<>`; optionally followed by `?`, `*`,
// `+`, `{n}`, `{n,}` or `{n,m}` (not lazy). Every piece but the last must
// have a fixed count, so one pass decides: the fixed pieces take their
// bytes in order, the last takes the rest. Counts are of bytes, as for
// std::regex over char.

#ifndef COORDKIT_HTTP_INTERNAL_PATTERN_H_
#define COORDKIT_HTTP_INTERNAL_PATTERN_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace coordkit::http::internal {

// CompiledPattern: see the top of this file. Immutable once compiled;
// thread-safe to use.
class CompiledPattern {
 public:
  // compile: the matcher for `re` (ECMAScript syntax, searched as
  // std::regex_search does), or nullopt when `re` is not of a shape
  // accepted above (the caller then uses std::regex). Never throws but
  // std::bad_alloc.
  static std::optional<CompiledPattern> compile(std::string_view re) {
    if (re.size() < 2 || re.front() != '^' || re.back() != '$') return std::nullopt;
    CompiledPattern out;
    Reader r{re.substr(1, re.size() - 2), 0};
    while (!r.done()) {
      Piece piece;
      if (!read_atom(r, piece.set) || !read_count(r, piece)) return std::nullopt;
      out.pieces_.push_back(piece);
    }
    for (std::size_t i = 0; i + 1 < out.pieces_.size(); ++i) {
      if (out.pieces_[i].min != out.pieces_[i].max) return std::nullopt;
    }
    return out;
  }

  // matches: whether `s` matches the whole pattern.
  bool matches(std::string_view s) const noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const std::size_t n = s.size();
    if (pieces_.empty()) return n == 0;
    std::size_t pos = 0;
    for (std::size_t i = 0; i + 1 < pieces_.size(); ++i) {
      const Piece& piece = pieces_[i];
      if (n - pos < piece.min) return false;
      for (std::size_t k = 0; k < piece.min; ++k, ++pos) {
        if (!piece.has(p[pos])) return false;
      }
    }
    const Piece& last = pieces_.back();
    const std::size_t rest = n - pos;
    if (rest < last.min || rest > last.max) return false;
    for (; pos < n; ++pos) {
      if (!last.has(p[pos])) return false;
    }
    return true;
  }

 private:
  using Set = std::array<std::uint64_t, 4>;
  static constexpr std::size_t kUnbounded = std::numeric_limits<std::size_t>::max();

  struct Piece {
    Set set{};
    std::size_t min = 1;
    std::size_t max = 1;
    bool has(unsigned char c) const noexcept { return (set[c >> 6] >> (c & 63)) & 1U; }
  };

  struct Reader {
    std::string_view text;
    std::size_t at;
    bool done() const noexcept { return at >= text.size(); }
    char peek() const noexcept { return text[at]; }
    char next() noexcept { return text[at++]; }
  };

  static void add(Set& set, unsigned char c) noexcept {
    set[c >> 6] |= std::uint64_t{1} << (c & 63);
  }
  static void add_range(Set& set, unsigned char lo, unsigned char hi) noexcept {
    for (unsigned c = lo; c <= hi; ++c) add(set, static_cast<unsigned char>(c));
  }

  static bool is_punct_escape(char c) noexcept {
    return std::string_view(".-_/\\]^[$*+?(){}|").find(c) != std::string_view::npos;
  }
  static bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
  static bool is_alnum(char c) noexcept {
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  }

  // read_escape: after a '\\': \d, \w or escaped punctuation into
  // `set`; `literal` gets the punctuation character (0 for \d and \w).
  static bool read_escape(Reader& r, Set& set, char& literal) noexcept {
    if (r.done()) return false;
    const char e = r.next();
    literal = 0;
    if (e == 'd') {
      add_range(set, '0', '9');
    } else if (e == 'w') {
      add_range(set, '0', '9');
      add_range(set, 'a', 'z');
      add_range(set, 'A', 'Z');
      add(set, '_');
    } else if (is_punct_escape(e)) {
      literal = e;
      add(set, static_cast<unsigned char>(e));
    } else {
      return false;
    }
    return true;
  }

  // read_class: after '[': items up to the closing ']'.
  static bool read_class(Reader& r, Set& set) noexcept {
    if (r.done() || r.peek() == '^' || r.peek() == ']') return false;
    while (!r.done()) {
      const char c = r.next();
      if (c == ']') return true;
      const bool range_follows =
          !r.done() && r.peek() == '-' && r.at + 1 < r.text.size() && r.text[r.at + 1] != ']';
      char lo = 0;
      if (c == '\\') {
        // An escape never starts a range here (\d-z, \.-z): not a shape
        // worth matching by hand.
        if (!read_escape(r, set, lo)) return false;
        if (!r.done() && r.peek() == '-' && r.at + 1 < r.text.size() && r.text[r.at + 1] != ']')
          return false;
        continue;
      }
      if (c < 0x20 || c > 0x7E || c == '[') return false;
      lo = c;
      if (range_follows) {
        r.next();
        const char hi = r.next();
        if (hi < 0x20 || hi > 0x7E || hi == '\\' || hi == '[' || hi == ']' || hi < lo) return false;
        add_range(set, static_cast<unsigned char>(lo), static_cast<unsigned char>(hi));
      } else {
        add(set, static_cast<unsigned char>(lo));
      }
    }
    return false;  // no closing ']'
  }

  static bool read_atom(Reader& r, Set& set) noexcept {
    const char c = r.next();
    if (c == '[') return read_class(r, set);
    if (c == '\\') {
      char literal = 0;
      return read_escape(r, set, literal);
    }
    if (is_alnum(c) || std::string_view(" _-/:,;=@~%!#&'\"<>").find(c) != std::string_view::npos) {
      add(set, static_cast<unsigned char>(c));
      return true;
    }
    return false;
  }

  static bool read_number(Reader& r, std::size_t& n) noexcept {
    if (r.done() || !is_digit(r.peek())) return false;
    n = 0;
    while (!r.done() && is_digit(r.peek())) {
      if (n > 100000) return false;  // far beyond any max_length
      n = n * 10 + static_cast<std::size_t>(r.next() - '0');
    }
    return true;
  }

  static bool read_count(Reader& r, Piece& piece) noexcept {
    piece.min = 1;
    piece.max = 1;
    if (r.done()) return true;
    const char c = r.peek();
    if (c == '?' || c == '*' || c == '+') {
      r.next();
      piece.min = c == '+' ? 1 : 0;
      piece.max = c == '?' ? 1 : kUnbounded;
    } else if (c == '{') {
      r.next();
      if (!read_number(r, piece.min)) return false;
      piece.max = piece.min;
      if (!r.done() && r.peek() == ',') {
        r.next();
        piece.max = kUnbounded;
        if (!r.done() && r.peek() != '}' && !read_number(r, piece.max)) return false;
      }
      if (r.done() || r.next() != '}' || piece.max < piece.min) return false;
    } else {
      return true;
    }
    // A lazy or a second quantifier: not one of the shapes here.
    return r.done() || (r.peek() != '?' && r.peek() != '*' && r.peek() != '+' && r.peek() != '{');
  }

  std::vector<Piece> pieces_;
};

}  // namespace coordkit::http::internal

#endif  // COORDKIT_HTTP_INTERNAL_PATTERN_H_
