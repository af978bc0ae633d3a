// coordkit/gateway/internal/record_cache.h: the answers coordkit-gateway
// gave to record gets, kept by request target beside the row each one was
// made from, so that a get of a record whose row is still the same is
// answered with the same bytes without running the route again (parameter
// checks, the response's JSON value, its schema check and serialisation).
//
// Nothing here decides freshness: every get still reads the row in its own
// read transaction (routes.h, record_reads()), and an answer is reused only
// when that row is equal, field by field, to the one it was made from. A
// write by this gateway, by coordctl or by any other process on the file
// changes the row (a new version, body or time), so the next get sees it
// without any invalidation; an entry whose record is gone just stays unused
// until it is evicted. The cache only bounds its memory.
//
// Example:
//   RecordCache cache;
//   cache.put(target, std::make_shared<const CachedRecord>(std::move(entry)));
//   if (auto hit = cache.find(target); hit && hit->matches(row)) return hit->response;
#ifndef COORDKIT_APPS_GATEWAY_INTERNAL_RECORD_CACHE_H_
#define COORDKIT_APPS_GATEWAY_INTERNAL_RECORD_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "coordkit/apps/records.h"
#include "coordkit/http/http.h"

namespace coordkit::gateway::internal {

// CachedRecord: one answer and the row it was made from.
struct CachedRecord {
  records::Record row;      // with the decoded path parameters it was read by
  http::Response response;  // serialised, as the client got it

  // matches: `r` is the row this answer was made from (every field).
  bool matches(const records::Record& r) const { return r == row; }
  // bytes: what the entry holds, roughly, for the cache's memory bound.
  std::size_t bytes() const noexcept {
    return sizeof(CachedRecord) + row.collection.size() + row.id.size() + row.body.size() +
           response.body.size();
  }
};

// RecordCache: CachedRecords by request target, at most kMaxEntries of them
// and about kMaxBytes; past either, entries are dropped to make room.
// Thread-safe; an entry, once found, stays valid for its holder.
class RecordCache {
 public:
  static constexpr std::size_t kMaxEntries = 4096;
  static constexpr std::size_t kMaxBytes = std::size_t{16} << 20;

  // find: the entry for `target`, or null.
  std::shared_ptr<const CachedRecord> find(std::string_view target) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(target);
    return it == map_.end() ? nullptr : it->second;
  }

  // put: `entry` for `target`, in place of any earlier one. An entry
  // larger than the whole bound is not kept.
  void put(std::string_view target, std::shared_ptr<const CachedRecord> entry) {
    const std::size_t size = entry->bytes() + target.size();
    if (size > kMaxBytes) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = map_.find(target); it != map_.end()) {
      bytes_ -= it->second->bytes() + it->first.size();
      map_.erase(it);
    }
    while (!map_.empty() && (map_.size() >= kMaxEntries || bytes_ + size > kMaxBytes)) {
      auto victim = map_.begin();
      bytes_ -= victim->second->bytes() + victim->first.size();
      map_.erase(victim);
    }
    map_.emplace(std::string(target), std::move(entry));
    bytes_ += size;
  }

  std::size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return map_.size();
  }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<const CachedRecord>, Hash, std::equal_to<>> map_;
  std::size_t bytes_ = 0;
};

}  // namespace coordkit::gateway::internal

#endif  // COORDKIT_APPS_GATEWAY_INTERNAL_RECORD_CACHE_H_
