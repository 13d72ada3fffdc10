// https:// end to end, against Debian's nginx with a self-signed certificate: requests go
// over TLS and are all answered; the certificate and the host name are checked before the
// run, each failure named with a hint that fits it, and --insecure skips the checks; a CA file that
// cannot be read is bad input. Only behaviour is asserted, never speed.
#include <catch2/catch.hpp>

#include "loadtest/engine.h"
#include "support.h"

using namespace qv::loadtest;
using qv::loadtest::testing::Nginx;

namespace {

Scenario quick(const std::string& url, const TlsSettings& tls) {
  QuickOptions options;
  options.url = url;
  options.connections = 4;
  options.threads = 2;
  options.duration = kMicrosPerSecond / 2;
  options.tls = tls;
  auto scenario = quick_scenario(options);
  if (!scenario.ok()) FAIL("scenario: " << scenario.error().message);
  // In-flight requests at the end are let finish, and counted: nginx's count must match.
  scenario.value().executor.graceful_stop = 10 * kMicrosPerSecond;
  return scenario.value();
}

std::string refusal(const Scenario& scenario) {
  auto result = run_load_test(scenario);
  REQUIRE_FALSE(result.ok());
  return result.error().message;
}

}  // namespace

TEST_CASE("https: every request goes over TLS and is answered, the certificate checked") {
  Nginx nginx(64, true);
  auto result = run_load_test(quick(nginx.https_url("/index.html"), {false, nginx.certificate()}));
  if (!result.ok()) FAIL("run: " << result.error().message);
  const RequestCounters totals = result.value().total_counters();
  REQUIRE(totals.requests > 0);
  REQUIRE(totals.failed == 0);
  // nginx's https server answered exactly the requests the tester counted (the preflight's
  // handshake sends none).
  REQUIRE(nginx.access_log_lines() == totals.requests);
  // Each connection opened was a TCP connect and then a TLS handshake; nginx closes a
  // connection after its keepalive_requests, so there may be more than the 4 VUs.
  const Histogram handshakes = result.value().total_phase(Phase::kTlsHandshaking);
  REQUIRE(handshakes.count() >= 4);
  REQUIRE(handshakes.count() == result.value().total_phase(Phase::kConnecting).count());
  REQUIRE(result.value().info.targets == std::vector<std::string>{nginx.https_url("/index.html")});
}

TEST_CASE("https: with tlsResumeSessions a VU's next connection resumes its TLS session") {
  Nginx nginx(64, true);
  for (const bool resume : {false, true}) {
    // /close: every request opens a connection, so every request makes a handshake.
    auto result =
        run_load_test(quick(nginx.https_url("/close"), {false, nginx.certificate(), resume}));
    if (!result.ok()) FAIL("run: " << result.error().message);
    const RequestCounters totals = result.value().total_counters();
    const uint64_t handshakes = result.value().total_phase(Phase::kTlsHandshaking).count();
    INFO("resume " << resume << ": " << totals.tls_resumed << " of " << handshakes
                   << " handshakes resumed, " << totals.requests << " requests");
    REQUIRE(totals.failed == 0);
    REQUIRE(handshakes == totals.requests);
    REQUIRE(totals.requests > 8);
    if (resume) {
      // Each of the 4 VUs' first handshake is a full one; the next ones offer a session
      // nginx issued, and it takes them back.
      REQUIRE(totals.tls_resumed >= handshakes - 4);
      REQUIRE(totals.tls_resumed < handshakes);
    } else {
      REQUIRE(totals.tls_resumed == 0);
    }
  }
}

