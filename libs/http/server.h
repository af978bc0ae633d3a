// coordkit/http/server.h: the Boost.Beast server that answers a Router.
//
// Listens on TCP ("127.0.0.1:8080"; port 0 picks one, tcp_port() says
// which) and/or a Unix-domain socket ("unix:/run/user/1000/app/http.sock",
// created 0600; the peer's uid reaches auth through SO_PEERCRED). One
// session per connection, on its own strand; N threads; keep-alive;
// pipelined requests answered in order (one at a time per connection).
//
// Blocking handlers: a route declared Route::blocking() (a database
// transaction, file I/O) runs, with all its wrappers, on a separate pool of
// `blocking_threads` threads, and its answer is posted back to the
// connection's strand; the I/O threads meanwhile serve the other
// connections. At most `blocking_queue` such requests wait for a pool
// thread; one more is answered 503 with Retry-After (through the route's
// wrappers, so the access log sees it), never queued without bound. A
// request whose deadline passed while it waited is answered 503 the same
// way without running its handler. Requests on one connection still run
// one at a time, so pipelined answers keep their order; a blocking request
// in flight counts for drain() like any other.
//
// Slow and hostile clients: the header limit answers 431, the body limit
// 413 (from Content-Length, before the body is read), a malformed request
// 400, each followed by a close. A connection over max_connections gets a
// canned 503 and is closed at once, never queued. A request must arrive
// whole within read_timeout of its first byte, a kept-alive connection may
// sit idle for idle_timeout, a response must be taken within
// write_timeout: a client sending a byte a second, or a thousand
// connections opened and left, hold no thread and only a bounded buffer
// each, and are closed on time.
//
// The threads run from start() until stop(), whether or not any address
// still listens or any connection is open (a work guard keeps the I/O loop
// alive): stop() is what ends them, after every connection was closed.
//
// drain(deadline): stop accepting, answer requests that arrive meanwhile
// with 503 and `Connection: close`, let requests in flight finish until the
// deadline, then close every connection; returns how many finished and how
// many were cut. Handlers see each request's deadline in Request::deadline.
//
// Example:
//   coordkit::http::Router router({.title = "example", .version = "1.0.0"});
//   // ... router.tag(), router.add(), router.use() ...
//   coordkit::http::Server server(router, {.listen = {"127.0.0.1:0"}, .threads = 2});
//   server.start();
//   std::printf("listening on %u\n", server.tcp_port());
//   // ... until asked to stop:
//   coordkit::http::DrainResult d = server.drain(std::chrono::seconds(5));
//   server.stop();
#ifndef COORDKIT_HTTP_SERVER_H_
#define COORDKIT_HTTP_SERVER_H_

#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/execution/blocking.hpp>
#include <boost/asio/execution/relationship.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/require.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "coordkit/http/error.h"
#include "coordkit/http/internal/blocking_pool.h"
#include "coordkit/http/route.h"
#include "coordkit/http/router.h"
#include "coordkit/log/log.h"

namespace coordkit::http {

// ServerOptions: addresses and limits. Every limit has a default that suits
// a local service; set them lower in tests.
struct ServerOptions {
  // "HOST:PORT" (IPv4 or [IPv6]) and/or "unix:PATH"; at least one.
  std::vector<std::string> listen{};
  // Threads running the I/O and the handlers of routes that do not block.
  int threads = 1;
  // Threads running the handlers of blocking routes (Route::blocking). 0
  // runs those on the I/O threads too.
  int blocking_threads = 4;
  // Blocking requests that may wait for a blocking thread; one more is
  // answered 503 with Retry-After.
  std::size_t blocking_queue = 64;
  // Open connections at most; more are answered 503 and closed at once.
  std::size_t max_connections = 1024;
  // Request line plus headers, bytes (431 above).
  std::size_t header_limit = std::size_t{16} * 1024;
  // Request body, bytes (413 above).
  std::size_t body_limit = std::size_t{1024} * 1024;
  // A request must be read whole within this time of its first byte.
  std::chrono::milliseconds read_timeout{10000};
  // A connection with no request under way is closed after this time.
  std::chrono::milliseconds idle_timeout{30000};
  // A response must be taken by the client within this time.
  std::chrono::milliseconds write_timeout{10000};
  // Request::deadline is the time a request was read plus this.
  std::chrono::milliseconds handler_deadline{30000};
  // Server-level events (refusals, accept errors), not the access log.
  log::Logger log{};
};

// DrainResult: what drain() did. `finished` counts requests in flight when
// the drain began, or arriving before it closed the doors, that were
// answered; `cut` those still in flight at the deadline, whose connections
// were closed.
struct DrainResult {
  std::size_t finished = 0;
  std::size_t cut = 0;
  std::size_t refused = 0;  // requests answered 503 while draining
  std::chrono::milliseconds took{0};
};

// ServerStats: counters since start().
struct ServerStats {
  std::uint64_t accepted = 0;
  std::uint64_t refused_connections = 0;  // over max_connections
  std::uint64_t requests = 0;
  std::uint64_t timeouts = 0;  // connections closed by a read, idle or write timeout
  std::uint64_t shed = 0;      // blocking requests answered 503: the queue was full or they expired
  std::size_t open_connections = 0;
  std::size_t in_flight = 0;  // requests being handled now
  bool listening = false;     // some address still accepts connections
  int threads_running = 0;    // threads inside the I/O loop: all of them from start() to stop()
};

namespace internal {

// SessionBase: what the server keeps of a session: a way to close it.
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  virtual void close_from_server() = 0;
};

// ServerCore: the state shared by the server and its sessions.
struct ServerCore {
  const Router* router = nullptr;
  ServerOptions options;

