// coordkit/testing/error_matchers.h: Catch2 matchers for "throws this
// coordkit error": a derived type's code enum, or a library and code name
// read through the coordkit::Error base (testonly). Tests assert codes,
// never message text.
//
// Example:
//   using coordkit::testing::has_code;
//   using coordkit::testing::has_code_name;
//   CHECK_THROWS_MATCHES(db.write(fn), coordkit::db::Error,
//                        has_code(coordkit::db::ErrorCode::kBusy));
//   CHECK_THROWS_MATCHES(open_service(), coordkit::Error, has_code_name("ipc", "already_running"));
//   const auto e = coordkit::testing::thrown<coordkit::db::Error>([&] { db.write(fn); });
//   CHECK(e.retry_class() == coordkit::db::RetryClass::kRetrySameConnection);
#ifndef COORDKIT_TESTING_ERROR_MATCHERS_H_
#define COORDKIT_TESTING_ERROR_MATCHERS_H_

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_templated.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "coordkit/base/error.h"

namespace coordkit::testing {

namespace internal {

// code_text: a code's name for a failure message: the library's own
// name function when it has one, found by argument-dependent lookup
// (code_name(c), to_string(c) or error_code_name(c)), else its number.
template <typename Code>
std::string code_text(Code code) {
  if constexpr (requires { std::string(code_name(code)); }) {
    return std::string(code_name(code));
  } else if constexpr (requires { std::string(to_string(code)); }) {
    return std::string(to_string(code));
  } else if constexpr (requires { std::string(error_code_name(code)); }) {
    return std::string(error_code_name(code));
  } else {
    return std::to_string(static_cast<long long>(code));
  }
}

}  // namespace internal

// HasCodeMatcher: matches an exception whose `code()` equals the given code.
// Made by has_code().
template <typename Code>
class HasCodeMatcher final : public Catch::Matchers::MatcherGenericBase {
 public:
  explicit HasCodeMatcher(Code code) : code_(code) {}

  // match: the caught type must have `code()` comparable with Code (every
  // coordkit library's Error does); catch that derived type, not the base.
  template <typename E>
  bool match(const E& error) const {
    static_assert(
        requires { error.code() == code_; },
        "has_code(): catch the library's own Error type (it has code()), "
        "or use has_code_name() with coordkit::Error");
    return error.code() == code_;
  }

  std::string describe() const override { return "has code " + internal::code_text(code_); }

 private:
  Code code_;
};

// has_code: a matcher for CHECK_THROWS_MATCHES / REQUIRE_THROWS_MATCHES that
// holds when the thrown error's code() is `code` (an enum value of the
// library's ErrorCode).
template <typename Code>
requires std::is_enum_v<Code> HasCodeMatcher<Code> has_code(Code code) {
  return HasCodeMatcher<Code>(code);
}

// HasCodeNameMatcher: matches a coordkit::Error (or anything derived from
// it) by library() and code_name(). Made by has_code_name().
class HasCodeNameMatcher final : public Catch::Matchers::MatcherGenericBase {
 public:
  HasCodeNameMatcher(std::string library, std::string code_name)
      : library_(std::move(library)), code_name_(std::move(code_name)) {}

  bool match(const coordkit::Error& error) const {
    return error.library() == library_ && error.code_name() == code_name_;
  }

  std::string describe() const override {
    return "is coordkit::" + library_ + " error " + code_name_;
  }

 private:
  std::string library_;
  std::string code_name_;
};

// has_code_name: a matcher that holds when the thrown coordkit::Error came
// from `library` ("db", "ipc", ...) with the snake_case code name
// `code_name` ("busy"). Works on the base, so one test can cover errors of
// several libraries.
inline HasCodeNameMatcher has_code_name(std::string_view library, std::string_view code_name) {
  return HasCodeNameMatcher(std::string(library), std::string(code_name));
}

// thrown: the E that `f()` throws, for a test that checks more than its
// code (its retry class, what happened around the failure). Fails the test
// case (Catch2's FAIL) when f returns normally; anything f throws that is not
// an E propagates.
// is_snake_case: whether `name` is a stable error code name as
// coordkit::Error::code_name() promises: lower-case letters, digits and
// inner underscores, not empty.
inline bool is_snake_case(std::string_view name) {
  if (name.empty() || name.front() == '_' || name.back() == '_') return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

template <typename E, typename F>
E thrown(F&& f) {
  try {
    std::forward<F>(f)();
  } catch (const E& e) {
    return e;
  }
  FAIL("expected an exception; none was thrown");
  throw std::logic_error("unreachable: FAIL throws");
}

}  // namespace coordkit::testing

#endif  // COORDKIT_TESTING_ERROR_MATCHERS_H_
