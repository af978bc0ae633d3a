// Runs request_fuzzer.cc's LLVMFuzzerTestOneInput over a fixed, generated
// corpus, so its checks run in every `bazel test` (gcc and the sanitizer
// configs) without libFuzzer; tools/test.d/fuzz-http runs the real fuzzer.
// Deterministic: std::mt19937_64 with a fixed seed, no distributions.
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(  // NOLINT(readability-identifier-naming)
    const std::uint8_t* data, std::size_t size);

namespace {

constexpr std::string_view kPieces[] = {"GET ",
                                        "PUT ",
                                        "POST ",
                                        "DELETE ",
                                        "PATCH ",
                                        "BREW ",
                                        "/v1/health",
                                        "/v1/demo/echo?n=",
                                        "/v1/collections/notes/records",
                                        "/v1/collections/notes/records/a1",
                                        "/v1/admin/whoami",
                                        "/v1/admin/sleep?ms=0",
                                        "/metrics",
                                        "/openapi.json",
                                        "/%zz",
                                        "/%2F",
                                        "?",
                                        "&",
                                        "n=5",
                                        "ratio=0.25",
                                        "flag=maybe",
                                        "color=blue",
                                        "word=",
                                        "limit=1000",
                                        "cursor=",
                                        "=",
                                        "%00",
                                        "+",
                                        " HTTP/1.1\r\n",
                                        " HTTP/1.0\r\n",
                                        "Host: x\r\n",
                                        "Authorization: Bearer fuzz-token\r\n",
                                        "Authorization: Bearer nope\r\n",
                                        "Content-Type: application/json\r\n",
                                        "Content-Length: 2\r\n",
                                        "Content-Length: 17\r\n",
                                        "Transfer-Encoding: chunked\r\n",
                                        "If-Match: \"1\"\r\n",
                                        "If-None-Match: \"1\"\r\n",
                                        "X-Request-Id: abc\r\n",
                                        "X-Trace: t\r\n",
                                        "\r\n",
                                        "{}",
                                        "{\"data\":{\"a\":1}}",
                                        "{\"data\":1}",
                                        "{\"data\":{},\"tags\":[\"x\",2]}",
                                        "[",
                                        "\"\xff\"",
                                        "0\r\n\r\n",
                                        "5\r\nhello\r\n",
                                        "\x00",
                                        "\xC3\xA9",
                                        "\n"};

}  // namespace

int main() {
  std::mt19937_64 rng(20261201);
  // Every piece alone, then valid-looking requests, then noise.
  for (auto piece : kPieces) {
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(piece.data()), piece.size());
  }
  for (int i = 0; i < 20000; ++i) {
    std::string input;
    const std::size_t n = 1 + rng() % 12;
    for (std::size_t k = 0; k < n; ++k) input += kPieces[rng() % std::size(kPieces)];
    if (rng() % 4 == 0 && !input.empty()) input[rng() % input.size()] = static_cast<char>(rng());
    if (rng() % 3 == 0) {
      std::string request = "GET /v1/demo/echo?n=";
      request += std::to_string(rng() % 2000);
      request += " HTTP/1.1\r\nHost: x\r\n\r\n";
      input.insert(0, request);
    }
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(input.data()), input.size());
  }
  return 0;
}