  std::atomic<bool> draining{false};
  std::atomic<bool> stopping{false};  // stop() began: a session that starts now closes at once
  std::atomic<int> running{0};        // threads inside ioc.run()
  std::atomic<int> listening{0};      // listeners whose acceptor is open
  std::atomic<std::size_t> open{0};
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> refused{0};
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> timeouts{0};
  std::atomic<std::uint64_t> shed{0};
  // pool: runs blocking routes' handlers; null with blocking_threads 0.
  std::unique_ptr<BlockingPool> pool;

  std::mutex mu;
  std::condition_variable cv;
  std::size_t in_flight = 0;                       // guarded by mu
  std::size_t drain_finished = 0;                  // guarded by mu
  std::size_t drain_refused = 0;                   // guarded by mu
  std::list<std::weak_ptr<SessionBase>> sessions;  // guarded by mu

  // Last, so destroyed first: the handlers it still holds when the server
  // stops own sessions, whose destructors use the members above.
  boost::asio::io_context ioc;

  explicit ServerCore(int threads) : ioc(threads) {}

  std::list<std::weak_ptr<SessionBase>>::iterator enlist(const std::shared_ptr<SessionBase>& s) {
    std::lock_guard lock(mu);
    return sessions.insert(sessions.end(), s);
  }
  void delist(std::list<std::weak_ptr<SessionBase>>::iterator it) {
    std::lock_guard lock(mu);
    sessions.erase(it);
  }
  void begin_request() {
    std::lock_guard lock(mu);
    ++in_flight;
  }
  void end_request(bool answered) {
    {
      std::lock_guard lock(mu);
      --in_flight;
      if (answered && draining.load()) ++drain_finished;
    }
    cv.notify_all();
  }
};

// Session: one connection. Every step runs on the socket's strand.
template <class Protocol>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Protocol>> {
 public:
  using Socket = typename Protocol::socket;

  Session(ServerCore& core, Socket socket, Peer peer)
      : core_(core),
        socket_(std::move(socket)),
        post_ex_(boost::asio::prefer(
            boost::asio::require(socket_.get_executor(), boost::asio::execution::blocking.never),
            boost::asio::execution::relationship.fork)),
        timer_(socket_.get_executor()),
        buffer_(core.options.header_limit + core.options.body_limit + 4096),
        peer_(std::move(peer)) {
    // write() tries each answer at once and must not block doing it.
    boost::system::error_code ignored;
    socket_.non_blocking(true, ignored);
  }

  ~Session() override {
    core_.open.fetch_sub(1);
    if (listed_) core_.delist(self_it_);
  }

  void start() {
    self_it_ = core_.enlist(this->shared_from_this());
    listed_ = true;
    // Accepted while stop() was closing the others (after it took its
    // list of sessions): close it here, or the threads would wait for its
    // idle timeout. The flag is read after enlisting, and stop() sets it
    // before listing, so one of the two sees the other.
    if (core_.stopping.load()) {
      close_from_server();
      return;
    }
    boost::asio::dispatch(socket_.get_executor(),
                          [self = this->shared_from_this()] { self->wait_for_request(); });
  }

  void close_from_server() override {
    // A handler still running on the strand must not get its answer out
    // after this: on_read checks the flag before it writes.
    cut_.store(true);
    post([self = this->shared_from_this()] { self->close(); });
  }

 private:
  // post: `f` to run later on the session's executor, as asio::post runs
  // it, through an executor that already carries asio::post's properties
  // (taken once per session, not on every post of a type-erased one).
  template <class F>
  void post(F&& f) {
    post_ex_.execute(std::forward<F>(f));
  }

  // arm / disarm: the one timeout of the step under way (idle wait,
  // request read, response write), on one timer that is rarely touched: a
  // step only moves deadline_, and the timer, when it wakes, sleeps again
  // until the deadline that holds then. It is re-armed only when a
  // deadline comes earlier than its wake-up, and it never wakes later than
  // the shortest timeout after it was set, so moving from an idle wait to
  // a read, or from a read to a write, never re-arms it. Per request that
  // saves scheduling and cancelling three timer waits.
  void arm(std::chrono::milliseconds d) {
    const Clock::time_point now = coarse_now();
    deadline_ = now + d;
    if (timer_waiting_ && timer_wakes_ <= deadline_) return;
    start_timer(std::min(deadline_, now + shortest_timeout()));
  }
  void disarm() { deadline_ = Clock::time_point::max(); }

  // coarse_now: Clock's time as the kernel last stored it (behind by at
  // most a scheduler tick, a few milliseconds), for the timeouts of
  // seconds that arm() sets three times a request: on Linux it reads a
  // value instead of the clock, about a fifth of Clock::now()'s cost on a
  // virtual machine. The timer's own checks still read Clock::now().
  static Clock::time_point coarse_now() noexcept {
#ifdef CLOCK_MONOTONIC_COARSE
    // steady_clock is CLOCK_MONOTONIC in libstdc++ and libc++, which
    // CLOCK_MONOTONIC_COARSE follows.
    timespec ts{};
    if (::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) == 0) {
      return Clock::time_point(std::chrono::duration_cast<Clock::duration>(
          std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
    }
#endif
    return Clock::now();
  }

  std::chrono::milliseconds shortest_timeout() const {
    const ServerOptions& o = core_.options;
    return std::min({o.idle_timeout, o.read_timeout, o.write_timeout});
  }

  void start_timer(Clock::time_point at) {
    const std::uint64_t gen = ++timer_gen_;
    timer_wakes_ = at;
    timer_waiting_ = true;
    timer_.expires_at(at);  // a wait still pending ends with operation_aborted
    timer_.async_wait([self = this->shared_from_this(), gen](boost::system::error_code ec) {
      if (gen != self->timer_gen_) return;  // a newer wait took over
      self->timer_waiting_ = false;
      if (ec || self->closed_ || self->deadline_ == Clock::time_point::max()) return;
      const Clock::time_point now = Clock::now();
      if (now >= self->deadline_) {
        self->core_.timeouts.fetch_add(1);
        return self->close();
      }
      self->start_timer(std::min(self->deadline_, now + self->shortest_timeout()));
    });
  }

  void wait_for_request() {
    if (closed_) return;
    if (buffer_.size() > 0) {
      read_request();
      return;
    }
    if (buffer_.capacity() > std::size_t{64} * 1024) buffer_.shrink_to_fit();
    arm(core_.options.idle_timeout);
    // A read of the first bytes rather than an async_wait for them: asio
    // re-arms epoll (one epoll_ctl) for every wait, while a read is tried
    // at once and otherwise waits on the readiness epoll already reports.
    // The request's own read_timeout runs from these first bytes.
    socket_.async_read_some(
        buffer_.prepare(boost::beast::read_size(buffer_, kReadSize)),
        [self = this->shared_from_this()](boost::system::error_code ec, std::size_t n) {
          if (ec || self->closed_) return self->close();
          self->buffer_.commit(n);
          self->read_request();
        });
  }

  void read_request() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(core_.options.header_limit));
    parser_->body_limit(core_.options.body_limit);
    parser_->eager(true);
    arm(core_.options.read_timeout);
    parse_buffered();
  }

