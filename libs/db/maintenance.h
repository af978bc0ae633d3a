// coordkit/db/maintenance.h: the results of maintenance operations
// (checkpoint, integrity checks, VACUUM, stats) shared by Database and Store.
//
// Example:
//   coordkit::db::CheckResult r = db.integrity_check();
//   if (!r.ok) for (const std::string& p : r.problems) std::fprintf(stderr, "%s\n", p.c_str());
#ifndef COORDKIT_DB_MAINTENANCE_H_
#define COORDKIT_DB_MAINTENANCE_H_

#ifdef _WIN32
#error "libs/db is POSIX-only: Debian packages no SQLCipher for mingw"
#endif

#include <cstdint>
#include <string>
#include <vector>

#include "coordkit/db/counters.h"

namespace coordkit::db {

// CheckResult: ok is true when every check passed; problems lists the rows
// that integrity_check/quick_check and cipher_integrity_check reported.
struct CheckResult {
  bool ok = false;
  std::vector<std::string> problems;
};

// CheckpointResult: sqlite3_wal_checkpoint_v2's figures (-1 when not in WAL
// mode); busy is true when the checkpoint could not finish because readers or
// writers were in the way. Contention is not an error.
struct CheckpointResult {
  int log_frames = 0;
  int checkpointed_frames = 0;
  bool busy = false;
};

// VacuumResult: what Database::vacuum() did. VACUUM rewrites the database
// into the WAL; the main file shrinks to pages_after pages once the WAL is
// checkpointed, which vacuum() does itself unless readers hold older
// snapshots (wal_truncated false: a later checkpoint shrinks the file).
struct VacuumResult {
  std::int64_t pages_before = 0;
  std::int64_t pages_after = 0;
  bool wal_truncated = false;
};

// Stats: the file's shape plus the counters.
struct Stats {
  std::int64_t page_count = 0;
  std::int64_t page_size = 0;
  std::int64_t freelist_count = 0;
  std::int64_t wal_bytes = 0;  // size of <path>-wal, 0 when absent
  std::int64_t user_version = 0;
  Counters counters;
};

}  // namespace coordkit::db

#endif  // COORDKIT_DB_MAINTENANCE_H_
