"""The BUILD macros every coordkit package uses.

    load("//bazel:coordkit.bzl", "coordkit_header_tests", "coordkit_library", "coordkit_test")

    coordkit_library(
        name = "store",
        hdrs = ["store.h"],
        visibility = ["//visibility:public"],
        deps = [":internal_pool"],
    )

    coordkit_library(
        name = "internal_pool",            # internals: internal_<name>, private
        hdrs = ["internal/pool.h"],
    )

    coordkit_test(
        name = "store_test",               # size "small" unless it says otherwise
        srcs = ["store_test.cc"],
        deps = [":store"],
    )

    coordkit_header_tests()                # last: one TU per header above

- `coordkit_library`: a header-only cc_library. Under libs/<lib> its headers
  are included as "coordkit/<lib>/<path>", under testing/ as
  "coordkit/testing/<path>"; elsewhere (tests/, apps/) by their workspace path.
  Copts are DEFAULT_COPTS (TEST_COPTS when testonly).
- `coordkit_test`: a Catch2 v3 test with TEST_COPTS and Catch2's main.
- `coordkit_binary`: a program (a test's child process, a benchmark) with
  the same copts rule as coordkit_library.
- `coordkit_header_tests`: for every header of every coordkit_library above
  it in the same BUILD file, one translation unit that includes only that
  header (twice, so a missing include guard fails too) and is compiled with
  the library's copts; a test named `headers_test` links them all. A header
  that needs an include it does not make, or a macro it does not define,
  fails that test's build.

Internal targets are named `internal_<name>` after the header(s) they hold;
test-only support is testonly and also `internal_<name>` when it lives in
internal/, `<name>` otherwise.
"""

load("@rules_cc//cc:defs.bzl", "cc_binary", "cc_library", "cc_test")
load("//bazel:copts.bzl", "DEFAULT_COPTS", "TEST_COPTS")

_CATCH2_MAIN = "//third_party:catch2_main"

# Marks the libraries coordkit_header_tests covers.
_LIBRARY_TAG = "coordkit_library"

def coordkit_include_prefix(package = None):
    """The prefix a package's headers are included under, or None.

    Args:
      package: a package path; the current package when None.

    Returns:
      "coordkit/<lib>" for libs/<lib> (and its subpackages), "coordkit/testing"
      for testing/, "coordkit/apps" for the apps' shared apps/common,
      "coordkit/<app>" for apps/<app>, None elsewhere (headers are included
      by workspace path).
    """
    pkg = native.package_name() if package == None else package
    parts = pkg.split("/")
    if len(parts) >= 2 and parts[0] == "libs":
        return "/".join(["coordkit"] + parts[1:])
    if parts[0] == "testing":
        return "/".join(["coordkit"] + parts)
    if len(parts) == 2 and parts[0] == "apps":
        return "coordkit/apps" if parts[1] == "common" else "coordkit/" + parts[1]
    return None

def _copts(testonly, copts):
    return (TEST_COPTS if testonly else DEFAULT_COPTS) + copts

def coordkit_library(name, hdrs = [], copts = [], testonly = False, tags = [], **kwargs):
    """A header-only library with coordkit's include prefix and copts.

    Args:
      name: the target, named after its header ("store" for store.h).
      hdrs: the headers (public ones, or internal/ ones for internal_* targets).
      copts: extra flags after DEFAULT_COPTS (TEST_COPTS when testonly).
      testonly: test support only.
      tags: extra tags.
      **kwargs: passed to cc_library (deps, visibility, linkopts, defines, ...).
    """
    prefix = coordkit_include_prefix()
    extra = {"include_prefix": prefix} if prefix else {}
    cc_library(
        name = name,
        hdrs = hdrs,
        copts = _copts(testonly, copts),
        testonly = testonly,
        tags = tags + [_LIBRARY_TAG],
        **dict(kwargs, **extra)
    )

def coordkit_test(name, srcs, deps = [], size = "small", copts = [], catch2_main = True, **kwargs):
    """A Catch2 v3 test with TEST_COPTS.

    Args:
      name: `<header>_test`.
      srcs: its sources.
      deps: what it tests; Catch2's main is added.
      size: "small" unless it needs more.
      copts: extra flags after TEST_COPTS.
      catch2_main: False for a test that brings its own main().
      **kwargs: passed to cc_test (data, tags, env, ...).
    """
    cc_test(
        name = name,
        srcs = srcs,
        size = size,
        copts = TEST_COPTS + copts,
        deps = deps + ([_CATCH2_MAIN] if catch2_main else []),
        **kwargs
    )

def coordkit_binary(name, copts = [], testonly = False, **kwargs):
    """A program: a test's child process, a benchmark, a tool.

    Args:
      name: the program.
      copts: extra flags after DEFAULT_COPTS (TEST_COPTS when testonly).
      testonly: for programs only tests and benchmarks run.
      **kwargs: passed to cc_binary.
    """
    cc_binary(
        name = name,
        copts = _copts(testonly, copts),
        testonly = testonly,
        **kwargs
    )

def _label_to_path(label):
    # existing_rules() gives hdrs as labels of this package: ":x.h" or
    # "//pkg:x.h" (a glob's result, an explicit list). The path is the name.
    return label.split(":")[-1] if ":" in label else label

def _sanitize(path):
    out = path
    for c in ["/", ".", "-", "+"]:
        out = out.replace(c, "_")
    return out

def coordkit_header_tests(name = "headers_test", exclude = [], size = "small"):
    """One compile-only translation unit per header of this package's libraries.

    Call it last in the BUILD file: it covers every coordkit_library declared
    before it. Each TU is `<name>_<header path with / and . as _>` (a private
    testonly cc_library compiled with its library's copts, plus warnings as
    errors under --config=ci); `name` is a cc_test that links them all, so it
    fails to build when any header does not compile on its own.

    Args:
      name: the test.
      exclude: header paths (relative to the package) to leave out, e.g. a
        Windows-only header; say why beside the call.
      size: the test's size.
    """
    prefix = coordkit_include_prefix()
    base = prefix if prefix else native.package_name()
    units = []
    for rule_name, rule in sorted(native.existing_rules().items()):
        if rule["kind"] != "cc_library" or _LIBRARY_TAG not in rule.get("tags", []):
            continue
        for hdr_label in rule.get("hdrs", []):
            path = _label_to_path(hdr_label)
            if path in exclude:
                continue
            unit = name + "_" + _sanitize(path)
            include = base + "/" + path
            native.genrule(
                name = unit + "_src",
                outs = [name + "_srcs/" + path + ".cc"],
                cmd = ("printf '// Generated: %s alone, twice (the include guard).\\n" +
                       "#include \"%s\"\\n#include \"%s\"\\n' '{inc}' '{inc}' '{inc}' > $@").format(inc = include),
                testonly = True,
                visibility = ["//visibility:private"],
            )
            cc_library(
                name = unit,
                srcs = [":" + unit + "_src"],
                copts = _copts(rule.get("testonly", False), []),
                testonly = True,
                visibility = ["//visibility:private"],
                deps = [":" + rule_name],
            )
            units.append(":" + unit)
    native.genrule(
        name = name + "_main_src",
        outs = [name + "_srcs/main.cc"],
        cmd = ("printf '// Generated: this test passes when it builds; each header of the package\\n" +
               "// compiled alone in its own translation unit.\\nint main() { return 0; }\\n' > $@"),
        testonly = True,
        visibility = ["//visibility:private"],
    )
    cc_test(
        name = name,
        size = size,
        srcs = [":" + name + "_main_src"],
        copts = TEST_COPTS,
        deps = units,
    )
