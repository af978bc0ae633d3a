// coordkit/db/db.h: coordkit::db in one include: an encrypted SQLite
// (SQLCipher 4) database shared safely by a long-running service and any
// number of short-lived command-line processes.
//
// Example:
//   #include "coordkit/db/db.h"
//
//   coordkit::db::Options options;
//   options.path = dir / "app.db";
//   options.key = coordkit::db::Key::passphrase("secret");
//   options.migrations = {{1, "CREATE TABLE kv(k TEXT PRIMARY KEY, v TEXT);"}};
//   auto store = coordkit::db::Store::open(options);
//   store->write([](coordkit::db::Transaction& tx) {
//     tx.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", "k", "v");
//   });
#ifndef COORDKIT_DB_DB_H_
#define COORDKIT_DB_DB_H_

#ifdef _WIN32
#error "libs/db is POSIX-only: Debian packages no SQLCipher for mingw"
#endif

#include "coordkit/db/counters.h"     // IWYU pragma: export
#include "coordkit/db/database.h"     // IWYU pragma: export
#include "coordkit/db/error.h"        // IWYU pragma: export
#include "coordkit/db/key.h"          // IWYU pragma: export
#include "coordkit/db/maintenance.h"  // IWYU pragma: export
#include "coordkit/db/options.h"      // IWYU pragma: export
#include "coordkit/db/store.h"        // IWYU pragma: export
#include "coordkit/db/transaction.h"  // IWYU pragma: export

#endif  // COORDKIT_DB_DB_H_
