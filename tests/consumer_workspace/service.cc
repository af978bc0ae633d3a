// consumer_service: a small service built from another Bazel workspace on
// coordkit's libraries, as a user's would be. It takes the runtime directory
// (ipc::Server: instance lock, status file, shutdown file), opens the shared
// encrypted database (db::Store; the passphrase comes from the environment,
// never argv), logs to a file and to the console (a non-ASCII line reaches
// both as ASCII), says ready, and writes one row per few milliseconds as
// writer "service" until a shutdown request arrives. Then it records how
// many rows it wrote (`<dir>/service.count`, written after the last COMMIT)
// and exits 0.
//
//   consumer_service <dir>      COORDKIT_CONSUMER_PASSPHRASE=<passphrase>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "consumer_schema.h"
#include "coordkit/db/db.h"
#include "coordkit/ipc/ipc.h"
#include "coordkit/log/log.h"

namespace ck = coordkit;

int main(int argc, char** argv) {
  ck::log::reserve_standard_fds();
  if (argc != 2) {
    std::fprintf(stderr, "usage: consumer_service <dir>\n");
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  auto file = std::make_shared<ck::log::FileSink>(
      ck::log::FileSinkOptions{.path = dir / consumer::kServiceLog});
  const ck::log::Logger log("consumer_service", {std::make_shared<ck::log::ConsoleSink>(), file});
  try {
    // The runtime directory first: the lock and the shutdown watcher are in
    // place before anything else starts.
    ck::ipc::Server server({.app = consumer::kApp,
                            .runtime_dir = dir / consumer::kRuntimeDir,
                            .version = "consumer-1"});
    const char* passphrase = std::getenv(consumer::kPassphraseEnv);
    if (passphrase == nullptr) throw std::runtime_error("no passphrase in the environment");
    auto store = ck::db::Store::open(consumer::options(dir, passphrase));
    log.info("service ready \xF0\x9F\x9A\x80", {{"pid", static_cast<std::int64_t>(::getpid())}});
    server.set_ready();

    std::int64_t seq = 0;
    while (!server.wait_for_shutdown(std::chrono::milliseconds(3))) {
      store->write([&](ck::db::Transaction& tx) {
        tx.execute(consumer::kInsert, consumer::kServiceWriter, seq, consumer::payload(seq));
      });
      ++seq;
    }
    server.set_draining();
    store.reset();  // closes the database before the count says "all done"
    std::ofstream(dir / consumer::kServiceCount) << seq << "\n";
    log.info("service stopped", {{"rows", seq}});
    return 0;
  } catch (const std::exception& e) {
    log.error("service failed", {{"error", e.what()}});
    return 1;
  }
}
