// linux_lines: the Linux side of the console test. Built with the build
// machine's own compiler (not mingw) and run at build time: writes the
// lines of lines.h through a Linux ConsoleSink to stdout, text then JSON,
// which become log_lines.linux beside the Windows tests.
#include <unistd.h>

#include "coordkit/log/console_sink.h"
#include "log/lines.h"

int main() {
  namespace lg = coordkit::log;
  lg::ConsoleSink text({.fd = STDOUT_FILENO, .format = lg::Format::kText});
  lg::ConsoleSink json({.fd = STDOUT_FILENO, .format = lg::Format::kJson});
  coordkit::windows_test::write_lines(text);
  coordkit::windows_test::write_lines(json);
  return text.failed_writes() + json.failed_writes() == 0 ? 0 : 1;
}
