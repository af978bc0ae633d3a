// LineBuffer: a growable byte buffer for formatting log lines. Not API.
//
// Unlike std::string it hands out uninitialised room to write into (no
// zero-fill on growth), and one per thread is reused for every line, so
// formatting a line allocates nothing once the buffer has grown.

#ifndef COORDKIT_LOG_INTERNAL_LINE_BUFFER_H_
#define COORDKIT_LOG_INTERNAL_LINE_BUFFER_H_

#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>
#include <utility>

namespace coordkit::log::internal {

class LineBuffer {
 public:
  LineBuffer() = default;
  LineBuffer(const LineBuffer&) = delete;
  LineBuffer& operator=(const LineBuffer&) = delete;

  // room: makes sure `n` more bytes fit and returns where they go. Write
  // them, then commit() how many were used. Throws std::bad_alloc.
  char* room(std::size_t n) {
    if (capacity_ - size_ < n) grow(n);
    return data_.get() + size_;
  }
  void commit(std::size_t n) noexcept { size_ += n; }

  void append(std::string_view s) {
    std::memcpy(room(s.size()), s.data(), s.size());
    size_ += s.size();
  }
  void push_back(char c) {
    *room(1) = c;
    ++size_;
  }

  char* data() noexcept { return data_.get(); }
  std::size_t size() const noexcept { return size_; }
  std::string_view view() const noexcept { return {data_.get(), size_}; }
  void clear() noexcept { size_ = 0; }
  // truncate: drops everything from byte `n` on (n <= size()).
  void truncate(std::size_t n) noexcept { size_ = n; }

 private:
  void grow(std::size_t n) {
    std::size_t capacity = capacity_ == 0 ? 512 : capacity_;
    while (capacity - size_ < n) capacity *= 2;
    auto bigger = std::make_unique_for_overwrite<char[]>(capacity);
    if (size_ != 0) std::memcpy(bigger.get(), data_.get(), size_);
    data_ = std::move(bigger);
    capacity_ = capacity;
  }

  std::unique_ptr<char[]> data_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

}  // namespace coordkit::log::internal

#endif  // COORDKIT_LOG_INTERNAL_LINE_BUFFER_H_