TEST_CASE("https: a certificate that does not check out is refused before the run") {
  Nginx nginx(64, true);
  const std::string untrusted = refusal(quick(nginx.https_url(), {}));
  REQUIRE(untrusted.rfind("target " + nginx.https_url("") +
                              ": TLS handshake failed: certificate "
                              "verify failed: self-signed certificate",
                          0) == 0);
  REQUIRE(untrusted.find("(--cacert FILE trusts another CA; -k / --insecure skips "
                         "verification)") != std::string::npos);
  // Trusted, but issued for 127.0.0.1, not 127.0.0.2: another CA file would not help, so
  // the hint says what is wrong instead.
  const std::string mismatch =
      refusal(quick(nginx.https_url("/", "127.0.0.2"), {false, nginx.certificate()}));
  INFO(mismatch);
  REQUIRE(mismatch.find("certificate verify failed: IP address mismatch (the certificate does "
                        "not name the IP address 127.0.0.2; -k / --insecure skips "
                        "verification)") != std::string::npos);
  REQUIRE(mismatch.find("--cacert FILE") == std::string::npos);
  // A CA file given, but not the one that issued the certificate: the hint names the file.
  qv::loadtest::testing::TempDir temp;
  const std::string other_ca = temp.path + "/other-ca.pem";
  const auto made = qv::loadtest::testing::run_command(
      {"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
       "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", "/CN=another CA", "-keyout",
       temp.path + "/other-key.pem", "-out", other_ca});
  REQUIRE(made.exit_code == 0);
  const std::string other = refusal(quick(nginx.https_url(), {false, other_ca}));
  INFO(other);
  REQUIRE(other.find("certificate verify failed: self-signed certificate (no CA in tlsCaFile "
                     "(--cacert) '" +
                     other_ca + "' issued it; -k / --insecure skips verification)") !=
          std::string::npos);
  REQUIRE(nginx.access_log_lines() == 0);

  SECTION("--insecure skips both checks") {
    auto result = run_load_test(quick(nginx.https_url("/", "127.0.0.2"), {true, ""}));
    if (!result.ok()) FAIL("run: " << result.error().message);
    REQUIRE(result.value().total_counters().requests > 0);
    REQUIRE(result.value().total_counters().failed == 0);
  }
}

TEST_CASE("https to a port that speaks plain HTTP says so") {
  Nginx nginx(64, true);
  std::string plain = nginx.url("/");
  plain.replace(0, 4, "https");
  const std::string message = refusal(quick(plain, {true, ""}));
  INFO(message);
  REQUIRE(message.find("TLS handshake failed") != std::string::npos);
  REQUIRE(message.find("(the server answered without TLS: is it an http:// port?)") !=
          std::string::npos);
}

TEST_CASE("https: a CA file that cannot be read is bad input, also where nothing would read it") {
  Nginx nginx(64, true);
  REQUIRE(refusal(quick(nginx.https_url(), {false, "/no/such/ca.pem"})) ==
          "tlsCaFile (--cacert): cannot load certificates from '/no/such/ca.pem' (No such file "
          "or directory)");
  // Plain http:// has no use for it, but a wrong path is still a mistake worth naming.
  REQUIRE(refusal(quick(nginx.url("/index.html"), {false, "/no/such/ca.pem"})) ==
          "tlsCaFile (--cacert): cannot load certificates from '/no/such/ca.pem' (No such file "
          "or directory)");
  // A file that is there but holds no PEM certificate says so.
  qv::loadtest::testing::TempDir temp;
  const std::string text_file = temp.path + "/not-a-certificate.pem";
  qv::loadtest::testing::write_text(text_file, "hello\n");
  REQUIRE(refusal(quick(nginx.https_url(), {false, text_file})) ==
          "tlsCaFile (--cacert): cannot load certificates from '" + text_file + "' (expected PEM)");
  // A directory is said to be one, as the CLI's other file errors say it.
  REQUIRE(refusal(quick(nginx.https_url(), {false, temp.path})) ==
          "tlsCaFile (--cacert): cannot load certificates from '" + temp.path +
              "' (Is a directory)");
  REQUIRE(run_load_test(quick(nginx.url("/index.html"), {false, nginx.certificate()})).ok());
}
