// coordkit/log/to_ascii.h: make any bytes safe to show on any console.
//
// A server that writes a log line holding a character its console cannot
// encode (an emoji on a Windows CP1252/OEM console) can die at start-up.
// Printable ASCII is the same in every console code page, so every byte
// coordkit::log writes to a console or a file goes through to_ascii() first.
//
// The mapping, byte sequence by byte sequence:
//   printable ASCII (0x20..0x7E) except '\'   itself
//   '\'                                        `\\`
//   LF, CR, TAB                                `\n`, `\r`, `\t`
//   other C0 controls, DEL                     `\x00` .. `\x1f`, `\x7f`
//   well-formed UTF-8 beyond ASCII             `\u{E9}`, `\u{1F680}` (uppercase
//                                              hex, no leading zeros; C1
//                                              controls are `\u{80}`..`\u{9F}`)
//   any byte that is not part of well-formed   `\xNN` (lowercase hex), one token
//   UTF-8 (overlong forms, surrogates,         per byte; decoding resumes at the
//   truncated sequences, stray continuation    next byte
//   bytes, 0xC0, 0xC1, 0xF5..0xFF)
//
// So the output is printable ASCII only, holds no line break (one input line
// stays one output line), and is unambiguous: the input can be recovered
// exactly from an untruncated output. Output is bounded: when the encoding
// would exceed the limit it ends, at a token boundary, with the visible
// marker `...[truncated N bytes]` (N input bytes left out).
//
// Example:
//
//   #include "coordkit/log/to_ascii.h"
//
//   std::string shown = coordkit::log::to_ascii("launch \xF0\x9F\x9A\x80\n");
//   // shown == "launch \\u{1F680}\\n", i.e. the 18 characters: launch \u{1F680}\n
//
//   char buf[256];
//   std::size_t n = coordkit::log::to_ascii_into("caf\xC3\xA9", buf, sizeof buf);
//   // std::string_view(buf, n) == "caf\\u{E9}"

#ifndef COORDKIT_LOG_TO_ASCII_H_
#define COORDKIT_LOG_TO_ASCII_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "coordkit/log/internal/ascii_encoder.h"

namespace coordkit::log {

// kToAsciiMinBytes: the smallest output limit that can always hold a
// truncation marker. Smaller limits given to to_ascii() are raised to it.
inline constexpr std::size_t kToAsciiMinBytes = internal::kMaxMarkerBytes;

// kToAsciiDefaultMaxBytes: to_ascii()'s default output limit.
inline constexpr std::size_t kToAsciiDefaultMaxBytes = std::size_t{64} << 10;  // 64 KiB

// to_ascii_max_size: the largest output to_ascii()/to_ascii_into() can
// produce for `input_bytes` bytes of input under a limit of `max_bytes`: no
// input byte becomes more than 4 output bytes. Use it to size a buffer.
constexpr std::size_t to_ascii_max_size(std::size_t input_bytes, std::size_t max_bytes) noexcept {
  const std::size_t worst = input_bytes > static_cast<std::size_t>(-1) / 4
                                ? static_cast<std::size_t>(-1)
                                : input_bytes * 4;
  return worst < max_bytes ? worst : max_bytes;
}

// to_ascii_into: writes the escaped form of `input` (see the table above) to
// out[0, capacity) and returns the number of bytes written; nothing is
// written past out[capacity - 1] and no terminating NUL is added.
//
// Needs: `out` points to `capacity` writable bytes (may be null when
// capacity is 0). If the escaped form is longer than `capacity`, the output
// ends with the truncation marker, which needs capacity >= kToAsciiMinBytes;
// with a smaller capacity such an input yields 0 bytes. Bytes of `out` past
// the returned length are unspecified.
// Thread-safe (no shared state); never throws; never allocates.
inline std::size_t to_ascii_into(std::string_view input, char* out, std::size_t capacity) noexcept {
  return internal::encode(reinterpret_cast<const unsigned char*>(input.data()), input.size(), out,
                          capacity);
}

// to_ascii: returns the escaped form of `input` (see the table above), at
// most max(max_bytes, kToAsciiMinBytes) bytes long, ending with the
// truncation marker if it had to be cut.
//
// Never throws: if memory for the result cannot be allocated it returns an
// empty string. Thread-safe (no shared state). Deterministic: equal inputs
// and limits give equal outputs.
inline std::string to_ascii(std::string_view input,
                            std::size_t max_bytes = kToAsciiDefaultMaxBytes) noexcept {
  if (max_bytes < kToAsciiMinBytes) max_bytes = kToAsciiMinBytes;
  try {
    std::string out;
    out.resize(to_ascii_max_size(input.size(), max_bytes));
    out.resize(to_ascii_into(input, out.data(), out.size()));
    return out;
  } catch (...) {  // std::bad_alloc, std::length_error
    return std::string();
  }
}

}  // namespace coordkit::log

#endif  // COORDKIT_LOG_TO_ASCII_H_