  // parse_buffered: what Beast's async_read does (the same parser, fed the
  // same pieces, with the same limits and end-of-stream rules), without
  // its composed operation: the bytes already read go to the parser at
  // once, and the socket is read only when the parser needs more. A
  // request that arrived whole, nearly every one, is answered on this call
  // stack instead of after a post through the executor.
  void parse_buffered() {
    namespace bh = boost::beast::http;
    for (;;) {
      if (buffer_.size() > 0) {
        boost::system::error_code ec;
        const std::size_t used = parser_->put(buffer_.data(), ec);
        buffer_.consume(used);
        if (ec && ec != bh::error::need_more) return on_read(ec);
        if (parser_->is_done()) return on_read({});
        // The header ended where the bytes did: the body may follow.
        if (!ec && used > 0 && buffer_.size() > 0) continue;
      }
      return read_more();
    }
  }

  void read_more() {
    namespace bh = boost::beast::http;
    const std::size_t size = boost::beast::read_size(buffer_, kReadSize);
    if (size == 0) return on_read(bh::error::buffer_overflow);
    socket_.async_read_some(
        buffer_.prepare(size),
        [self = this->shared_from_this()](boost::system::error_code ec, std::size_t n) {
          self->buffer_.commit(n);
          if (ec == boost::asio::error::eof) {
            // As Beast's read: the end of a message that could end there
            // completes it; the end of nothing is end_of_stream.
            if (!self->parser_->got_some()) return self->on_read(bh::error::end_of_stream);
            ec = {};
            self->parser_->put_eof(ec);
            return self->on_read(ec);
          }
          if (ec) return self->on_read(ec);
          self->parse_buffered();
        });
  }

