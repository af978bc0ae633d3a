// The child testing_test starts: `sleep` waits for a signal with SIGTERM at
// its default action; `ignore-term` ignores SIGTERM, so only SIGKILL ends
// it; `exit N` exits with N. Each mode first writes "ready" to stdout.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "exit" && argc > 2) return std::atoi(argv[2]);
  if (mode == "ignore-term") ::signal(SIGTERM, SIG_IGN);
  if (mode != "sleep" && mode != "ignore-term") return 2;
  std::puts("ready");
  std::fflush(stdout);
  for (;;) ::pause();
}
