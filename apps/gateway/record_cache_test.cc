// RecordCache: the record get's earlier answers, reused only for the row
// they were made from, within a bound on entries and bytes.
#include "coordkit/gateway/internal/record_cache.h"

#include <catch2/catch_test_macros.hpp>
#include <cstddef>
#include <memory>
#include <string>

namespace {

using coordkit::gateway::internal::CachedRecord;
using coordkit::gateway::internal::RecordCache;
namespace records = coordkit::records;

records::Record row() { return {"notes", "n1", 3, R"({"t":1})", 100, 200}; }

std::shared_ptr<const CachedRecord> entry(const records::Record& r, std::size_t body_bytes = 0) {
  CachedRecord e;
  e.row = r;
  e.response.body = std::string(body_bytes, 'x');
  return std::make_shared<const CachedRecord>(std::move(e));
}

}  // namespace

TEST_CASE("A cached answer matches only the row it was made from, field by field", "[gateway]") {
  const std::shared_ptr<const CachedRecord> e = entry(row());
  CHECK(e->matches(row()));
  records::Record r = row();
  SECTION("a new version") { r.version = 4; }
  SECTION("the same version and times, another body") { r.body = R"({"t":2})"; }
  SECTION("re-created: version 1 again, later times") {
    r.version = 1;
    r.created_at_ms = 300;
  }
  SECTION("updated at another time") { r.updated_at_ms = 201; }
  SECTION("another record") { r.id = "n2"; }
  SECTION("another collection") { r.collection = "other"; }
  CHECK_FALSE(e->matches(r));
}

TEST_CASE("The record cache finds by target, replaces, and stays within its bounds", "[gateway]") {
  RecordCache cache;
  CHECK(cache.find("/a") == nullptr);
  cache.put("/a", entry(row()));
  REQUIRE(cache.find("/a") != nullptr);
  CHECK(cache.find("/a")->row.version == 3);
  records::Record newer = row();
  newer.version = 4;
  cache.put("/a", entry(newer));
  CHECK(cache.find("/a")->row.version == 4);
  CHECK(cache.size() == 1);

  SECTION("entries") {
    for (std::size_t i = 0; i < RecordCache::kMaxEntries + 100; ++i) {
      cache.put("/r/" + std::to_string(i), entry(row()));
    }
    CHECK(cache.size() <= RecordCache::kMaxEntries);
    CHECK(cache.find("/r/" + std::to_string(RecordCache::kMaxEntries + 99)) != nullptr);
  }
  SECTION("bytes") {
    const std::size_t big = RecordCache::kMaxBytes / 4;
    for (int i = 0; i < 10; ++i) cache.put("/big/" + std::to_string(i), entry(row(), big));
    CHECK(cache.size() <= 4);
    CHECK(cache.find("/big/9") != nullptr);
    cache.put("/huge", entry(row(), RecordCache::kMaxBytes));
    CHECK(cache.find("/huge") == nullptr);
  }
}