  void on_read(boost::system::error_code ec) {
    disarm();
    if (closed_) return;
    namespace bh = boost::beast::http;
    if (ec) {
      if (ec == bh::error::end_of_stream || ec == boost::asio::error::eof ||
          ec == boost::asio::error::operation_aborted ||
          ec == boost::asio::error::connection_reset) {
        return close();
      }
      ErrorCode code = ErrorCode::kBadRequest;
      if (ec == bh::error::header_limit) code = ErrorCode::kHeadersTooLarge;
      if (ec == bh::error::body_limit) code = ErrorCode::kPayloadTooLarge;
      if (ec == bh::error::buffer_overflow) code = ErrorCode::kHeadersTooLarge;
      return refuse(code, "the request could not be read");
    }
    core_.requests.fetch_add(1);
    if (core_.draining.load()) {
      {
        std::lock_guard lock(core_.mu);
        ++core_.drain_refused;
      }
      return refuse(ErrorCode::kUnavailable, "the server is shutting down");
    }
    core_.begin_request();
    counted_ = true;
    // The parser's keep-alive: what the request's Connection header and
    // version say, read once while parsing instead of from the fields.
    version_ = parser_->get().version();
    answer_keep_alive_ = parser_->keep_alive();
    const Clock::time_point now = Clock::now();
    req_.reset(now);
    req_.raw = &parser_->get();
    req_.peer = peer_;
    req_.deadline = now + core_.options.handler_deadline;
    if (core_.router->begin(req_) && core_.pool) {
      // The pool thread owns req_ and the parsed request until the answer
      // is posted back; this strand does nothing for the session meanwhile
      // (no read is pending and no timer armed).
      BlockingPool::Task task = [self = this->shared_from_this()](bool run) {
        self->run_blocking(run);
      };
      if (core_.pool->try_submit(task)) return;
      core_.shed.fetch_add(1);
      req_.shed_ = Request::Shed::kPoolFull;
    }
    res_ = answer();
    on_handled();
  }

  // answer: the router's answer to req_.
  Response answer() { return core_.router->finish(req_); }

  // run_blocking: on a pool thread (`run`), or on the thread stopping the
  // pool for a request it never ran.
  void run_blocking(bool run) noexcept {
    try {
      if (!run) {
        post([self = this->shared_from_this()] {
          self->cut_.store(true);
          self->send_answer();
        });
        return;
      }
      if (Clock::now() >= req_.deadline) {
        core_.shed.fetch_add(1);
        req_.shed_ = Request::Shed::kExpired;
      }
      Response res = answer();
      post([self = this->shared_from_this(), res = std::move(res)]() mutable {
        self->res_ = std::move(res);
        self->send_answer();
      });
    } catch (...) {
      // Out of memory posting the answer: the connection is closed so the
      // client is not left waiting.
      cut_.store(true);
      close_from_server_noexcept();
    }
  }

  // on_handled: on the strand, with the answer to the request in flight in
  // res_. The answer is sent after the other ready work of this turn of the
  // event loop: the requests read in one batch are all handled first, then
  // their answers leave back to back. A client asleep in its poll is woken
  // once for the batch instead of once for each answer, and on a virtual
  // machine that wake-up is much of what a loopback send costs (measured
  // with tools/bench/http: about 30% more requests a second). It also
  // keeps pipelined requests from nesting answers on one call stack.
  void on_handled() {
    post([self = this->shared_from_this()] { self->send_answer(); });
  }

