// coordkit/testing/testing.h: all of coordkit's shared test support
// (testonly): scratch directories, runfiles, deadlines and eventually(),
// error matchers, child processes that are always stopped.
//
// Example:
//   #include "coordkit/testing/testing.h"
//   namespace ckt = coordkit::testing;
//   const auto dir = ckt::scratch_dir("server");
//   ckt::ChildProcess server({.executable = ckt::runfile("tests/ipc/test_server")});
//   REQUIRE(ckt::eventually([&] { return std::filesystem::exists(dir / "ready"); }));
#ifndef COORDKIT_TESTING_TESTING_H_
#define COORDKIT_TESTING_TESTING_H_

#include "coordkit/testing/child_process.h"
#include "coordkit/testing/deadline.h"
#include "coordkit/testing/error_matchers.h"
#include "coordkit/testing/runfiles.h"
#include "coordkit/testing/scratch_dir.h"

#endif  // COORDKIT_TESTING_TESTING_H_
