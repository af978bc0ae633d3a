// coordkit/cli/duration.h: durations on the command line: "90", "90s",
// "15m", "2h", "1d", "1h30m" (a bare number is seconds).
//
// Example:
//   std::optional<std::chrono::seconds> ttl = coordkit::cli::parse_duration("15m");  // 900 s
#ifndef COORDKIT_APPS_CLI_DURATION_H_
#define COORDKIT_APPS_CLI_DURATION_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace coordkit::cli {

// parse_duration: the duration `text` names, or nullopt for anything else
// (empty, a unit without a number, an unknown unit, zero, above 365 days).
inline std::optional<std::chrono::seconds> parse_duration(std::string_view text) noexcept {
  constexpr std::int64_t kMax = 365LL * 24 * 3600;
  if (text.empty()) return std::nullopt;
  std::int64_t total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    std::int64_t n = 0;
    std::size_t digits = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      n = n * 10 + (text[i] - '0');
      if (n > kMax) return std::nullopt;
      ++i;
      ++digits;
    }
    if (digits == 0) return std::nullopt;
    std::int64_t unit = 1;
    if (i < text.size()) {
      switch (text[i]) {
        case 's':
          unit = 1;
          break;
        case 'm':
          unit = 60;
          break;
        case 'h':
          unit = 3600;
          break;
        case 'd':
          unit = 86400;
          break;
        default:
          return std::nullopt;
      }
      ++i;
    } else if (total != 0) {
      return std::nullopt;  // "1h30": the last part needs a unit too
    }
    total += n * unit;
    if (total > kMax) return std::nullopt;
  }
  if (total == 0) return std::nullopt;
  return std::chrono::seconds(total);
}

}  // namespace coordkit::cli

#endif  // COORDKIT_APPS_CLI_DURATION_H_
