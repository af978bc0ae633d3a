// Runs to_ascii_fuzzer.cc's LLVMFuzzerTestOneInput over a fixed, generated
// corpus, so the fuzz properties are checked by every `bazel test` (gcc,
// asan, ubsan, tsan) without libFuzzer. Deterministic: a fixed seed and
// std::mt19937_64, whose output the standard fixes (no distributions, whose
// output it does not).

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(  // NOLINT(readability-identifier-naming)
    const std::uint8_t* data, std::size_t size);

namespace {

void run(const std::vector<std::uint8_t>& input) {
  LLVMFuzzerTestOneInput(input.data(), input.size());
}

// A piece of text the generator splices in: the shapes to_ascii must handle.
constexpr std::string_view kPieces[] = {"plain text ",
                                        "\\",
                                        "\n",
                                        "\r\n",
                                        "\t",
                                        "\x1b[1m",
                                        "\x7f",
                                        "\xC3\xA9",
                                        "\xCC\x81",
                                        "\xE4\xB8\xAD",
                                        "\xF0\x9F\x9A\x80",
                                        "\xF4\x8F\xBF\xBF",
                                        "\xC2\x85",
                                        "\xC0\xAF",
                                        "\xE0\x80\xAF",
                                        "\xED\xA0\x80",
                                        "\xF4\x90\x80\x80",
                                        "\xF0\x9F\x9A",
                                        "\xE4",
                                        "\x80",
                                        "\xBF",
                                        "\xFE",
                                        "\xFF",
                                        "...[truncated 3 bytes]",
                                        "\\u{41}"};

}  // namespace

int main() {
  std::size_t runs = 0;
  // Every limit byte with every single payload byte, and every two-byte
  // payload that starts with a non-ASCII byte under the smallest limit.
  for (int limit = 0; limit < 256; ++limit) {
    for (int b = 0; b < 256; ++b) {
      run({static_cast<std::uint8_t>(limit), static_cast<std::uint8_t>(b)});
      ++runs;
    }
  }
  for (int a = 0x80; a < 256; ++a) {
    for (int b = 0; b < 256; ++b) {
      run({0, static_cast<std::uint8_t>(a), static_cast<std::uint8_t>(b)});
      ++runs;
    }
  }
  // Random splices of the pieces and raw bytes, short and long.
  std::mt19937_64 rng(0x636f6f72646b6974);  // "coordkit"
  for (int i = 0; i < 4000; ++i) {
    std::vector<std::uint8_t> input{static_cast<std::uint8_t>(rng())};
    const std::size_t length = i % 100 == 0 ? 20000 : rng() % 400;
    while (input.size() < length + 1) {
      const std::uint64_t r = rng();
      if (r % 4 == 0) {
        input.push_back(static_cast<std::uint8_t>(r >> 8));
      } else {
        const std::string_view piece = kPieces[(r >> 8) % std::size(kPieces)];
        input.insert(input.end(), piece.begin(), piece.end());
      }
    }
    run(input);
    ++runs;
  }
  std::printf("to_ascii_fuzz_test: %zu inputs, all properties held\n", runs);
  return 0;
}
