// Every coordctl --help text: exit 0, a usage line naming the command,
// examples, the exit codes, ASCII only. A group without a subcommand prints
// its help and exits 2; a bad option exits 2.
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <string>
#include <vector>

#include "tests/cli/cli_test_support.h"

using namespace coordkit::cli_test;

TEST_CASE("every command's --help shows usage, examples and exit codes", "[cli][help]") {
  World w("help");
  const std::string command =
      GENERATE(as<std::string>{}, "", "db", "db init", "db put", "db get", "db list", "db delete",
               "db check", "db backup", "db rekey", "db stats", "db export", "db import", "gateway",
               "gateway start", "gateway stop", "gateway status", "gateway logs", "unlock", "lock");
  CAPTURE(command);
  std::vector<std::string> args;
  for (std::size_t at = 0; at < command.size();) {
    const std::size_t space = command.find(' ', at);
    args.push_back(command.substr(at, space - at));
    at = space == std::string::npos ? command.size() : space + 1;
  }
  args.push_back("--help");
  const Result r = w.run(args);
  CHECK(r.code == 0);
  CHECK(r.out.find("Usage: coordctl" + (command.empty() ? "" : " " + command)) !=
        std::string::npos);
  CHECK(r.out.find("Examples:\n") != std::string::npos);
  CHECK(r.out.find("Exit codes:\n") != std::string::npos);
  CHECK(r.out.find("7  conflict") != std::string::npos);
  CHECK(all_ascii(r.out));
  CHECK(r.err.empty());
}

TEST_CASE("db rekey --help says that with a running gateway the rekey goes through it",
          "[cli][help]") {
  World w("help-rekey");
  const Result r = w.run({"db", "rekey", "--help"});
  CHECK(r.code == 0);
  CHECK(r.out.find("With a running gateway the rekey goes through the gateway") !=
        std::string::npos);
  CHECK(r.out.find("writes the new key into that file") != std::string::npos);
}

TEST_CASE("a group without a subcommand prints its help and exits 2", "[cli][help]") {
  World w("group");
  for (const std::string group : {"db", "gateway"}) {
    const Result r = w.run({group});
    CHECK(r.code == 2);
    CHECK(r.out.find("Usage: coordctl " + group) != std::string::npos);
    CHECK(r.out.find("Subcommands:") != std::string::npos);
  }
  const Result r = w.run({});
  CHECK(r.code == 2);
  CHECK(r.out.find("Subcommands:") != std::string::npos);
}

TEST_CASE("usage errors exit 2 with a message on stderr", "[cli][help]") {
  World w("usage");
  auto args = GENERATE(as<std::vector<std::string>>{}, std::vector<std::string>{"--nope"},
                       std::vector<std::string>{"db", "frobnicate"},
                       std::vector<std::string>{"db", "put", "c"},
                       std::vector<std::string>{"db", "put", "c", "i", "{}", "--if-version", "-1"},
                       std::vector<std::string>{"gateway", "stop", "--timeout", "abc"},
                       std::vector<std::string>{"gateway", "logs", "--lines", "-3"});
  const Result r = w.run(args);
  CHECK(r.code == 2);
  CHECK_FALSE(r.err.empty());
  CHECK(all_ascii(r.err));
}
