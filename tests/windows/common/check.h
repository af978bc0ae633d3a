// A small test runner for the Windows suite (tests/windows), which is
// cross-built with mingw-w64 and run under Wine by ctest: Debian ships
// Catch2 only as a Linux library, so these tests use this instead, with the
// same habits (named cases, CHECK continues, REQUIRE stops the case).
//
// Example:
//
//   #include "common/check.h"
//
//   COORDKIT_TEST("GetCurrentProcessId is not zero") {
//     CHECK(::GetCurrentProcessId() != 0);
//   }
//
//   int main() { return coordkit::windows_test::run_all(); }
//
// A case that makes no check at all fails: a case whose loop ran zero times
// or whose branch was never taken must not pass silently. run_all() fails
// when no case is registered. Each case prints one line, "PASS <name>" or
// "FAIL <name>", and each failed check prints its file, line and expression.

#ifndef COORDKIT_TESTS_WINDOWS_COMMON_CHECK_H_
#define COORDKIT_TESTS_WINDOWS_COMMON_CHECK_H_

#include <cstdio>
#include <exception>
#include <functional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace coordkit::windows_test {

// RequireFailed: thrown by REQUIRE to end the current case.
struct RequireFailed {};

struct Case {
  const char* name;
  void (*body)();
};

inline std::vector<Case>& cases() {
  static std::vector<Case> all;
  return all;
}

struct CaseState {
  int checks = 0;
  int failures = 0;
};

inline CaseState& current() {
  static CaseState state;
  return state;
}

struct Registrar {
  Registrar(const char* name, void (*body)()) { cases().push_back({name, body}); }
};

// record: one check's outcome; prints what failed. Returns `ok`.
inline bool record(bool ok, const char* file, int line, const std::string& what) {
  ++current().checks;
  if (!ok) {
    ++current().failures;
    std::fprintf(stdout, "  %s:%d: failed: %s\n", file, line, what.c_str());
    std::fflush(stdout);
  }
  return ok;
}

// note: prints context for the next failure (a value, a step).
inline void note(const std::string& text) {
  std::fprintf(stdout, "  note: %s\n", text.c_str());
  std::fflush(stdout);
}

template <class A, class B>
bool record_equal(const A& a, const B& b, const char* file, int line, const char* expr) {
  const bool ok = a == b;
  if (ok) return record(true, file, line, expr);
  std::ostringstream what;
  what << expr << "  (" << a << " vs " << b << ")";
  return record(false, file, line, what.str());
}

// run_all: runs every registered case in order; returns the process exit
// code (0 when every case passed and at least one ran).
inline int run_all() {
  int failed = 0;
  for (const Case& c : cases()) {
    current() = {};
    try {
      c.body();
    } catch (const RequireFailed&) {
    } catch (const std::exception& e) {
      record(false, __FILE__, __LINE__, std::string("exception: ") + e.what());
    } catch (...) {
      record(false, __FILE__, __LINE__, "unknown exception");
    }
    if (current().checks == 0) record(false, __FILE__, __LINE__, "the case made no check");
    const bool ok = current().failures == 0;
    failed += ok ? 0 : 1;
    std::fprintf(stdout, "%s %s (%d checks)\n", ok ? "PASS" : "FAIL", c.name, current().checks);
    std::fflush(stdout);
  }
  if (cases().empty()) {
    std::fprintf(stdout, "FAIL: no test case registered\n");
    return 1;
  }
  std::fprintf(stdout, "%zu cases, %d failed\n", cases().size(), failed);
  return failed == 0 ? 0 : 1;
}

}  // namespace coordkit::windows_test

#define COORDKIT_TEST_CAT2(a, b) a##b
#define COORDKIT_TEST_CAT(a, b) COORDKIT_TEST_CAT2(a, b)
#define COORDKIT_TEST_IMPL(name, fn)                                                      \
  static void fn();                                                                       \
  static const ::coordkit::windows_test::Registrar COORDKIT_TEST_CAT(fn, _reg)(name, fn); \
  static void fn()
// COORDKIT_TEST("name") { ... }: registers one case.
#define COORDKIT_TEST(name) COORDKIT_TEST_IMPL(name, COORDKIT_TEST_CAT(coordkit_case_, __LINE__))

#define CHECK(cond) \
  ::coordkit::windows_test::record(static_cast<bool>(cond), __FILE__, __LINE__, #cond)
#define REQUIRE(cond)                                                                            \
  do {                                                                                           \
    if (!::coordkit::windows_test::record(static_cast<bool>(cond), __FILE__, __LINE__, #cond)) { \
      throw ::coordkit::windows_test::RequireFailed{};                                           \
    }                                                                                            \
  } while (false)
#define CHECK_EQ(a, b) \
  ::coordkit::windows_test::record_equal((a), (b), __FILE__, __LINE__, #a " == " #b)
#define REQUIRE_EQ(a, b)                                                                     \
  do {                                                                                       \
    if (!::coordkit::windows_test::record_equal((a), (b), __FILE__, __LINE__, #a " == " #b)) \
      throw ::coordkit::windows_test::RequireFailed{};                                       \
  } while (false)
// CHECK_THROWS_CODE(expr, ErrorType, code): expr throws ErrorType with code().
#define CHECK_THROWS_CODE(expr, ErrorType, expected)                                               \
  do {                                                                                             \
    bool coordkit_thrown = false;                                                                  \
    try {                                                                                          \
      static_cast<void>(expr);                                                                     \
    } catch (const ErrorType& coordkit_e) {                                                        \
      coordkit_thrown = true;                                                                      \
      ::coordkit::windows_test::record(                                                            \
          coordkit_e.code() == (expected), __FILE__, __LINE__,                                     \
          std::string(#expr " throws " #expected ", got ") + std::string(coordkit_e.code_name())); \
    }                                                                                              \
    if (!coordkit_thrown) {                                                                        \
      ::coordkit::windows_test::record(false, __FILE__, __LINE__, #expr " did not throw");         \
    }                                                                                              \
  } while (false)

#endif  // COORDKIT_TESTS_WINDOWS_COMMON_CHECK_H_
