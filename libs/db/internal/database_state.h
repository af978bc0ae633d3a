// Internal: the state behind a Database: the connection, the retry ladder,
// maintenance. (Skeleton: bodies follow.)
#ifndef COORDKIT_DB_INTERNAL_DATABASE_STATE_H_
#define COORDKIT_DB_INTERNAL_DATABASE_STATE_H_

#include <sqlcipher/sqlite3.h>

#include <filesystem>
#include <memory>

#include "coordkit/db/counters.h"
#include "coordkit/db/error.h"
#include "coordkit/db/internal/function_ref.h"
#include "coordkit/db/key.h"
#include "coordkit/db/maintenance.h"
#include "coordkit/db/options.h"
#include "coordkit/db/transaction.h"

namespace coordkit::db::internal {

class DatabaseState {
 public:
  static std::unique_ptr<DatabaseState> open(Options options) {
    (void)options;
    throw Error(ErrorCode::kInternal, "not implemented yet");
  }
  void run_transaction(FunctionRef<void(Transaction&)> fn, bool write) {
    (void)fn;
    (void)write;
  }
  Counters counters() const { return {}; }
  CheckpointResult checkpoint(CheckpointMode) { return {}; }
  void backup_to(const std::filesystem::path&, const Key&) {}
  void rekey(const Key&) {}
  CheckResult check(bool) { return {}; }
  Stats stats() { return {}; }
  int user_version() { return 0; }
  void reconnect(bool) {}
  void adopt_key(const Key&) {}
  const std::filesystem::path& path() const noexcept { return path_; }
  sqlite3* handle() noexcept { return nullptr; }

 private:
  std::filesystem::path path_;
};

}  // namespace coordkit::db::internal

#endif  // COORDKIT_DB_INTERNAL_DATABASE_STATE_H_
