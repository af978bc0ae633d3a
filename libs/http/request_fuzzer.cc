// libFuzzer target: raw bytes through the whole request path: Beast's
// parser (header and body limits as the server sets them), then the route
// table (match, wrappers, auth, parameter and body validation, handler,
// response check) of the example API, request after request as a
// pipelining client would send them. Aborts if a response breaks the
// library's promises: a status in 100..599, every error the uniform JSON
// body with a code and the request id, no response-declaration violation.
#include <unistd.h>

#include <boost/beast/http/parser.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "coordkit/http/internal/example_api.h"
#include "coordkit/http/router.h"
#include "coordkit/http/wrappers.h"

namespace {

namespace http = coordkit::http;

struct Api {
  http::internal::ExampleStore store;
  http::Router router;
  Api() {
    http::internal::add_example_routes(router, store);
    http::internal::use_example_wrappers(router, coordkit::log::Logger(), "fuzz-token");
  }
};

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(  // NOLINT(readability-identifier-naming)
    const std::uint8_t* data, std::size_t size) {
  static Api* api = new Api();  // one table for the whole run, as in a server
  const char* p = reinterpret_cast<const char*>(data);
  std::size_t left = size;
  for (int requests = 0; left > 0 && requests < 8; ++requests) {
    boost::beast::http::request_parser<boost::beast::http::string_body> parser;
    parser.header_limit(4096);
    parser.body_limit(16384);
    parser.eager(true);
    boost::system::error_code ec;
    std::size_t used = parser.put(boost::asio::buffer(p, left), ec);
    if (!ec && !parser.is_done()) parser.put_eof(ec);
    if (ec || !parser.is_done()) return 0;
    p += used;
    left -= used;
    const auto& req = parser.get();
    // The sleep route would only measure the clock.
    if (req.target().find("sleep") != boost::beast::string_view::npos) continue;
    http::Peer peer{http::Peer::Transport::kUnix, ::geteuid() + 1, "fuzz"};
    const http::BeastResponse res = api->router.handle(req, peer);
    const unsigned status = res.result_int();
    check(status >= 100 && status <= 599);
    check(!res["X-Request-Id"].empty());
    if (status >= 400) {
      const auto body = nlohmann::json::parse(res.body(), nullptr, false);
      check(body.is_object() && body.contains("error"));
      check(body["error"]["code"].is_string());
      check(body["error"]["request_id"] == std::string(res["X-Request-Id"]));
      check(body["error"]["code"] != "response_invalid");
    }
    check(api->router.response_violations() == 0);
    if (used == 0) break;
  }
  return 0;
}
