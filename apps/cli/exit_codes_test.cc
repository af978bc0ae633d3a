#include "coordkit/cli/exit_codes.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>

#include "coordkit/apps/key_source.h"
#include "coordkit/apps/records.h"
#include "coordkit/db/error.h"
#include "coordkit/ipc/error.h"

namespace cli = coordkit::cli;

TEST_CASE("coordctl's exit codes keep their documented numbers", "[cli]") {
  CHECK(cli::kExitOk == 0);
  CHECK(cli::kExitError == 1);
  CHECK(cli::kExitUsage == 2);
  CHECK(cli::kExitNotRunning == 3);
  CHECK(cli::kExitWrongKey == 4);
  CHECK(cli::kExitTimeout == 5);
  CHECK(cli::kExitAlreadyRunning == 6);
  CHECK(cli::kExitConflict == 7);
}

TEST_CASE("exit_code_for maps each library's errors by library and code name", "[cli]") {
  using coordkit::db::ErrorCode;
  namespace db = coordkit::db;
  namespace ipc = coordkit::ipc;
  namespace records = coordkit::records;
  namespace keys = coordkit::keys;
  CHECK(cli::exit_code_for(db::Error(ErrorCode::kWrongKeyOrNotADatabase, "x")) == 4);
  CHECK(cli::exit_code_for(db::Error(ErrorCode::kPlaintextDatabase, "x")) == 4);
  CHECK(cli::exit_code_for(db::Error(ErrorCode::kBusy, "x")) == 5);
  CHECK(cli::exit_code_for(db::Error(ErrorCode::kFull, "x")) == 1);
  CHECK(cli::exit_code_for(db::Error(ErrorCode::kNotInitialised, "x")) == 1);
  CHECK(cli::exit_code_for(records::Error(records::ErrorCode::kVersionMismatch, "x", 3)) == 7);
  CHECK(cli::exit_code_for(records::Error(records::ErrorCode::kAlreadyExists, "x", 1)) == 7);
  CHECK(cli::exit_code_for(records::Error(records::ErrorCode::kNotFound, "x")) == 1);
  CHECK(cli::exit_code_for(records::Error(records::ErrorCode::kInvalidArgument, "x")) == 2);
  CHECK(cli::exit_code_for(keys::Error(keys::ErrorCode::kNoKey, "x")) == 2);
  CHECK(cli::exit_code_for(keys::Error(keys::ErrorCode::kKeyFileUnsafe, "x")) == 1);
  CHECK(cli::exit_code_for(ipc::Error(ipc::ErrorCode::kAlreadyRunning, "x")) == 6);
  CHECK(cli::exit_code_for(ipc::Error(ipc::ErrorCode::kNotRunning, "x")) == 3);
  CHECK(cli::exit_code_for(ipc::Error(ipc::ErrorCode::kTimedOut, "x")) == 5);
  CHECK(cli::exit_code_for(ipc::Error(ipc::ErrorCode::kRuntimeDirTooOpen, "x")) == 1);
  CHECK(cli::exit_code_for(cli::Error(cli::ErrorCode::kUsage, "x")) == 2);
  CHECK(cli::exit_code_for(cli::Error(cli::ErrorCode::kNotRunning, "x")) == 3);
  CHECK(cli::exit_code_for(cli::Error(cli::ErrorCode::kTimedOut, "x")) == 5);
  CHECK(cli::exit_code_for(cli::Error(cli::ErrorCode::kAlreadyRunning, "x")) == 6);
  CHECK(cli::exit_code_for(cli::Error(cli::ErrorCode::kGatewayFailed, "x")) == 1);
  CHECK(cli::exit_code_for(coordkit::Error("http", "anything", "x")) == 1);
}
