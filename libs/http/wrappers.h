// coordkit/http/wrappers.h: the wrappers that compose over every route:
// request ids, timing, access logging and auth (error mapping is
// Router::map_errors(), since it is the router's one mapping).
//
// A wrapper sees the route read-only and wraps only its handler, so the
// route table, and with it /openapi.json, is the same with or without them
// (wrappers_test checks this parameter by parameter).
//
// The usual order, outermost first:
//   router.use(coordkit::http::request_id());
//   router.use(coordkit::http::access_log(logger));
//   router.use(router.map_errors());
//   router.use(coordkit::http::timing());
//   router.use(coordkit::http::auth({.bearer_token = token}));
#ifndef COORDKIT_HTTP_WRAPPERS_H_
#define COORDKIT_HTTP_WRAPPERS_H_

#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "coordkit/http/error.h"
#include "coordkit/http/route.h"
#include "coordkit/log/log.h"

namespace coordkit::http {

// request_id: sends the request's id back as X-Request-Id (the router picks
// it: the client's X-Request-Id when it is 1-64 of [A-Za-z0-9._-], else a
// fresh one).
inline Wrapper request_id() {
  return {"request_id", [](const Route&, Handler next) -> Handler {
            return [next = std::move(next)](Request& req) {
              Response r = next(req);
              r.header("X-Request-Id", req.request_id);
              return r;
            };
          }};
}

// timing: adds `Server-Timing: app;dur=<ms>` (time inside the wrapper).
inline Wrapper timing() {
  return {
      "timing", [](const Route&, Handler next) -> Handler {
        return [next = std::move(next)](Request& req) {
          const auto start = Clock::now();
          Response r = next(req);
          // "app;dur=" and the milliseconds with 3 decimals, rounded
          // from whole nanoseconds: integer digits, no floating-point
          // formatting and no locale on every request.
          const auto ns =
              std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
          const auto micros = static_cast<std::uint64_t>(ns < 0 ? 0 : ns + 500) / 1000;
          char buf[48] = "app;dur=";
          char* end = std::to_chars(buf + 8, buf + sizeof buf - 4, micros / 1000).ptr;
          const auto frac = static_cast<unsigned>(micros % 1000);
          end[0] = '.';
          end[1] = static_cast<char>('0' + frac / 100);
          end[2] = static_cast<char>('0' + frac / 10 % 10);
          end[3] = static_cast<char>('0' + frac % 10);
          r.header("Server-Timing", std::string(buf, end + 4));
          return r;
        };
      }};
}

// access_log: one info line per request through `logger` ("request" with
// method, route template, status, bytes, duration_ms, request_id). Use a
// FileSink with Format::kJson for JSON lines. Put it outside map_errors()
// so errors are logged with their mapped status; an exception that still
// reaches it is logged as status 500 and rethrown.
inline Wrapper access_log(log::Logger logger) {
  return {"access_log", [logger = std::move(logger)](const Route& route, Handler next) -> Handler {
            const std::string method(method_name(route.method()));
            const std::string path = route.path().empty() ? "(unmatched)" : route.path();
            return [logger, method, path, next = std::move(next)](Request& req) {
              auto write = [&](unsigned status, std::size_t bytes) {
                const double ms =
                    std::chrono::duration<double, std::milli>(Clock::now() - req.started).count();
                std::string_view m = method;
                if (req.raw != nullptr)
                  m = {req.raw->method_string().data(), req.raw->method_string().size()};
                logger.info("request", {{"method", m},
                                        {"route", path},
                                        {"status", status},
                                        {"bytes", bytes},
                                        {"duration_ms", ms},
                                        {"request_id", req.request_id}});
              };
              try {
                Response r = next(req);
                r.serialize();
                write(r.status, r.body.size());
                return r;
              } catch (...) {
                write(500, 0);
                throw;
              }
            };
          }};
}

// AuthOptions: what the auth wrapper admits. `bearer_token` empty admits no
// bearer (routes needing one then always answer 401). `local_uid` is the
// uid a Unix-socket peer must have for kLocalUser routes (default: this
// process's own).
struct AuthOptions {
  std::string bearer_token{};
  std::optional<uid_t> local_uid{};
};

namespace internal {

// constant_time_equal: compares without an early exit on the first
// differing byte; the time depends only on the lengths.
inline bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
  volatile unsigned char diff = a.size() == b.size() ? 0 : 1;
  const std::size_t n = a.size() > b.size() ? a.size() : b.size();
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff = static_cast<unsigned char>(diff | (x ^ y));
  }
  return diff == 0;
}

}  // namespace internal

// auth: checks each route's Route::auth_requirement() and sets
// Request::principal ("bearer" or "uid:N") or answers 401 with
// `WWW-Authenticate: Bearer`. Routes with Auth::kNone pass untouched.
inline Wrapper auth(AuthOptions options) {
  const uid_t local = options.local_uid.value_or(::geteuid());
  return {"auth",
          [token = std::move(options.bearer_token), local](const Route& route,
                                                           Handler next) -> Handler {
            const Auth need = route.auth_requirement();
            if (need == Auth::kNone) return next;
            return [token, local, need, next = std::move(next)](Request& req) {
              const bool bearer_ok = need == Auth::kBearer || need == Auth::kBearerOrLocalUser;
              const bool local_ok = need == Auth::kLocalUser || need == Auth::kBearerOrLocalUser;
              if (local_ok && req.peer.transport == Peer::Transport::kUnix && req.peer.uid &&
                  *req.peer.uid == local) {
                req.principal = "uid:" + std::to_string(*req.peer.uid);
                return next(req);
              }
              if (bearer_ok && !token.empty()) {
                std::string_view h = req.header("Authorization");
                constexpr std::string_view kScheme = "Bearer ";
                if (h.size() > kScheme.size()) {
                  bool scheme = true;
                  // The scheme's letters in either case (ASCII, no locale).
                  for (std::size_t i = 0; i < kScheme.size(); ++i) {
                    const char c = h[i];
                    const char lower = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
                    const char want = kScheme[i] >= 'A' && kScheme[i] <= 'Z'
                                          ? static_cast<char>(kScheme[i] - 'A' + 'a')
                                          : kScheme[i];
                    scheme = scheme && lower == want;
                  }
                  if (scheme && internal::constant_time_equal(h.substr(kScheme.size()), token)) {
                    req.principal = "bearer";
                    return next(req);
                  }
                }
              }
              throw std::move(Error(ErrorCode::kUnauthorized, "missing or wrong credentials")
                                  .with_header("WWW-Authenticate", "Bearer"));
            };
          },
          true};
}

}  // namespace coordkit::http

#endif  // COORDKIT_HTTP_WRAPPERS_H_
