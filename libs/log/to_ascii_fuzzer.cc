// libFuzzer target for coordkit::log::to_ascii.
//
// Built two ways: by tools/test.d/fuzz-to-ascii with clang's
// -fsanitize=fuzzer,address,undefined for a real fuzzing run, and by the
// Bazel test :to_ascii_fuzz_test, which feeds it a fixed generated corpus
// (to_ascii_fuzz_driver.cc) under every config. Any violated property aborts.
//
// Input: the first byte picks an output limit, the rest is the text.
// Properties checked:
//   - output is printable ASCII only (so it holds no line break), deterministic;
//   - with room for everything, the output decodes back to exactly the input
//     (the mapping is unambiguous) and is at most 4 bytes per input byte;
//   - under a limit, the output is at most the limit, and is either the whole
//     escaping or a whole-token prefix of it followed by the marker
//     `...[truncated N bytes]` where N counts the input bytes left out;
//   - to_ascii_into() into a caller's buffer agrees with to_ascii().

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "coordkit/log/internal/unescape_for_testing.h"
#include "coordkit/log/to_ascii.h"

#define COORDKIT_FUZZ_CHECK(cond)                                                       \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "to_ascii_fuzzer: %s failed at line %d\n", #cond, __LINE__); \
      std::abort();                                                                     \
    }                                                                                   \
  } while (false)

namespace {

bool printable_ascii_only(std::string_view s) {
  for (char c : s) {
    if (c < 0x20 || c > 0x7E) return false;
  }
  return true;
}

}  // namespace

// The name is libFuzzer's.
extern "C" int LLVMFuzzerTestOneInput(  // NOLINT(readability-identifier-naming)
    const std::uint8_t* data, std::size_t size) {
  using coordkit::log::kToAsciiMinBytes;
  using coordkit::log::to_ascii;
  using coordkit::log::internal::unescape_for_testing;
  if (size == 0) return 0;
  const std::size_t limit = kToAsciiMinBytes + std::size_t{data[0]} * 16;
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);

  // Unlimited (room for the worst case): complete and reversible.
  const std::size_t room = 4 * input.size() + kToAsciiMinBytes;
  const std::string full = to_ascii(input, room);
  COORDKIT_FUZZ_CHECK(printable_ascii_only(full));
  COORDKIT_FUZZ_CHECK(full.size() <= 4 * input.size());
  COORDKIT_FUZZ_CHECK(full == to_ascii(input, room));
  const auto back = unescape_for_testing(full);
  COORDKIT_FUZZ_CHECK(back.has_value());
  COORDKIT_FUZZ_CHECK(*back == input);

  // Limited: bounded, and either whole or a marked whole-token prefix.
  const std::string cut = to_ascii(input, limit);
  COORDKIT_FUZZ_CHECK(cut.size() <= limit);
  COORDKIT_FUZZ_CHECK(printable_ascii_only(cut));
  COORDKIT_FUZZ_CHECK(cut == to_ascii(input, limit));
  if (full.size() <= limit) {
    COORDKIT_FUZZ_CHECK(cut == full);
  } else {
    const std::size_t marker = cut.rfind("...[truncated ");
    COORDKIT_FUZZ_CHECK(marker != std::string::npos);
    const std::string_view prefix = std::string_view(cut).substr(0, marker);
    COORDKIT_FUZZ_CHECK(std::string_view(full).starts_with(prefix));
    const auto kept = unescape_for_testing(prefix);
    COORDKIT_FUZZ_CHECK(kept.has_value());
    COORDKIT_FUZZ_CHECK(input.starts_with(*kept));
    const std::string expected_marker =
        "...[truncated " + std::to_string(input.size() - kept->size()) + " bytes]";
    COORDKIT_FUZZ_CHECK(cut.substr(marker) == expected_marker);
  }

  // The buffer form writes the same bytes and nothing past its capacity.
  std::string buffer(limit + 1, '#');
  const std::size_t n = coordkit::log::to_ascii_into(input, buffer.data(), limit);
  COORDKIT_FUZZ_CHECK(std::string_view(buffer.data(), n) == cut);
  COORDKIT_FUZZ_CHECK(buffer[limit] == '#');
  return 0;
}