  // send_answer: res_ written, unless the connection was cut or closed
  // meanwhile; a drain begun meanwhile makes it the connection's last.
  void send_answer() {
    if (cut_.load() || closed_) {
      counted_ = false;
      core_.end_request(false);
      return close();
    }
    if (core_.draining.load()) answer_keep_alive_ = false;
    write();
  }

  void close_from_server_noexcept() noexcept {
    try {
      close_from_server();
    } catch (...) {
      // Nothing more to try; the session's timers and stop() close it.
    }
  }

  // refuse: an error answer made before (or instead of) the route table,
  // then a close.
  void refuse(ErrorCode code, const char* message) {
    ErrorReply reply;
    reply.status = error_status(code);
    reply.code = std::string(error_code_name(code));
    reply.message = message;
    if (code == ErrorCode::kUnavailable) reply.headers.emplace_back("Retry-After", "1");
    // No request is in flight (it was not read, or not admitted), so req_
    // is free to carry the refusal's id.
    req_.request_id = core_.router->next_request_id();
    res_ = Router::error_response(reply, req_.request_id);
    version_ = 11;
    answer_keep_alive_ = false;
    core_.options.log.debug("request refused", {{"status", reply.status},
                                                {"code", reply.code},
                                                {"peer", peer_.address},
                                                {"request_id", req_.request_id}});
    write();
  }

  // write: res_ serialized into one buffer kept across requests, then sent
  // with one write tried at once: an answer the socket takes whole (nearly
  // every one) goes on without an asynchronous operation; the rest is sent
  // asynchronously under write_timeout.
  void write() {
    arm(core_.options.write_timeout);
    if (out_.capacity() > std::size_t{64} * 1024) out_.shrink_to_fit();
    out_.clear();
    boost::system::error_code ec;
    keep_alive_ = answer_keep_alive_;
    // Nearly every answer: written as Beast would write it, without its
    // fields. The rest goes through a Beast response and its serializer.
    if (!Router::write_response(res_, version_, keep_alive_, req_.request_id, out_)) {
      BeastResponse res;
      try {
        res = Router::to_beast(std::move(res_), version_, keep_alive_, req_.request_id);
      } catch (const std::exception& e) {
        // Beast refuses the message (a body on a 204, say): the client gets
        // a 500 (ErrorReply's default) instead of a dropped connection.
        core_.router->logger().error("response cannot be sent",
                                     {{"request_id", req_.request_id}, {"cause", e.what()}});
        res = Router::to_beast(Router::error_response(ErrorReply{}, req_.request_id), version_,
                               keep_alive_, req_.request_id);
      }
      keep_alive_ = res.keep_alive();
      ec = Router::serialize(res, out_);
      if (ec) return on_write(ec);
    }
    const std::size_t sent = socket_.write_some(boost::asio::buffer(out_), ec);
    if (!ec && sent == out_.size()) return on_write({});
    if (ec && ec != boost::asio::error::would_block && ec != boost::asio::error::try_again)
      return on_write(ec);
    boost::asio::async_write(socket_, boost::asio::buffer(out_) + sent,
                             [self = this->shared_from_this()](boost::system::error_code e,
                                                               std::size_t) { self->on_write(e); });
  }

