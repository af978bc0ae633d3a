// consumer: a program built by CMake against coordkit's four libraries. It
// creates an encrypted database in a scratch directory (argv[1]), writes and
// reads a row, spawns a child and reads its exit code, resolves a runtime
// directory, and logs a non-ASCII line that reaches the console as ASCII.
// Exits 0 when all of it worked.
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>

#include "coordkit/db/db.h"
#include "coordkit/ipc/ipc.h"
#include "coordkit/log/log.h"
#include "coordkit/spawn/spawn.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: consumer <scratch dir>\n");
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  const coordkit::log::Logger log = coordkit::log::console_logger("consumer");
  try {
    coordkit::db::Options options;
    options.path = dir / "consumer.db";
    options.key = coordkit::db::Key::passphrase("consumer passphrase");
    coordkit::db::Migration schema;
    schema.version = 1;
    schema.sql = "CREATE TABLE kv(k TEXT PRIMARY KEY, v TEXT NOT NULL);";
    options.migrations = {schema};
    auto store = coordkit::db::Store::open(std::move(options));
    store->write([](coordkit::db::Transaction& tx) {
      tx.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", "greeting", "caf\xC3\xA9");
    });
    std::string value;
    store->read([&](coordkit::db::Transaction& tx) {
      value = tx.query_value<std::string>("SELECT v FROM kv WHERE k = ?", "greeting").value_or("");
    });
    if (value != "caf\xC3\xA9") throw std::runtime_error("read back '" + value + "'");

    coordkit::spawn::Child child =
        coordkit::spawn::spawn({.executable = "sh", .args = {"-c", "exit 3"}, .search_path = true});
    const coordkit::spawn::ExitStatus status = child.wait();
    if (status.exit_code != 3) throw std::runtime_error("child: " + status.to_string());

    const coordkit::ipc::RuntimeDirLocation runtime =
        coordkit::ipc::resolve_runtime_dir("consumer", dir / "run");
    log.info("all four libraries work \xE2\x9C\x93",
             {{"value", value}, {"runtime_dir", runtime.path.string()}});
    return 0;
  } catch (const std::exception& e) {
    log.error("consumer failed", {{"error", e.what()}});
    return 1;
  }
}
