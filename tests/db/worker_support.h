// tests/db/worker_support.h: the pieces of db_worker that do not touch a
// database: the shared schema, the append-only log of acknowledged writes,
// the start barrier, latency percentiles, and the deterministic payloads.
//
// The acknowledged-write log is the ground truth of every scenario: a worker
// appends one line per transaction *after* COMMIT returned (or after the
// library's write() returned), with one write(2) per line on an O_APPEND
// descriptor. The line therefore survives a SIGKILL of the worker (it is in
// the page cache), which is what the scenarios kill; no fsync, since no
// scenario cuts power. A line means "committed"; the converse need not hold
// (a worker killed between COMMIT and the write(2) leaves a committed row
// without a line), so tests check acked ⊆ rows, never equality, for killed
// workers.
//
// Ack line format: `<worker> <first_seq> <count> <kind>\n`, kind `i`
// (insert of rows first_seq .. first_seq+count-1) or `c` (a read-then-write
// increment of the shared counter that also inserted row first_seq).

#ifndef COORDKIT_TESTS_DB_WORKER_SUPPORT_H_
#define COORDKIT_TESTS_DB_WORKER_SUPPORT_H_

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

namespace coordkit::dbtest {

// kSchemaV1: the scenarios' schema, identical for the library (migration 1),
// the naive client and the stock shell. `items` holds one row per
// acknowledged (worker, seq); `counters` holds the read-then-write counter.
inline constexpr std::string_view kSchemaV1 =
    "CREATE TABLE IF NOT EXISTS items("
    "id INTEGER PRIMARY KEY, worker TEXT NOT NULL, seq INTEGER NOT NULL, payload BLOB, "
    "UNIQUE(worker, seq));"
    "CREATE TABLE IF NOT EXISTS counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO counters(name, value) VALUES('c', 0);";

// kDefaultPassphrase: what every scenario uses unless it tests keys.
inline constexpr std::string_view kDefaultPassphrase = "passphrase";

// kPassphraseEnv: workers read their passphrase from this variable (never
// argv); unset means kDefaultPassphrase.
inline constexpr const char* kPassphraseEnv = "DB_WORKER_PASSPHRASE";

using Clock = std::chrono::steady_clock;

inline double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// AckLog: append-only, one write(2) per line (see the file comment).
class AckLog {
 public:
  AckLog() = default;
  explicit AckLog(const std::filesystem::path& path) {
    if (path.empty()) return;
    fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "open ack log");
  }
  AckLog(const AckLog&) = delete;
  AckLog& operator=(const AckLog&) = delete;
  AckLog(AckLog&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  AckLog& operator=(AckLog&& o) noexcept {
    if (this != &o) {
      close_fd();
      fd_ = o.fd_;
      o.fd_ = -1;
    }
    return *this;
  }
  ~AckLog() { close_fd(); }

  void record(std::string_view worker, std::int64_t first_seq, std::int64_t count, char kind) {
    if (fd_ < 0) return;
    std::string line;
    line.reserve(worker.size() + 48);
    line.append(worker).append(" ").append(std::to_string(first_seq)).append(" ");
    line.append(std::to_string(count)).append(" ").push_back(kind);
    line.push_back('\n');
    const char* p = line.data();
    std::size_t left = line.size();
    while (left > 0) {
      const ssize_t n = ::write(fd_, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw std::system_error(errno, std::generic_category(), "write ack log");
      p += n;
      left -= static_cast<std::size_t>(n);
    }
  }

 private:
  void close_fd() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd_ = -1;
};

// Ack: one parsed line of an ack log.
struct Ack {
  std::string worker;
  std::int64_t first_seq = 0;
  std::int64_t count = 0;
  char kind = 'i';
};

// read_acks: every complete line of an ack log (a torn last line, which a
// SIGKILL cannot produce with one write(2) per line but a full disk could, is
// ignored). A missing file is an empty log.
inline std::vector<Ack> read_acks(const std::filesystem::path& path) {
  std::vector<Ack> acks;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (in.eof()) break;  // no '\n': torn
    Ack a;
    char kind = 0;
    std::string worker;
    std::int64_t first = 0;
    std::int64_t count = 0;
    std::istringstream fields(line);
    if (fields >> worker >> first >> count >> kind) {
      a.worker = worker;
      a.first_seq = first;
      a.count = count;
      a.kind = kind;
      acks.push_back(a);
    }
  }
  return acks;
}

// touch: creates `path` (empty) if missing; used for ready markers.
inline void touch(const std::filesystem::path& path) {
  if (path.empty()) return;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd >= 0) ::close(fd);
}

inline bool file_exists(const std::filesystem::path& path) {
  struct stat st {};
  return !path.empty() && ::stat(path.c_str(), &st) == 0;
}

// wait_for_file: polls every 200 us until `path` exists; false on timeout.
// Polling (not inotify) keeps the barrier trivially correct; 200 us is far
// below any effect the scenarios measure.
inline bool wait_for_file(const std::filesystem::path& path, std::chrono::milliseconds timeout) {
  const auto end = Clock::now() + timeout;
  while (!file_exists(path)) {
    if (Clock::now() >= end) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

// LatencySummary: percentiles in milliseconds.
struct LatencySummary {
  std::size_t n = 0;
  double p50 = 0;
  double p99 = 0;
  double max = 0;
};

inline LatencySummary summarize(std::vector<double> samples) {
  LatencySummary s;
  s.n = samples.size();
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  auto at = [&](double q) {
    const auto i =
        static_cast<std::size_t>(std::lround(q * static_cast<double>(samples.size() - 1)));
    return samples[std::min(i, samples.size() - 1)];
  };
  s.p50 = at(0.50);
  s.p99 = at(0.99);
  s.max = samples.back();
  return s;
}

// payload: `size` deterministic bytes for (worker seed, seq), so that a
// verifier could recompute them; cheap (a 64-bit LCG).
inline std::string payload(std::uint64_t seed, std::int64_t seq, std::size_t size) {
  std::string out(size, '\0');
  std::uint64_t x =
      seed * 6364136223846793005ULL + static_cast<std::uint64_t>(seq) + 1442695040888963407ULL;
  for (std::size_t i = 0; i < size; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    out[i] = static_cast<char>(x >> 56);
  }
  return out;
}

}  // namespace coordkit::dbtest

#endif  // COORDKIT_TESTS_DB_WORKER_SUPPORT_H_
