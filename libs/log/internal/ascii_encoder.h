// The escaping engine behind coordkit::log::to_ascii (see to_ascii.h for the
// contract). Not API: names here may change without notice.
//
// Shape of the work: a log line is mostly printable ASCII, so the engine
// copies runs of "plain" bytes (0x20..0x7E except '\\') 16 bytes at a time
// with SSE2 where the target has it, 8 bytes at a time with a SWAR test
// otherwise, and only leaves the fast loop for the byte that needs an escape.
// Escapes are written as whole tokens, never cut in the middle.

#ifndef COORDKIT_LOG_INTERNAL_ASCII_ENCODER_H_
#define COORDKIT_LOG_INTERNAL_ASCII_ENCODER_H_

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace coordkit::log::internal {

// The longest token one input byte sequence can become: `\u{10FFFF}`.
inline constexpr std::size_t kMaxTokenBytes = 10;

// is_plain: true for the bytes to_ascii copies unchanged.
constexpr bool is_plain(unsigned char c) noexcept { return c >= 0x20 && c <= 0x7E && c != '\\'; }

// special_bytes_swar: for the 8 bytes of `w`, sets bit 7 of every byte that
// is not plain and clears all other bits. Exact per byte (no carry crosses a
// byte boundary), so the lowest set bit locates the first special byte on a
// little-endian load.
constexpr std::uint64_t special_bytes_swar(std::uint64_t w) noexcept {
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  constexpr std::uint64_t kHigh = 0x8080808080808080ULL;
  constexpr std::uint64_t kLow7 = 0x7F7F7F7F7F7F7F7FULL;
  const std::uint64_t low = w & kLow7;                      // each byte <= 0x7F
  const std::uint64_t ge_0x20 = low + kOnes * 0x60;         // bit 7 iff low >= 0x20
  const std::uint64_t eq_0x7f = low + kOnes;                // bit 7 iff low == 0x7F
  const std::uint64_t x = w ^ (kOnes * 0x5C);               // zero byte iff '\\'
  const std::uint64_t nonzero = ((x & kLow7) + kLow7) | x;  // bit 7 iff x != 0
  return (~ge_0x20 | eq_0x7f | w | ~nonzero) & kHigh;
}

// copy_plain_swar / copy_plain_scalar / copy_plain: copy the longest prefix
// of in[0, n) made of plain bytes, but at most `room` bytes, to out and
// return its length. Bytes of out past the returned length (but below
// min(n, room)) may be overwritten. All variants return the same result; the
// SWAR and scalar ones are exposed so tests can compare them.
inline std::size_t copy_plain_scalar(const unsigned char* in, std::size_t n, char* out,
                                     std::size_t room) noexcept {
  const std::size_t limit = n < room ? n : room;
  std::size_t i = 0;
  for (; i < limit && is_plain(in[i]); ++i) out[i] = static_cast<char>(in[i]);
  return i;
}

inline std::size_t copy_plain_swar(const unsigned char* in, std::size_t n, char* out,
                                   std::size_t room) noexcept {
  const std::size_t limit = n < room ? n : room;
  std::size_t i = 0;
  for (; i + 8 <= limit; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, in + i, 8);
    std::memcpy(out + i, &w, 8);
    const std::uint64_t special = special_bytes_swar(w);
    if (special != 0) {
      if constexpr (std::endian::native == std::endian::little) {
        return i + static_cast<std::size_t>(std::countr_zero(special)) / 8;
      } else {
        return i + static_cast<std::size_t>(std::countl_zero(special)) / 8;
      }
    }
  }
  return i + copy_plain_scalar(in + i, limit - i, out + i, limit - i);
}

inline std::size_t copy_plain(const unsigned char* in, std::size_t n, char* out,
                              std::size_t room) noexcept {
#if defined(__SSE2__)
  const std::size_t limit = n < room ? n : room;
  std::size_t i = 0;
  const __m128i below_space = _mm_set1_epi8(0x20);
  const __m128i tilde = _mm_set1_epi8(0x7E);
  const __m128i backslash = _mm_set1_epi8(0x5C);
  for (; i + 16 <= limit; i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), v);
    // Signed compares: bytes >= 0x80 are negative, so "< 0x20" also catches
    // every non-ASCII byte, and "> 0x7E" is exactly DEL.
    const __m128i special =
        _mm_or_si128(_mm_or_si128(_mm_cmplt_epi8(v, below_space), _mm_cmpgt_epi8(v, tilde)),
                     _mm_cmpeq_epi8(v, backslash));
    const auto mask = static_cast<unsigned>(_mm_movemask_epi8(special));
    if (mask != 0) return i + static_cast<std::size_t>(std::countr_zero(mask));
  }
  return i + copy_plain_swar(in + i, limit - i, out + i, limit - i);
