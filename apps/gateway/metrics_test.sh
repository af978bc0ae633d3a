#!/bin/sh
# metrics_test: Debian's Python (python3-prometheus-client lives there, not
# in any other interpreter on PATH) parses metrics_example's output.
set -eu
exec /usr/bin/python3 "$TEST_SRCDIR/coordkit/apps/gateway/metrics_test.py" \
  "$TEST_SRCDIR/coordkit/apps/gateway/metrics_example"
