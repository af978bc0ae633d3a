// The error table: every code every library defines has its own row, the
// rows the apps rely on say what the contract says, and anything else falls
// back to 1 / 500.
#include "coordkit/apps/exit_codes.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "coordkit/apps/key_source.h"
#include "coordkit/apps/records.h"
#include "coordkit/db/error.h"
#include "coordkit/ipc/error.h"
#include "coordkit/log/error.h"
#include "coordkit/spawn/error.h"

namespace apps = coordkit::apps;
using apps::ExitCode;

namespace {

template <class E, class Code>
void add_range(std::vector<std::exception_ptr>& out, int first, int last) {
  for (int c = first; c <= last; ++c) {
    out.push_back(std::make_exception_ptr(E(static_cast<Code>(c), "m")));
  }
}

// every_error: one exception for each code of each library.
std::vector<std::exception_ptr> every_error() {
  std::vector<std::exception_ptr> out;
  add_range<coordkit::db::Error, coordkit::db::ErrorCode>(
      out, 0, static_cast<int>(coordkit::db::kErrorCodeCount) - 1);
  add_range<coordkit::ipc::Error, coordkit::ipc::ErrorCode>(
      out, 0, static_cast<int>(coordkit::ipc::ErrorCode::kSystem));
  add_range<coordkit::spawn::Error, coordkit::spawn::ErrorCode>(
      out, 0, static_cast<int>(coordkit::spawn::ErrorCode::kSystem));
  add_range<coordkit::log::Error, coordkit::log::ErrorCode>(
      out, static_cast<int>(coordkit::log::ErrorCode::kInvalidArgument),
      static_cast<int>(coordkit::log::ErrorCode::kOpenFailed));
  for (auto c : coordkit::records::kAllErrorCodes) {
    out.push_back(std::make_exception_ptr(coordkit::records::Error(c, "m")));
  }
  for (auto c : coordkit::keys::kAllErrorCodes) {
    out.push_back(std::make_exception_ptr(coordkit::keys::Error(c, "m")));
  }
  return out;
}

apps::internal::ErrorIdentity identity_of(const std::exception_ptr& p) {
  try {
    std::rethrow_exception(p);
  } catch (const std::exception& e) {
    return apps::internal::identify(e);
  }
}

template <class E>
std::pair<ExitCode, apps::HttpError> map(const E& e) {
  return {apps::exit_code(e), apps::http_error(e)};
}

}  // namespace

TEST_CASE("Every code of every library has its own row", "[exit_codes]") {
  std::set<std::pair<std::string, std::string>> defined;
  for (const auto& p : every_error()) {
    const auto id = identity_of(p);
    INFO(id.library << ": " << id.code_name);
    CHECK_FALSE(id.library.empty());
    CHECK(id.code_name.find("unknown") == std::string::npos);
    CHECK(apps::find_mapping(id.library, id.code_name) != nullptr);
    CHECK(defined.emplace(id.library, id.code_name).second);  // names are distinct
  }
  // ... and no row names a code that does not exist.
  for (const auto& m : apps::kErrorTable) {
    INFO(m.library << ": " << m.code_name);
    CHECK(defined.count({std::string(m.library), std::string(m.code_name)}) == 1);
    CHECK((!m.retry_after || m.http_status == 503));
    CHECK(m.http_status >= 400);
    CHECK(m.http_status < 600);
  }
  CHECK(defined.size() == std::size(apps::kErrorTable));
}

TEST_CASE("The rows the apps rely on", "[exit_codes]") {
  namespace db = coordkit::db;
  namespace rec = coordkit::records;
  SECTION("database") {
    auto [exit, http] = map(db::Error(db::ErrorCode::kBusy, "m"));
    CHECK(exit == ExitCode::kTimeout);
    CHECK(http.status == 503);
    CHECK(http.retry_after_s == apps::kRetryAfterSeconds);
    CHECK(http.library == "db");
    CHECK(http.code_name == "busy");
    std::tie(exit, http) = map(db::Error(db::ErrorCode::kWrongKeyOrNotADatabase, "m"));
    CHECK(exit == ExitCode::kWrongKey);
    CHECK(http.status == 500);
    CHECK_FALSE(http.retry_after_s);
    CHECK(http.code_name == "wrong_key_or_not_a_database");
    CHECK(apps::exit_code(db::Error(db::ErrorCode::kPlaintextDatabase, "m")) ==
          ExitCode::kWrongKey);
  }
  SECTION("records") {
    struct Row {
      rec::ErrorCode code;
      ExitCode exit;
      int status;
    };
    const Row row = GENERATE(Row{rec::ErrorCode::kNotFound, ExitCode::kError, 404},
                             Row{rec::ErrorCode::kVersionMismatch, ExitCode::kConflict, 412},
                             Row{rec::ErrorCode::kAlreadyExists, ExitCode::kConflict, 412},
                             Row{rec::ErrorCode::kInvalidArgument, ExitCode::kUsage, 400},
                             Row{rec::ErrorCode::kTooLarge, ExitCode::kUsage, 413});
    const rec::Error e(row.code, "m", 3);
    const auto [exit, http] = map(e);
    CHECK(exit == row.exit);
    CHECK(http.status == row.status);
    CHECK(http.library == "records");
  }
  SECTION("gateway control") {
    namespace ipc = coordkit::ipc;
    CHECK(apps::exit_code(ipc::Error(ipc::ErrorCode::kAlreadyRunning, "m")) ==
          ExitCode::kAlreadyRunning);
    CHECK(apps::exit_code(ipc::Error(ipc::ErrorCode::kNotRunning, "m")) == ExitCode::kNotRunning);
    CHECK(apps::exit_code(ipc::Error(ipc::ErrorCode::kTimedOut, "m")) == ExitCode::kTimeout);
    CHECK(apps::exit_code(coordkit::spawn::Error(coordkit::spawn::ErrorCode::kTimedOut, "m")) ==
          ExitCode::kTimeout);
  }
  SECTION("keys") {
    namespace keys = coordkit::keys;
    CHECK(apps::exit_code(keys::Error(keys::ErrorCode::kNoKey, "m")) == ExitCode::kUsage);
    CHECK(apps::exit_code(keys::Error(keys::ErrorCode::kKeyFileUnsafe, "m")) == ExitCode::kError);
  }
}

TEST_CASE("Anything else is 1 and 500", "[exit_codes]") {
  const std::runtime_error plain("boom");
  CHECK(apps::exit_code(plain) == ExitCode::kError);
  const apps::HttpError h = apps::http_error(plain);
  CHECK(h.status == 500);
  CHECK(h.library.empty());
  CHECK_FALSE(h.retry_after_s);
  // A coordkit::Error of a library or code the table does not know.
  const coordkit::Error unknown("http", "not_a_code_yet", "m");
  CHECK(apps::exit_code(unknown) == ExitCode::kError);
  CHECK(apps::http_error(unknown).status == 500);
  CHECK(apps::http_error(unknown).library == "http");
}
