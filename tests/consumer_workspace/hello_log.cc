// hello_log: the smallest program that uses coordkit::log from another Bazel
// workspace, as tools/test.d/consumer-workspace builds it: one
// local_repository and `deps = ["@coordkit//libs/log"]`.

#include "coordkit/log/log.h"

int main() {
  // Servers do this first; harmless here, and it shows where it goes.
  coordkit::log::reserve_standard_fds();

  const coordkit::log::Logger log = coordkit::log::console_logger("hello_log");
  // The rocket (U+1F680) reaches the console as the ASCII text \u{1F680}.
  log.info("liftoff \xF0\x9F\x9A\x80", {{"from", "consumer_workspace"}, {"ok", true}});
  return 0;
}
