#!/bin/sh
echo "coverage tools are not available offline; run gcov/lcov outside Bazel" >&2
exit 1