#else
  return copy_plain_swar(in, n, out, room);
#endif
}

// write_hex_byte: "\xNN" with lowercase hex digits (`\x1b` for ESC).
// Returns 4.
inline std::size_t write_hex_byte(unsigned char c, char* out) noexcept {
  constexpr char kHex[] = "0123456789abcdef";
  out[0] = '\\';
  out[1] = 'x';
  out[2] = kHex[c >> 4];
  out[3] = kHex[c & 0xF];
  return 4;
}

// write_code_point: "\u{X...}" with uppercase hex digits and no leading
// zeros (`\u{1F680}`, `\u{E9}`). Returns the token's length (6 to 10).
inline std::size_t write_code_point(std::uint32_t cp, char* out) noexcept {
  constexpr char kHex[] = "0123456789ABCDEF";
  int digits = 1;
  while (digits < 6 && (cp >> (4 * digits)) != 0) ++digits;
  out[0] = '\\';
  out[1] = 'u';
  out[2] = '{';
  for (int d = 0; d < digits; ++d) out[3 + d] = kHex[(cp >> (4 * (digits - 1 - d))) & 0xF];
  out[3 + digits] = '}';
  return 4 + static_cast<std::size_t>(digits);
}

// decode_utf8: if in[0, n) (n >= 1) starts with a well-formed UTF-8 sequence
// of 2 to 4 bytes (Unicode Table 3-7: no overlong forms, no surrogates,
// nothing above U+10FFFF), stores its code point and returns its length;
// otherwise returns 0.
inline std::size_t decode_utf8(const unsigned char* in, std::size_t n, std::uint32_t& cp) noexcept {
  const unsigned char c = in[0];
  auto cont = [&](std::size_t k, unsigned char lo, unsigned char hi) {
    return k < n && in[k] >= lo && in[k] <= hi;
  };
  if (c >= 0xC2 && c <= 0xDF) {
    if (!cont(1, 0x80, 0xBF)) return 0;
    cp = (static_cast<std::uint32_t>(c & 0x1F) << 6) | (in[1] & 0x3Fu);
    return 2;
  }
  if (c >= 0xE0 && c <= 0xEF) {
    const unsigned char lo = c == 0xE0 ? 0xA0 : 0x80;  // E0 80..9F: overlong
    const unsigned char hi = c == 0xED ? 0x9F : 0xBF;  // ED A0..BF: surrogates
    if (!cont(1, lo, hi) || !cont(2, 0x80, 0xBF)) return 0;
    cp = (static_cast<std::uint32_t>(c & 0x0F) << 12) |
         (static_cast<std::uint32_t>(in[1] & 0x3F) << 6) | (in[2] & 0x3Fu);
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    const unsigned char lo = c == 0xF0 ? 0x90 : 0x80;  // F0 80..8F: overlong
    const unsigned char hi = c == 0xF4 ? 0x8F : 0xBF;  // F4 90..: above U+10FFFF
    if (!cont(1, lo, hi) || !cont(2, 0x80, 0xBF) || !cont(3, 0x80, 0xBF)) return 0;
    cp = (static_cast<std::uint32_t>(c & 0x07) << 18) |
         (static_cast<std::uint32_t>(in[1] & 0x3F) << 12) |
         (static_cast<std::uint32_t>(in[2] & 0x3F) << 6) | (in[3] & 0x3Fu);
    return 4;
  }
  return 0;  // 0x80..0xC1 (continuation, overlong lead), 0xF5..0xFF
}

