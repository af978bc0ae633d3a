// coordkit/http/http.h: coordkit::http, an HTTP/1.1 JSON library on
// Boost.Beast where one route table drives dispatch, parameter and body
// validation, auth, error mapping and the OpenAPI 3.1 document.
// Include this one header.
//
// Declare each route once (route.h): method, path template, typed
// parameters with constraints, body and response schemas (schema.h), auth,
// summary, tags, operation id. The Router (router.h) matches, validates,
// runs the wrappers (wrappers.h) and the handler, checks the response and
// serves GET /openapi.json from the same table. The Server (server.h)
// answers the Router over TCP and/or a Unix socket.
//
// Example:
//
//   #include "coordkit/http/http.h"
//
//   namespace http = coordkit::http;
//
//   int main() {
//     http::Router router({.title = "notes", .version = "1.0.0"});
//     router.tag("notes", "Short notes");
//     router.add(http::Route(http::Method::kGet, "/v1/notes/{id}")
//                    .summary("Read a note")
//                    .operation_id("getNote")
//                    .tag("notes")
//                    .auth(http::Auth::kBearer)
//                    .param(http::Param::path("id").max_length(64).describe("Note id"))
//                    .param(http::Param::query("upper").boolean().default_value(false))
//                    .response(200, "The note", http::Schema::object(
//                        {{"id", http::Schema::string()}, {"text", http::Schema::string()}},
//                        {"id", "text"}))
//                    .error(404, "No such note")
//                    .handle([](http::Request& req) {
//                      if (req.param<std::string>("id") != "1") {
//                        throw http::Error(http::ErrorCode::kNotFound, "no such note");
//                      }
//                      return http::Response::json(200, {{"id", "1"}, {"text", "hello"}});
//                    }));
//     auto log = coordkit::log::Logger("http", {std::make_shared<coordkit::log::FileSink>(
//         coordkit::log::FileSinkOptions{.path = "access.log",
//                                        .format = coordkit::log::Format::kJson})});
//     router.use(http::request_id());
//     router.use(http::access_log(log));
//     router.use(router.map_errors());
//     router.use(http::auth({.bearer_token = "secret"}));
//
//     http::Server server(router, {.listen = {"127.0.0.1:8080", "unix:/tmp/notes.sock"}});
//     server.start();
//     // ... wait for a shutdown request, then:
//     http::DrainResult d = server.drain(std::chrono::seconds(5));
//     server.stop();
//   }
#ifndef COORDKIT_HTTP_HTTP_H_
#define COORDKIT_HTTP_HTTP_H_

#include "coordkit/http/error.h"
#include "coordkit/http/route.h"
#include "coordkit/http/router.h"
#include "coordkit/http/schema.h"
#include "coordkit/http/server.h"
#include "coordkit/http/wrappers.h"

#endif  // COORDKIT_HTTP_HTTP_H_
