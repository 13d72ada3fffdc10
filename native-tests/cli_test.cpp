// The qv CLI end to end against an origin on loopback (support/local_server.h): what it
// prints of a module's answer that holds an origin's bytes.
#include <catch2/catch.hpp>

#include "loadtest/support.h"
#include "support/environment.h"
#include "support/local_server.h"

using qv::loadtest::testing::CommandResult;
using qv::loadtest::testing::run_command;
using qv::test::LocalServer;

namespace {

const std::string kQv = qv::test::required_env("QV_BINARY");

// qv call cache.get over an origin that answers once, with a latin-1 Content-Disposition
// and Surrogate-Key (the bytes E9 for é, not UTF-8), as many origins still send them.
CommandResult cache_get_latin1(const std::string& style) {
  auto origin = LocalServer::answering({LocalServer::response(
      200, "OK",
      {"Content-Type: application/json", "Cache-Control: max-age=60",
       "Content-Disposition: attachment; filename=\"caf\xe9.pdf\"", "Surrogate-Key: caf\xe9"},
      R"({"ok":true})")});
  const std::string input = R"({"organizationId":"org_a","key":"/api/files/1","origin":{"url":")" +
                            origin->url("/api/files/1") + R"("}})";
  return run_command({kQv, "call", "cache.get", input, style});
}

}  // namespace

TEST_CASE("qv call prints an answer with an origin's latin-1 header bytes as those bytes",
          "[cli]") {
  SECTION("--compact: the module's answer as it is") {
    const CommandResult run = cache_get_latin1("--compact");
    INFO(run.out << run.err);
    REQUIRE(run.exit_code == 0);
    CHECK_THAT(run.out, Catch::Matchers::StartsWith(R"({"xCache":"MISS","layer":"origin",)"));
    CHECK_THAT(run.out,
               Catch::Matchers::Contains(
                   "\"content-disposition\":\"attachment; filename=\\\"caf\xe9.pdf\\\"\""));
    CHECK_THAT(run.out, Catch::Matchers::Contains("\"tags\":[\"caf\xe9\"]"));
    CHECK(run.err.empty());
  }
  SECTION("--pretty: indented, the bytes unchanged (simdjson refuses them as not UTF-8)") {
    const CommandResult run = cache_get_latin1("--pretty");
    INFO(run.out << run.err);
    REQUIRE(run.exit_code == 0);
    CHECK_THAT(run.out, Catch::Matchers::StartsWith("{\n    \"xCache\": \"MISS\",\n"));
    CHECK_THAT(run.out, Catch::Matchers::Contains("\n    \"headers\": {\n        \"content-type\": "
                                                  "\"application/json\",\n"));
    CHECK_THAT(run.out,
               Catch::Matchers::Contains("\n        \"content-disposition\": \"attachment; "
                                         "filename=\\\"caf\xe9.pdf\\\"\",\n"
                                         "        \"surrogate-key\": \"caf\xe9\"\n    },\n"));
    CHECK_THAT(run.out,
               Catch::Matchers::Contains("\n    \"tags\": [\n        \"caf\xe9\"\n    ],\n"));
    CHECK_THAT(run.out, Catch::Matchers::EndsWith("\n}\n"));
    CHECK(run.err.empty());
  }
}
