"""Compiler flags for coordkit, in one place.

Warnings are errors only under `--config=ci` (tools/test sets it), never in
third-party headers: those come from the system include path, which the
compiler already treats as system headers.
"""

DEFAULT_COPTS = [
    "-Wall",
    "-Wextra",
    "-Wpedantic",
    "-Wshadow",
    "-Wnon-virtual-dtor",
    "-Wold-style-cast",
    "-Wcast-align",
    "-Wnull-dereference",
    "-Wdouble-promotion",
    "-Wformat=2",
    "-Wimplicit-fallthrough",
]

# Tests and benchmarks: Catch2's macros trip some of the stricter warnings.
TEST_COPTS = DEFAULT_COPTS + [
    "-Wno-shadow",
    "-Wno-old-style-cast",
]
