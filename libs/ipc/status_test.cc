#include "coordkit/ipc/status.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <string>

#include "coordkit/ipc/shutdown.h"

namespace ipc = coordkit::ipc;

TEST_CASE("A status record survives format and parse unchanged", "[ipc][status]") {
  ipc::StatusRecord r;
  r.app = "gateway";
  r.pid = 4242;
  r.start_time = 123456789012ULL;
  r.boot_id = "7a1c1d9e-0000-4000-8000-000000000000";
  r.token = "0123456789abcdef0123456789abcdef";
  r.set_phase(ipc::Phase::kReady);
  r.address = "127.0.0.1:8080";
  r.version = "1.2.3";
  r.started_at = "2024-05-01T10:00:00.123Z";

  const std::string text = ipc::format_status(r);
  CHECK(text.back() == '\n');
  const auto back = ipc::parse_status(text);
  REQUIRE(back.has_value());
  CHECK(back->app == r.app);
  CHECK(back->pid == r.pid);
  CHECK(back->start_time == r.start_time);
  CHECK(back->boot_id == r.boot_id);
  CHECK(back->token == r.token);
  CHECK(back->phase() == ipc::Phase::kReady);
  CHECK(back->address == r.address);
  CHECK(back->version == r.version);
  CHECK(back->started_at == r.started_at);
}

TEST_CASE("A status reader rejects empty, partial and malformed files without throwing",
          "[ipc][status]") {
  const std::string bad =
      GENERATE(std::string(""), std::string("{"), std::string("{\"pid\": 12"), std::string("null"),
               std::string("[]"), std::string("\"ready\""), std::string("{\"state\":\"ready\"}"),
               std::string("{\"pid\":\"12\",\"token\":\"a\",\"state\":\"ready\"}"),
               std::string("{\"pid\":-4,\"token\":\"a\",\"state\":\"ready\"}"),
               std::string("{\"pid\":12,\"token\":7,\"state\":\"ready\"}"),
               std::string("\xff\xfe\x00garbage", 10));
  CAPTURE(bad);
  CHECK_FALSE(ipc::parse_status(bad).has_value());
}

TEST_CASE("A status file from a newer server keeps its unknown state word and extra fields",
          "[ipc][status]") {
  const auto r = ipc::parse_status(
      R"({"pid":7,"token":"t","state":"paused","future":{"x":1},"start_time":5})");
  REQUIRE(r.has_value());
  CHECK(r->state_word == "paused");
  CHECK_FALSE(r->phase().has_value());
  CHECK(r->start_time == 5);
}

TEST_CASE("A shutdown request file round-trips and bad ones are refused", "[ipc][shutdown]") {
  SECTION("round trip") {
    const ipc::ShutdownFile f{"abc", ipc::ShutdownMode::kFast, std::chrono::milliseconds(1500)};
    const auto back = ipc::parse_shutdown_file(ipc::format_shutdown_file(f));
    REQUIRE(back.has_value());
    CHECK(back->token == "abc");
    CHECK(back->mode == ipc::ShutdownMode::kFast);
    CHECK(back->deadline == std::chrono::milliseconds(1500));
  }
  SECTION("a missing deadline is zero") {
    const auto back = ipc::parse_shutdown_file(R"({"token":"a","mode":"graceful"})");
    REQUIRE(back.has_value());
    CHECK(back->deadline == std::chrono::milliseconds(0));
  }
  SECTION("malformed") {
    const std::string bad =
        GENERATE(std::string(""), std::string("{"), std::string("{\"token\":\"a\"}"),
                 std::string("{\"token\":\"a\",\"mode\":\"slow\"}"),
                 std::string("{\"token\":1,\"mode\":\"fast\"}"),
                 std::string("{\"token\":\"a\",\"mode\":\"fast\",\"deadline_ms\":-1}"),
                 std::string("{\"token\":\"a\",\"mode\":\"fast\",\"deadline_ms\":\"5\"}"));
    CAPTURE(bad);
    CHECK_FALSE(ipc::parse_shutdown_file(bad).has_value());
  }
}
