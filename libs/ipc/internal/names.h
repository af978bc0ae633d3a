// Internal: the file names inside a runtime directory, shared by server and
// client so they can never disagree.
#ifndef COORDKIT_IPC_INTERNAL_NAMES_H_
#define COORDKIT_IPC_INTERNAL_NAMES_H_

#include <string>
#include <string_view>

namespace coordkit::ipc::internal {

inline std::string lock_file_name(std::string_view app) { return std::string(app) + ".lock"; }
inline std::string status_file_name(std::string_view app) { return std::string(app) + ".status"; }
inline std::string shutdown_file_name(std::string_view app) {
  return std::string(app) + ".shutdown";
}
// temp_file_name: a writer-unique hidden name for publishing `final_name`
// atomically; the watcher ignores every name but the shutdown file's own.
// (Built by appending: GCC 12's -Wrestrict misreads `"." + std::string(...)`
// once inlined at -O2.)
inline std::string temp_file_name(std::string_view final_name, long pid, std::string_view random) {
  std::string out = ".";
  out += final_name;
  out += '.';
  out += std::to_string(pid);
  out += '.';
  out += random;
  out += ".tmp";
  return out;
}

}  // namespace coordkit::ipc::internal

#endif  // COORDKIT_IPC_INTERNAL_NAMES_H_
