// What consumer_service and consumer_control share: file names, the schema,
// the insert, a row's expected payload.
#ifndef COORDKIT_CONSUMER_SCHEMA_H_
#define COORDKIT_CONSUMER_SCHEMA_H_

#include <cstdint>
#include <filesystem>
#include <string>

#include "coordkit/db/db.h"

namespace consumer {

inline constexpr const char* kApp = "consumer";
inline constexpr const char* kRuntimeDir = "run";
inline constexpr const char* kDatabase = "consumer.db";
inline constexpr const char* kServiceLog = "service.log";
inline constexpr const char* kServiceCount = "service.count";
inline constexpr const char* kPassphraseEnv = "COORDKIT_CONSUMER_PASSPHRASE";
inline constexpr const char* kServiceWriter = "service";
inline constexpr const char* kInsert = "INSERT INTO rows(writer, seq, payload) VALUES (?, ?, ?)";

// payload: what the row (writer, seq) holds; the same for every writer.
inline std::string payload(std::int64_t seq) { return "row " + std::to_string(seq) + " \xC3\xA9"; }

// options: the database both programs open.
inline coordkit::db::Options options(const std::filesystem::path& dir,
                                     const std::string& passphrase) {
  coordkit::db::Options options;
  options.path = dir / kDatabase;
  options.key = coordkit::db::Key::passphrase(passphrase);
  coordkit::db::Migration schema;
  schema.version = 1;
  schema.sql =
      "CREATE TABLE rows(writer TEXT NOT NULL, seq INTEGER NOT NULL, payload TEXT NOT NULL,"
      " PRIMARY KEY(writer, seq));";
  options.migrations = {schema};
  return options;
}

}  // namespace consumer

#endif  // COORDKIT_CONSUMER_SCHEMA_H_