  void on_write(boost::system::error_code ec) {
    disarm();
    if (counted_) {
      counted_ = false;
      core_.end_request(!ec);
    }
    if (ec || !keep_alive_ || closed_) return close();
    // The answer's memory goes now if it is large; the next answer,
    // moved into res_, releases the rest.
    if (res_.body.capacity() > std::size_t{64} * 1024) res_ = Response();
    if (buffer_.size() > 0) return wait_for_request();
    // The next request's first read waits until the other connections'
    // ready work has run: it is tried at once (asio reads before it waits),
    // and tried later it finds the request already there more often,
    // instead of costing a read that finds nothing.
    post([self = this->shared_from_this()] { self->wait_for_request(); });
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    disarm();
    ++timer_gen_;
    timer_.cancel();
    boost::system::error_code ignored;
    socket_.shutdown(Socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

  // kReadSize: the most one read asks for, as Beast's own reads do; the
  // first bytes of a request are read in the size Beast would read them
  // (so its parser sees the same pieces, and its header limit counts the
  // same way), at most this.
  static constexpr std::size_t kReadSize = 65536;

  ServerCore& core_;
  Socket socket_;
  boost::asio::any_io_executor post_ex_;  // socket_'s, never blocking, forking
  boost::asio::steady_timer timer_;
  std::uint64_t timer_gen_ = 0;
  Clock::time_point deadline_ = Clock::time_point::max();  // of the step under way
  Clock::time_point timer_wakes_{};
  bool timer_waiting_ = false;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  Response res_;           // the answer to write
  unsigned version_ = 11;  // the HTTP version it answers
  bool answer_keep_alive_ =
      false;                 // whether it keeps the connection (the client's wish, unless draining)
  std::string out_;          // res_ serialized
  bool keep_alive_ = false;  // whether the answer being written keeps the connection
  Request req_;
  Peer peer_;
  bool closed_ = false;
  std::atomic<bool> cut_{false};
  bool counted_ = false;
  bool listed_ = false;
  std::list<std::weak_ptr<SessionBase>>::iterator self_it_;
};

// peer_of: who is on the other end: address and port over TCP; the socket
// path and the peer's uid (SO_PEERCRED) over a Unix socket.
inline Peer peer_of(boost::asio::ip::tcp::socket& s) {
  Peer p;
  p.transport = Peer::Transport::kTcp;
  boost::system::error_code ec;
  const auto ep = s.remote_endpoint(ec);
  if (!ec) p.address = ep.address().to_string() + ":" + std::to_string(ep.port());
  return p;
}
inline Peer peer_of(boost::asio::local::stream_protocol::socket& s) {
  Peer p;
  p.transport = Peer::Transport::kUnix;
  boost::system::error_code ec;
  p.address = s.local_endpoint(ec).path();
  struct ucred cred {};
  socklen_t len = sizeof cred;
  if (::getsockopt(s.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) p.uid = cred.uid;
  return p;
}

// Listener: accepts on one address and starts sessions.
template <class Protocol>
class Listener : public std::enable_shared_from_this<Listener<Protocol>> {
 public:
  using Acceptor = typename Protocol::acceptor;

  Listener(ServerCore& core, Acceptor acceptor, std::string unix_path)
      : core_(core),
        acceptor_(std::move(acceptor)),
        retry_(acceptor_.get_executor()),
        unix_path_(std::move(unix_path)) {}

  void start() {
    core_.listening.fetch_add(1);
    accept();
  }

  void stop() {
    boost::asio::post(acceptor_.get_executor(), [self = this->shared_from_this()] {
      if (!self->acceptor_.is_open()) return;
      boost::system::error_code ignored;
      self->acceptor_.close(ignored);
      self->core_.listening.fetch_sub(1);
      self->retry_.cancel();
      if (!self->unix_path_.empty()) ::unlink(self->unix_path_.c_str());
    });
  }

  Acceptor& acceptor() { return acceptor_; }

 private:
  void accept() {
    // With one I/O thread every handler already runs one at a time: the
    // io_context is the sessions' strand, and a strand's locking and
    // queueing per step would buy nothing.
    const boost::asio::any_io_executor ex =
        core_.options.threads == 1
            ? boost::asio::any_io_executor(core_.ioc.get_executor())
            : boost::asio::any_io_executor(boost::asio::make_strand(core_.ioc));
    acceptor_.async_accept(ex, [self = this->shared_from_this()](boost::system::error_code ec,
                                                                 typename Protocol::socket s) {
      self->on_accept(ec, std::move(s));
    });
  }

  void on_accept(boost::system::error_code ec, typename Protocol::socket s) {
    if (!acceptor_.is_open() || ec == boost::asio::error::operation_aborted) return;
    if (ec) {
      // Out of descriptors and the like: pause instead of spinning.
      core_.options.log.warn("accept failed", {{"error", ec.message()}});
      retry_.expires_after(std::chrono::milliseconds(50));
      retry_.async_wait([self = this->shared_from_this()](boost::system::error_code e) {
        if (!e) self->accept();
      });
      return;
    }
    core_.accepted.fetch_add(1);
    if (core_.open.load() >= core_.options.max_connections) {
      core_.refused.fetch_add(1);
      static constexpr char kRefusal[] =
          "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: "
          "close\r\n"
          "Retry-After: 1\r\nContent-Length: 83\r\n\r\n"
          "{\"error\":{\"code\":\"unavailable\",\"message\":\"too many "
          "connections\",\"request_id\":\"\"}}";
      boost::system::error_code ignored;
      s.non_blocking(true, ignored);
      s.write_some(boost::asio::buffer(kRefusal, sizeof kRefusal - 1), ignored);
      s.shutdown(Protocol::socket::shutdown_both, ignored);
      s.close(ignored);
    } else {
      core_.open.fetch_add(1);
      if constexpr (std::is_same_v<Protocol, boost::asio::ip::tcp>) {
        // Each answer leaves in one write; never hold it back for an ACK.
        boost::system::error_code ignored;
        s.set_option(boost::asio::ip::tcp::no_delay(true), ignored);
      }
      Peer peer = peer_of(s);
      std::make_shared<Session<Protocol>>(core_, std::move(s), std::move(peer))->start();
    }
    accept();
  }

  ServerCore& core_;
  Acceptor acceptor_;
  boost::asio::steady_timer retry_;
  std::string unix_path_;
};

}  // namespace internal

// Server: see the top of this file.
//
// Thread-safety: start(), drain() and stop() from one controlling thread
// (never from a handler). tcp_port(), unix_path() and stats() from any.
// `router` must outlive the server. The destructor stops it.
class Server {
 public:
  // Server: checks the options (throws Error(kInvalidArgument)); binds
  // nothing until start().
  Server(const Router& router, ServerOptions options)
      : core_(std::make_unique<internal::ServerCore>(options.threads < 1 ? 1 : options.threads)) {
    if (options.listen.empty()) throw Error(ErrorCode::kInvalidArgument, "no address to listen on");
    if (options.threads < 1 || options.max_connections < 1 || options.header_limit < 256 ||
        options.blocking_threads < 0) {
      throw Error(ErrorCode::kInvalidArgument,
                  "threads, blocking_threads, max_connections or header_limit out of range");
    }
    core_->router = &router;
    core_->options = std::move(options);
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  // ~Server: stop(); a failure to join a thread there (std::system_error)
  // cannot be reported from a destructor, and must not end the process.
  ~Server() {
    try {
      stop();
    } catch (...) {
      // Nothing to tell and no one to tell it to: the server is gone.
    }
  }

  // start: binds every address (throws Error(kListenFailed) with the errno,
  // or kInvalidArgument for an address it cannot read), then starts the
  // threads. A Unix socket path that exists and is a socket is replaced.
  void start() {
    for (const auto& addr : core_->options.listen) {
      if (addr.rfind("unix:", 0) == 0) {
        listen_unix(addr.substr(5));
      } else {
        listen_tcp(addr);
      }
    }
    // Made before the first thread runs, so no thread can find the loop
    // out of work (after a drain closed every listener and connection, say)
    // and return before stop().
    work_.emplace(core_->ioc.get_executor());
    if (core_->options.blocking_threads > 0 && !core_->pool) {
      core_->pool = std::make_unique<internal::BlockingPool>(core_->options.blocking_threads,
                                                             core_->options.blocking_queue);
      core_->pool->start();
    }
    for (int i = 0; i < core_->options.threads; ++i) {
      threads_.emplace_back([core = core_.get()] {
        core->running.fetch_add(1);
        core->ioc.run();
        core->running.fetch_sub(1);
      });
    }
  }

  // tcp_port: the TCP port bound (the one picked for port 0), or 0.
  unsigned short tcp_port() const noexcept { return tcp_port_; }
  // unix_path: the Unix socket's path, or "".
  const std::string& unix_path() const noexcept { return unix_path_; }

  ServerStats stats() const {
    ServerStats s;
    s.accepted = core_->accepted.load();
    s.refused_connections = core_->refused.load();
    s.requests = core_->requests.load();
    s.timeouts = core_->timeouts.load();
    s.shed = core_->shed.load();
    s.open_connections = core_->open.load();
    s.listening = core_->listening.load() > 0;
    s.threads_running = core_->running.load();
    std::lock_guard lock(core_->mu);
    s.in_flight = core_->in_flight;
    return s;
  }

  // drain: see the top of this file. Returns within `deadline` (plus the
  // time to post the closes); handlers still running then keep their
  // thread until they return (stop() waits for them).
  DrainResult drain(std::chrono::milliseconds deadline) {
    const auto start = Clock::now();
    core_->draining.store(true);
    close_listeners();
    std::unique_lock lock(core_->mu);
    core_->cv.wait_until(lock, start + deadline, [&] { return core_->in_flight == 0; });
    DrainResult out;
    out.finished = core_->drain_finished;
    out.cut = core_->in_flight;
    out.refused = core_->drain_refused;
    lock.unlock();
    for (auto& s : open_sessions()) s->close_from_server();
    out.took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    return out;
  }

  // stop: closes the listeners and every connection at once, then lets
  // the threads finish what that leaves (running handlers, the closes and
  // the cancelled reads, writes and timers) and joins them: when it
  // returns, every connection is closed and no thread runs. Idempotent.
  void stop() {
    if (threads_.empty() && tcp_.empty() && unix_.empty()) return;
    core_->draining.store(true);
    core_->stopping.store(true);
    close_listeners();
    for (auto& s : open_sessions()) s->close_from_server();
    // Blocking handlers still running finish first (their answers are
    // dropped, the connections are closed); queued ones never run.
    if (core_->pool) core_->pool->stop();
    // Without the guard the loop ends once the work above is done.
    work_.reset();
    for (auto& t : threads_) t.join();
    threads_.clear();
    tcp_.clear();
    unix_.clear();
  }

 private:
  // open_sessions: the live sessions. The references are taken under the
  // lock and dropped outside it: the last one runs ~Session, which locks.
  std::vector<std::shared_ptr<internal::SessionBase>> open_sessions() {
    std::vector<std::shared_ptr<internal::SessionBase>> out;
    std::lock_guard lock(core_->mu);
    for (auto& w : core_->sessions) {
      if (auto s = w.lock()) out.push_back(std::move(s));
    }
    return out;
  }

  void close_listeners() {
    for (auto& l : tcp_) l->stop();
    for (auto& l : unix_) l->stop();
  }

  void listen_tcp(const std::string& addr) {
    namespace ip = boost::asio::ip;
    const auto colon = addr.rfind(':');
    if (colon == std::string::npos)
      throw Error(ErrorCode::kInvalidArgument, "no port in '" + addr + "'");
    std::string host = addr.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
      host = host.substr(1, host.size() - 2);
    boost::system::error_code ec;
    const auto ip_addr = ip::make_address(host, ec);
    int port = -1;
    try {
      port = std::stoi(addr.substr(colon + 1));
    } catch (const std::exception&) {
    }
    if (ec || port < 0 || port > 65535)
      throw Error(ErrorCode::kInvalidArgument, "cannot read address '" + addr + "'");
    ip::tcp::acceptor acc(boost::asio::make_strand(core_->ioc));
    const ip::tcp::endpoint ep(ip_addr, static_cast<unsigned short>(port));
    acc.open(ep.protocol(), ec);
    if (!ec) acc.set_option(boost::asio::socket_base::reuse_address(true), ec);
    if (!ec) acc.bind(ep, ec);
    if (!ec) acc.listen(boost::asio::socket_base::max_listen_connections, ec);
    if (ec) throw Error(ErrorCode::kListenFailed, "cannot listen on '" + addr + "'", ec.value());
    tcp_port_ = acc.local_endpoint().port();
    auto l = std::make_shared<TcpListener>(*core_, std::move(acc), "");
    l->start();
    tcp_.push_back(std::move(l));
  }

  void listen_unix(const std::string& path) {
    using boost::asio::local::stream_protocol;
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(path.c_str());
    boost::system::error_code ec;
    stream_protocol::acceptor acc(boost::asio::make_strand(core_->ioc));
    const stream_protocol::endpoint ep(path);
    acc.open(ep.protocol(), ec);
    if (!ec) acc.bind(ep, ec);
    // Owner-only before listen(): nobody can connect before the mode is set.
    if (!ec && ::chmod(path.c_str(), 0600) != 0) ec.assign(errno, boost::system::system_category());
    if (!ec) acc.listen(boost::asio::socket_base::max_listen_connections, ec);
    if (ec)
      throw Error(ErrorCode::kListenFailed, "cannot listen on 'unix:" + path + "'", ec.value());
    unix_path_ = path;
    auto l = std::make_shared<UnixListener>(*core_, std::move(acc), path);
    l->start();
    unix_.push_back(std::move(l));
  }

  using TcpListener = internal::Listener<boost::asio::ip::tcp>;
  using UnixListener = internal::Listener<boost::asio::local::stream_protocol>;

  std::unique_ptr<internal::ServerCore> core_;
  std::vector<std::shared_ptr<TcpListener>> tcp_;
  std::vector<std::shared_ptr<UnixListener>> unix_;
  std::vector<std::thread> threads_;
  // work_: keeps the threads in ioc.run() from start() to stop().
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  unsigned short tcp_port_ = 0;
  std::string unix_path_;
};

}  // namespace coordkit::http

#endif  // COORDKIT_HTTP_SERVER_H_