// encode_token: the token for the sequence at in[0, n) (n >= 1), written to
// out (room for kMaxTokenBytes); stores how many input bytes it stands for
// in `consumed` and returns the token's length.
inline std::size_t encode_token(const unsigned char* in, std::size_t n, char* out,
                                std::size_t& consumed) noexcept {
  const unsigned char c = in[0];
  consumed = 1;
  if (c < 0x80) {
    switch (c) {
      case '\n':
        out[0] = '\\';
        out[1] = 'n';
        return 2;
      case '\r':
        out[0] = '\\';
        out[1] = 'r';
        return 2;
      case '\t':
        out[0] = '\\';
        out[1] = 't';
        return 2;
      case '\\':
        out[0] = '\\';
        out[1] = '\\';
        return 2;
      default:
        if (is_plain(c)) {
          out[0] = static_cast<char>(c);
          return 1;
        }
        return write_hex_byte(c, out);  // other C0 controls and DEL
    }
  }
  std::uint32_t cp = 0;
  if (const std::size_t len = decode_utf8(in, n, cp); len != 0) {
    consumed = len;
    return write_code_point(cp, out);
  }
  return write_hex_byte(c, out);
}

// Progress of an encoding: bytes consumed from the input, bytes written.
struct EncodeProgress {
  std::size_t in = 0;
  std::size_t out = 0;
};

// encode_until: continues encoding in[p.in, n) into out[p.out, limit) while
// the next whole token fits, and advances p. Stops at the end of the input or
// at the first token that would cross `limit`.
inline void encode_until(const unsigned char* in, std::size_t n, char* out, std::size_t limit,
                         EncodeProgress& p) noexcept {
  while (p.in < n) {
    const std::size_t run = copy_plain(in + p.in, n - p.in, out + p.out, limit - p.out);
    p.in += run;
    p.out += run;
    if (p.in == n || p.out == limit) return;
    std::size_t consumed = 0;
    if (limit - p.out >= kMaxTokenBytes) {
      p.out += encode_token(in + p.in, n - p.in, out + p.out, consumed);
    } else {
      char token[kMaxTokenBytes];
      const std::size_t len = encode_token(in + p.in, n - p.in, token, consumed);
      if (len > limit - p.out) return;
      std::memcpy(out + p.out, token, len);
      p.out += len;
    }
    p.in += consumed;
  }
}

// The truncation marker is kTruncatedPrefix, the count of input bytes left
// out in decimal, then kTruncatedSuffix: "...[truncated 1234 bytes]".
inline constexpr char kTruncatedPrefix[] = "...[truncated ";
inline constexpr char kTruncatedSuffix[] = " bytes]";
inline constexpr std::size_t kMaxMarkerBytes =
    sizeof(kTruncatedPrefix) - 1 + 20 + sizeof(kTruncatedSuffix) - 1;

// write_marker: the truncation marker for `dropped` input bytes; returns its
// length (at most kMaxMarkerBytes).
inline std::size_t write_marker(std::size_t dropped, char* out) noexcept {
  std::size_t o = sizeof(kTruncatedPrefix) - 1;
  std::memcpy(out, kTruncatedPrefix, o);
  char digits[20];
  std::size_t d = 0;
  do {
    digits[d++] = static_cast<char>('0' + dropped % 10);
    dropped /= 10;
  } while (dropped != 0);
  while (d != 0) out[o++] = digits[--d];
  std::memcpy(out + o, kTruncatedSuffix, sizeof(kTruncatedSuffix) - 1);
  return o + sizeof(kTruncatedSuffix) - 1;
}

// encode: the whole of to_ascii_into (see to_ascii.h). `capacity` is assumed
// to be at least kMaxMarkerBytes when the input does not fit.
inline std::size_t encode(const unsigned char* in, std::size_t n, char* out,
                          std::size_t capacity) noexcept {
  // First fill up to where a marker would still fit behind the output, and
  // remember that point; then try to finish within the full capacity. If the
  // rest does not fit either, go back to the remembered point and end there
  // with the marker, so the output never ends in half an escape.
  const std::size_t soft = capacity > kMaxMarkerBytes ? capacity - kMaxMarkerBytes : 0;
  EncodeProgress p;
  encode_until(in, n, out, soft, p);
  if (p.in == n) return p.out;
  const EncodeProgress mark = p;
  encode_until(in, n, out, capacity, p);
  if (p.in == n) return p.out;
  if (capacity < kMaxMarkerBytes) return 0;
  return mark.out + write_marker(n - mark.in, out + mark.out);
}

}  // namespace coordkit::log::internal

#endif  // COORDKIT_LOG_INTERNAL_ASCII_ENCODER_H_
