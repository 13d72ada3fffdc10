// CurlFetcher against a small HTTP server on loopback started by the test, and the
// parsing of fetch operations (qv_op meta "METHOD\nname: value\n...").
#include <catch2/catch.hpp>

#include "qv/host/curl_fetcher.h"
#include "qv/host/instance.h"
#include "support/local_server.h"
#include "support/test_host.h"

using qv::host::CurlFetcher;
using qv::host::CurlOptions;
using qv::host::FetchReply;
using qv::host::FetchRequest;
using qv::host::Op;
using qv::test::LocalServer;

namespace {

// A GET of url with fetch()'s defaults otherwise.
FetchReply get(CurlFetcher& fetcher, const std::string& url) {
  FetchRequest request;
  request.url = url;
  return fetcher.fetch(request);
}

}  // namespace

TEST_CASE("CurlFetcher sends method, headers and body; returns status, body, headers", "[fetch]") {
  auto server = LocalServer::answering({LocalServer::response(
      201, "Created", {"X-Request-Id: abc-123", "Content-Type: application/json"},
      R"({"created":true})")});
  CurlFetcher fetcher;
  FetchRequest request;
  request.method = "POST";
  request.url = server->url("/v1/items?x=1");
  request.headers = {{"Content-Type", "application/json"}, {"X-Org", "org_a"}};
  request.body = R"({"name":"a"})";
  request.timeout_ms = 5000;
  const FetchReply reply = fetcher.fetch(request);
  INFO(reply.message);
  REQUIRE(reply.status == QV_OK);
  CHECK(reply.http_status == 201);
  CHECK(reply.body == R"({"created":true})");
  CHECK_THAT(reply.headers, Catch::Matchers::Contains("x-request-id: abc-123\n"));
  CHECK_THAT(reply.headers, Catch::Matchers::Contains("content-type: application/json\n"));

  const auto requests = server->requests();
  REQUIRE(requests.size() == 1);
  CHECK_THAT(requests[0], Catch::Matchers::StartsWith("POST /v1/items?x=1 HTTP/1.1\r\n"));
  CHECK_THAT(requests[0], Catch::Matchers::Contains("X-Org: org_a\r\n"));
  CHECK_THAT(requests[0], Catch::Matchers::EndsWith("\r\n\r\n{\"name\":\"a\"}"));
  CHECK_THAT(requests[0], !Catch::Matchers::Contains("Expect:"));
}

TEST_CASE("CurlFetcher: an HTTP error status is a successful fetch; redirects are followed",
          "[fetch]") {
  auto target = LocalServer::answering({LocalServer::response(503, "Unavailable", {}, "busy")});
  auto redirect = LocalServer::answering({LocalServer::response(
      302, "Found", {"Location: " + target->url("/there"), "X-Hop: 1"}, "")});
  CurlFetcher fetcher;
  const FetchReply reply = get(fetcher, redirect->url("/here"));
  INFO(reply.message);
  REQUIRE(reply.status == QV_OK);
  CHECK(reply.http_status == 503);
  CHECK(reply.body == "busy");
  CHECK_THAT(reply.headers, !Catch::Matchers::Contains("x-hop"));  // the last response's only
  REQUIRE(target->requests().size() == 1);
  CHECK_THAT(target->requests()[0], Catch::Matchers::StartsWith("GET /there HTTP/1.1\r\n"));
}

TEST_CASE("CurlFetcher: a server that never answers is QV_TIMEOUT within the timeout", "[fetch]") {
  auto hung = LocalServer::silent();
  CurlFetcher fetcher;
  FetchRequest request;
  request.url = hung->url("/slow");
  request.timeout_ms = 200;
  const FetchReply reply = fetcher.fetch(request);
  CHECK(reply.status == QV_TIMEOUT);
  CHECK_THAT(reply.message, Catch::Matchers::Contains("no answer within 200 ms"));
  CHECK_THAT(reply.message, Catch::Matchers::Contains(request.url));
}

TEST_CASE("CurlFetcher: failures are QV_UNAVAILABLE with a message", "[fetch]") {
  CurlFetcher fetcher;
  FetchRequest request;
  request.url = "http://127.0.0.1:" + std::to_string(qv::test::closed_port()) + "/";
  const FetchReply refused = fetcher.fetch(request);
  CHECK(refused.status == QV_UNAVAILABLE);
  CHECK_THAT(refused.message, Catch::Matchers::Contains(request.url));

  request.url = "file:///etc/passwd";
  const FetchReply file = fetcher.fetch(request);
  CHECK(file.status == QV_UNAVAILABLE);
  CHECK_THAT(file.message, Catch::Matchers::Contains("only http:// and https://"));

  auto big = LocalServer::answering({LocalServer::response(200, "OK", {}, std::string(4096, 'x'))});
  CurlFetcher small(qv::host::CurlOptions{10000, 1024, 5});
  request.url = big->url();
  const FetchReply too_large = small.fetch(request);
  CHECK(too_large.status == QV_TOO_LARGE);  // as the JS shim's fetchMaxBytes
  CHECK_THAT(too_large.message, Catch::Matchers::Contains("the answer's body is over 1024 bytes"));
}

TEST_CASE("fetch operations: meta is parsed, bad meta is refused", "[fetch]") {
  Op op;
  op.kind = QV_OP_FETCH;
  op.key = "https://origin.example/api";
  op.meta = "PUT\nContent-Type: text/plain\nX-Empty:\nX-Spaced:   padded value  \n";
  op.value = "body";
  op.duration_ms = 750;
  auto parsed = qv::host::parse_fetch_op(op);
  REQUIRE(parsed.ok());
  const FetchRequest& request = parsed.value();
  CHECK(request.method == "PUT");
  CHECK(request.url == op.key);
  CHECK(request.body == "body");
  CHECK(request.timeout_ms == 750);
  REQUIRE(request.headers.size() == 3);
  CHECK(request.headers[0] == std::pair<std::string, std::string>("Content-Type", "text/plain"));
  CHECK(request.headers[1] == std::pair<std::string, std::string>("X-Empty", ""));
  CHECK(request.headers[2] == std::pair<std::string, std::string>("X-Spaced", "padded value"));

  op.meta = "GET";  // no headers, no trailing newline
  REQUIRE(qv::host::parse_fetch_op(op).ok());

  // In the JS host's words too (wasm-tests/shim.test.mjs): "fetch METHOD URL", or "fetch URL"
  // when the method is what is wrong, then the field and the problem.
  const std::pair<std::string, const char*> bad[] = {
      {"", "fetch https://origin.example/api: method '' is not an HTTP token"},
      {"\nAccept: text/plain\n",
       "fetch https://origin.example/api: method '' is not an HTTP token"},
      {"GE T\n", "fetch https://origin.example/api: method 'GE T' is not an HTTP token"},
      {"GET\n\nno colon here\n",
       "fetch GET https://origin.example/api: header line 2 has no ':' (expected 'name: value')"},
      {"GET\nBad Name: x\n",
       "fetch GET https://origin.example/api: header name 'Bad Name' is not an HTTP token"},
      {"GET\nX-Padded : x\n",
       "fetch GET https://origin.example/api: header name 'X-Padded ' is not an HTTP token"},
      {"GET\nX-Return: a\rb\n",
       "fetch GET https://origin.example/api: header 'X-Return' holds a line break or NUL"},
  };
  for (const auto& [meta, message] : bad) {
    INFO(meta);
    op.meta = meta;
    auto refused = qv::host::parse_fetch_op(op);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().message == message);
  }
}

TEST_CASE("perform_op carries a fetch out and maps the reply", "[fetch]") {
  auto server =
      LocalServer::answering({LocalServer::response(200, "OK", {"X-Served-By: test"}, "hello")});
  CurlFetcher fetcher;
  Op op;
  op.kind = QV_OP_FETCH;
  op.key = server->url("/greeting");
  op.meta = "GET\nAccept: text/plain\n";
  op.duration_ms = 5000;
  const qv::host::OpResult result = qv::host::perform_op(op, nullptr, &fetcher);
  INFO(result.data);
  REQUIRE(result.status == QV_OK);
  CHECK(result.number == 200);
  CHECK(result.data == "hello");
  CHECK_THAT(result.meta, Catch::Matchers::Contains("x-served-by: test\n"));

  op.meta = "GET\nbroken\n";
  CHECK(qv::host::perform_op(op, nullptr, &fetcher).status == QV_UNAVAILABLE);
  CHECK(qv::host::perform_op(op, nullptr, nullptr).status == QV_UNAVAILABLE);
  op.kind = 42;
  CHECK(qv::host::perform_op(op, nullptr, &fetcher).status == QV_BAD_STATE);
}

TEST_CASE("CurlFetcher: trailers after a chunked body are not response headers", "[fetch]") {
  // fetch() in the JS host gives only the head's fields as headers. An empty body too: no
  // body byte comes before the trailers, so the head ends at its blank line.
  for (const std::string body : {"hello", ""}) {
    INFO("body: '" << body << "'");
    auto server = LocalServer::answering(
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: x-checksum\r\n"
         "X-Head: 1\r\nConnection: close\r\n\r\n" +
         (body.empty() ? std::string() : std::to_string(body.size()) + "\r\n" + body + "\r\n") +
         "0\r\nX-Checksum: abc\r\n\r\n"});
    CurlFetcher fetcher;
    const FetchReply reply = get(fetcher, server->url("/chunked"));
    INFO(reply.message);
    REQUIRE(reply.status == QV_OK);
    CHECK(reply.body == body);
    CHECK_THAT(reply.headers, Catch::Matchers::Contains("x-head: 1\n"));
    CHECK_THAT(reply.headers, !Catch::Matchers::Contains("x-checksum: abc"));
  }
}

TEST_CASE("CurlFetcher sends what fetch() in the JS host sends", "[fetch]") {
  CurlFetcher fetcher;
  // The one request a server answering 200 received for method, path and body.
  const auto sent = [&fetcher](std::string method, const std::string& path, std::string body) {
    auto server = LocalServer::answering({LocalServer::response(200, "OK", {}, "")});
    FetchRequest request;
    request.method = std::move(method);
    request.url = server->url(path);
    request.body = std::move(body);
    REQUIRE(fetcher.fetch(request).status == QV_OK);
    REQUIRE(server->requests().size() == 1);
    return server->requests()[0];
  };

  // A body without a Content-Type goes without one (curl would call it a form).
  const std::string put = sent("PUT", "/put", "a=1");
  CHECK_THAT(put, Catch::Matchers::StartsWith("PUT /put HTTP/1.1\r\n"));
  CHECK_THAT(put, Catch::Matchers::EndsWith("\r\n\r\na=1"));
  CHECK_THAT(put, !Catch::Matchers::Contains("Content-Type"));

  // A GET or HEAD sends no body.
  const std::string get = sent("GET", "/get", "ignored");
  CHECK_THAT(get, Catch::Matchers::StartsWith("GET /get HTTP/1.1\r\n"));
  CHECK_THAT(get, Catch::Matchers::EndsWith("\r\n\r\n"));
  CHECK_THAT(get, !Catch::Matchers::Contains("ignored"));

  // A POST answered 303 (or 301, 302) continues as a GET without the body.
  auto target = LocalServer::answering({LocalServer::response(200, "OK", {}, "done")});
  auto see_other = LocalServer::answering(
      {LocalServer::response(303, "See Other", {"Location: " + target->url("/after")}, "")});
  FetchRequest request;
  request.method = "POST";
  request.url = see_other->url("/form");
  request.body = "x=1";
  const FetchReply reply = fetcher.fetch(request);
  INFO(reply.message);
  REQUIRE(reply.status == QV_OK);
  CHECK(reply.body == "done");
  REQUIRE(see_other->requests().size() == 1);
  CHECK_THAT(see_other->requests()[0], Catch::Matchers::StartsWith("POST /form HTTP/1.1\r\n"));
  REQUIRE(target->requests().size() == 1);
  CHECK_THAT(target->requests()[0], Catch::Matchers::StartsWith("GET /after HTTP/1.1\r\n"));
  CHECK_THAT(target->requests()[0], !Catch::Matchers::Contains("x=1"));
}

TEST_CASE("CurlFetcher follows redirects as fetch() does for every method", "[fetch]") {
  CurlFetcher fetcher;
  // The request the redirect's target received when method, with a body and a typed
  // Authorization, was answered status.
  const auto after = [&fetcher](const std::string& method, int status) {
    auto target = LocalServer::answering({LocalServer::response(200, "OK", {}, "done")});
    auto first = LocalServer::answering(
        {LocalServer::response(status, "Moved", {"Location: " + target->url("/after")}, "")});
    FetchRequest request;
    request.method = method;
    request.url = first->url("/before");
    request.headers = {{"Content-Type", "text/plain"},
                       {"Authorization", "Bearer t"},
                       {"Proxy-Authorization", "Basic p"},
                       {"Cookie", "session=s"}};
    request.body = "x=1";
    const FetchReply reply = fetcher.fetch(request);
    INFO(method << " answered " << status << ": " << reply.message);
    REQUIRE(reply.status == QV_OK);
    CHECK(reply.body == "done");
    REQUIRE(target->requests().size() == 1);
    return target->requests()[0];
  };

  // 303 turns every method but GET and HEAD into a GET without the body and its headers.
  for (const char* method : {"PUT", "PATCH", "DELETE", "POST"}) {
    const std::string sent = after(method, 303);
    INFO(method << " answered 303 sent: " << sent);
    CHECK_THAT(sent, Catch::Matchers::StartsWith("GET /after HTTP/1.1\r\n"));
    CHECK_THAT(sent, !Catch::Matchers::Contains("x=1"));
    CHECK_THAT(sent, !Catch::Matchers::Contains("Content-Type"));
    // Both servers are on 127.0.0.1 but on two ports: another origin, which gets none of
    // the request's credentials.
    CHECK_THAT(sent, !Catch::Matchers::Contains("Authorization"));
    CHECK_THAT(sent, !Catch::Matchers::Contains("Cookie"));
  }
  // 303 keeps a HEAD a HEAD.
  {
    auto target = LocalServer::answering({LocalServer::response(200, "OK", {}, "")});
    auto first = LocalServer::answering(
        {LocalServer::response(303, "See Other", {"Location: " + target->url("/after")}, "")});
    FetchRequest request;
    request.method = "HEAD";
    request.url = first->url("/before");
    const FetchReply reply = fetcher.fetch(request);
    INFO(reply.message);
    REQUIRE(reply.status == QV_OK);
    REQUIRE(target->requests().size() == 1);
    CHECK_THAT(target->requests()[0], Catch::Matchers::StartsWith("HEAD /after HTTP/1.1\r\n"));
  }
  // 301 and 302 do so for a POST only; 307 and 308 keep method and body.
  for (const auto& [method, status] : std::vector<std::pair<std::string, int>>{
           {"PUT", 301}, {"DELETE", 302}, {"POST", 307}, {"PATCH", 308}}) {
    const std::string sent = after(method, status);
    INFO(method << " answered " << status << " sent: " << sent);
    CHECK_THAT(sent, Catch::Matchers::StartsWith(method + " /after HTTP/1.1\r\n"));
    CHECK_THAT(sent, Catch::Matchers::EndsWith("\r\n\r\nx=1"));
    CHECK_THAT(sent, Catch::Matchers::Contains("Content-Type: text/plain"));
  }
}

TEST_CASE("CurlFetcher: a redirect's body counts toward no limit; the last answer's does",
          "[fetch]") {
  // As fetch() in the JS host, which reads only the last response's body: a redirect with
  // a body over max_response_bytes (declared, or found while it streams) is followed.
  CurlOptions options;
  options.max_response_bytes = 1024;
  CurlFetcher fetcher(options);
  const std::string big(4096, 'x');
  auto last = LocalServer::answering(
      {LocalServer::response(200, "OK", {}, "final"), LocalServer::response(200, "OK", {}, big)});
  auto chunked = LocalServer::answering(
      {"HTTP/1.1 302 Found\r\nLocation: " + last->url("/last") +
       "\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n1000\r\n" + big +
       "\r\n0\r\n\r\n"});
  auto declared = LocalServer::answering(
      {LocalServer::response(301, "Moved", {"Location: " + chunked->url("/chunked")}, big)});
  FetchReply reply = get(fetcher, declared->url("/declared"));
  INFO(reply.message);
  REQUIRE(reply.status == QV_OK);
  CHECK(reply.http_status == 200);
  CHECK(reply.body == "final");

  // The answer at the end of the chain is held to the limit.
  reply = get(fetcher, last->url("/last"));
  CHECK(reply.status == QV_TOO_LARGE);
  CHECK_THAT(reply.message, Catch::Matchers::Contains("max_response_bytes"));

  // An answer of exactly the limit is whole.
  const std::string full(1024, 'y');
  auto exact = LocalServer::answering({LocalServer::response(200, "OK", {}, full)});
  reply = get(fetcher, exact->url("/exact"));
  INFO(reply.message);
  REQUIRE(reply.status == QV_OK);
  CHECK(reply.body == full);
}

TEST_CASE("CurlFetcher: redirects within the origin keep credentials; the limit holds", "[fetch]") {
  CurlFetcher fetcher;
  FetchRequest request;
  request.headers = {{"Authorization", "Bearer t"}};
  auto server = LocalServer::answering(
      {LocalServer::response(307, "Temporary Redirect", {"Location: /second"}, ""),
       LocalServer::response(200, "OK", {}, "here")});
  request.url = server->url("/first");
  FetchReply reply = fetcher.fetch(request);
  INFO(reply.message);
  REQUIRE(reply.status == QV_OK);
  CHECK(reply.body == "here");
  REQUIRE(server->requests().size() == 2);
  CHECK_THAT(server->requests()[1], Catch::Matchers::StartsWith("GET /second HTTP/1.1\r\n"));
  CHECK_THAT(server->requests()[1], Catch::Matchers::Contains("Authorization: Bearer t\r\n"));

  // One redirect allowed, two given: a failure naming the limit.
  CurlOptions options;
  options.max_redirects = 1;
  CurlFetcher limited(options);
  auto chain = LocalServer::answering({LocalServer::response(302, "Found", {"Location: /b"}, ""),
                                       LocalServer::response(302, "Found", {"Location: /c"}, ""),
                                       LocalServer::response(200, "OK", {}, "never")});
  request.url = chain->url("/a");
  reply = limited.fetch(request);
  CHECK(reply.status == QV_UNAVAILABLE);
  CHECK_THAT(reply.message, Catch::Matchers::Contains("more than 1 redirects (max_redirects)"));

  // A redirect without a Location is the answer.
  auto nowhere = LocalServer::answering({LocalServer::response(302, "Found", {}, "stay")});
  request.url = nowhere->url("/a");
  reply = fetcher.fetch(request);
  REQUIRE(reply.status == QV_OK);
  CHECK(reply.http_status == 302);
  CHECK(reply.body == "stay");
}

TEST_CASE("CurlFetcher refuses a URL with credentials, as fetch() does, and never quotes them",
          "[fetch]") {
  auto server = LocalServer::answering({LocalServer::response(200, "OK", {}, "never")});
  const std::string host = "127.0.0.1:" + std::to_string(server->port());
  CurlFetcher fetcher;
  // curl would send any of these as Basic auth, an empty one too (which fetch() lets through,
  // sending nothing).
  for (const std::string userinfo : {"alice:s3cret@", "alice@", ":s3cret@", "@", ":@"}) {
    const FetchReply reply = get(fetcher, "http://" + userinfo + host + "/path?q=1");
    INFO(reply.message);
    CHECK(reply.status == QV_UNAVAILABLE);
    CHECK_THAT(reply.message, Catch::Matchers::Contains("the URL holds credentials"));
    // Named by the URL without them.
    CHECK_THAT(reply.message,
               Catch::Matchers::StartsWith("fetch GET http://" + host + "/path?q=1: "));
    CHECK_THAT(reply.message, !Catch::Matchers::Contains("alice"));
    CHECK_THAT(reply.message, !Catch::Matchers::Contains("s3cret"));
  }
  // Whatever the scheme: the refusal of one that is not fetched does not quote them either.
  const FetchReply ftp = get(fetcher, "ftp://alice:s3cret@example.com/file");
  CHECK(ftp.status == QV_UNAVAILABLE);
  CHECK_THAT(ftp.message, !Catch::Matchers::Contains("s3cret"));
  // Nor does the refusal of one without a scheme, named less what lies before the '@'.
  const FetchReply bare = get(fetcher, "alice:s3cret@" + host + "/path");
  INFO(bare.message);
  CHECK(bare.status == QV_UNAVAILABLE);
  CHECK_THAT(bare.message, Catch::Matchers::StartsWith("fetch GET " + host + "/path: "));
  CHECK_THAT(bare.message, !Catch::Matchers::Contains("s3cret"));
  CHECK(server->requests().empty());

  // A redirect to a URL with credentials is not followed (fetch() fails it as a network error).
  auto redirect = LocalServer::answering(
      {LocalServer::response(302, "Found", {"Location: http://alice:s3cret@" + host + "/b"}, "")});
  const FetchReply redirected = get(fetcher, redirect->url("/a"));
  INFO(redirected.message);
  CHECK(redirected.status == QV_UNAVAILABLE);
  // In the JS host's words too (wasm-tests/shim.test.mjs).
  CHECK(redirected.message == "fetch GET " + redirect->url("/a") +
                                  ": a redirect to a URL with credentials (user:password@), "
                                  "which fetch() refuses");
  CHECK(server->requests().empty());
}

TEST_CASE("CurlFetcher runs a batch's fetches together; the replies keep the requests' order",
          "[fetch]") {
  // The server answers none before all three have arrived, and then the last first: fetched
  // one after another, the first would wait out its timeout, and the others never be sent.
  auto server = LocalServer::gathering(3);
  CurlFetcher fetcher;
  const std::vector<std::string> paths = {"/a", "/b", "/c"};
  std::vector<FetchRequest> requests(paths.size());
  for (size_t i = 0; i < paths.size(); ++i) {
    requests[i].url = server->url(paths[i]);
    requests[i].timeout_ms = 5000;
  }
  const std::vector<FetchReply> replies = fetcher.fetch_all(requests);
  REQUIRE(replies.size() == paths.size());
  for (size_t i = 0; i < paths.size(); ++i) {
    INFO(replies[i].message);
    CHECK(replies[i].status == QV_OK);
    CHECK(replies[i].body == paths[i]);  // the server answered it with its target
  }
  CHECK(server->requests().size() == paths.size());
  CHECK(fetcher.fetch_all({}).empty());
}

TEST_CASE("CurlFetcher: each fetch of a batch keeps its own timeout, size cap and redirects",
          "[fetch]") {
  auto hung = LocalServer::silent();
  auto big = LocalServer::answering({LocalServer::response(200, "OK", {}, std::string(4096, 'x'))});
  auto target = LocalServer::answering({LocalServer::response(200, "OK", {}, "arrived")});
  auto redirect = LocalServer::answering(
      {LocalServer::response(302, "Found", {"Location: " + target->url("/there")}, "")});
  auto chain = LocalServer::answering({LocalServer::response(302, "Found", {"Location: /b"}, ""),
                                       LocalServer::response(302, "Found", {"Location: /c"}, ""),
                                       LocalServer::response(200, "OK", {}, "never")});
  CurlOptions options;
  options.max_response_bytes = 1024;
  options.max_redirects = 1;
  CurlFetcher fetcher(options);
  std::vector<FetchRequest> requests(6);
  requests[0].url = hung->url("/slow");
  requests[0].timeout_ms = 200;
  requests[1].url = big->url("/big");
  requests[2].url = redirect->url("/here");
  requests[3].url = "http://alice:s3cret@127.0.0.1:" + std::to_string(target->port()) + "/";
  requests[4].url = chain->url("/a");
  requests[5].url = "file:///etc/passwd";
  const std::vector<FetchReply> replies = fetcher.fetch_all(requests);
  REQUIRE(replies.size() == requests.size());
  CHECK(replies[0].status == QV_TIMEOUT);
  CHECK_THAT(replies[0].message, Catch::Matchers::Contains("/slow: no answer within 200 ms"));
  CHECK(replies[1].status == QV_TOO_LARGE);
  CHECK_THAT(replies[1].message, Catch::Matchers::Contains("/big: the answer's body is over 1024"));
  INFO(replies[2].message);
  CHECK(replies[2].status == QV_OK);
  CHECK(replies[2].body == "arrived");
  CHECK(replies[3].status == QV_UNAVAILABLE);
  CHECK_THAT(replies[3].message, Catch::Matchers::Contains("the URL holds credentials"));
  CHECK(replies[4].status == QV_UNAVAILABLE);
  CHECK_THAT(replies[4].message, Catch::Matchers::Contains("/a: more than 1 redirects"));
  CHECK(replies[5].status == QV_UNAVAILABLE);
  CHECK_THAT(replies[5].message, Catch::Matchers::Contains("only http:// and https://"));
  REQUIRE(target->requests().size() == 1);  // the redirect's, not the one with credentials
  CHECK_THAT(target->requests()[0], Catch::Matchers::StartsWith("GET /there HTTP/1.1\r\n"));
}

TEST_CASE("perform_ops performs a batch's fetches together, in run() too", "[fetch]") {
  auto server = LocalServer::gathering(2);
  auto fetcher = std::make_shared<CurlFetcher>();
  std::vector<Op> ops(3);
  ops[0].kind = QV_OP_FETCH;
  ops[0].key = server->url("/first");
  ops[0].meta = "GET\n";
  ops[0].duration_ms = 5000;
  ops[1].kind = QV_OP_KV_GET;  // this host has no KV: fails, in its place
  ops[1].key = "k";
  ops[2] = ops[0];
  ops[2].key = server->url("/second");
  const auto results = qv::host::perform_ops(ops, nullptr, fetcher.get());
  REQUIRE(results.size() == 3);
  CHECK(results[0].status == QV_OK);
  CHECK(results[0].data == "/first");
  CHECK(results[1].status == QV_UNAVAILABLE);
  CHECK(results[2].status == QV_OK);
  CHECK(results[2].data == "/second");

  // router.health_check probes every region in one batch: through run(), each is answered.
  auto origin = LocalServer::gathering(2);
  qv::test::ManualClock clock;
  auto instance = qv::test::make_instance(clock, nullptr, fetcher);
  const std::string config =
      R"({"shareEjections":false,"healthCheck":{"timeoutMs":5000},"regions":[)"
      R"({"id":"r1","name":"One","latitude":1,"longitude":1,"costFactor":1,"origin":")" +
      origin->url("") + R"(","healthUrl":")" + origin->url("/r1") +
      R"("},{"id":"r2","name":"Two","latitude":2,"longitude":2,"costFactor":1,"origin":")" +
      origin->url("") + R"(","healthUrl":")" + origin->url("/r2") + R"("}]})";
  const auto configured = instance.run("router.configure", config);
  INFO(configured.output);
  REQUIRE(configured.ok());
  const auto checked = instance.run("router.health_check", "{}");
  INFO(checked.output);
  REQUIRE(checked.ok());
  CHECK(origin->requests().size() == 2);
  CHECK_THAT(checked.output, Catch::Matchers::StartsWith(
                                 R"({"checked":[{"region":"r1","ok":true,"detail":"HTTP 200"},)"
                                 R"({"region":"r2","ok":true,"detail":"HTTP 200"}],)"));
}

TEST_CASE("CurlFetcher asks for compressed answers and decodes them, as fetch() does", "[fetch]") {
  const std::string gzipped(
      "\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03\xab\x56\x4a\x49\x4d\xce\x4f\x49\x4d\x51\xb2\x2a"
      "\x29\x2a\x4d\xad\x05\x00\x99\x3d\xf2\x9d\x10\x00\x00\x00",
      36);
  auto server = LocalServer::answering({LocalServer::response(
      200, "OK", {"Content-Encoding: gzip", "Content-Type: application/json"}, gzipped)});
  CurlFetcher fetcher;
  const FetchReply reply = get(fetcher, server->url("/compressed"));
  INFO(reply.message);
  REQUIRE(reply.status == QV_OK);
  CHECK(reply.body == R"({"decoded":true})");
  REQUIRE(server->requests().size() == 1);
  CHECK_THAT(server->requests()[0], Catch::Matchers::Contains("gzip"));
}

TEST_CASE("CurlFetcher: an answer without a body is not too large, whatever its Content-Length",
          "[fetch]") {
  // As fetch() in the JS host: a HEAD's Content-Length (or a 304's) sizes a body not sent.
  CurlOptions options;
  options.max_response_bytes = 1024;
  CurlFetcher fetcher(options);
  FetchRequest request;
  auto head = LocalServer::answering(
      {"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\nConnection: close\r\n\r\n"});
  request.method = "HEAD";
  request.url = head->url("/big");
  FetchReply reply = fetcher.fetch(request);
  INFO(reply.message);
  REQUIRE(reply.status == QV_OK);
  CHECK(reply.http_status == 200);
  CHECK(reply.body.empty());

  auto not_modified = LocalServer::answering(
      {"HTTP/1.1 304 Not Modified\r\nContent-Length: 100000000\r\nConnection: close\r\n\r\n"});
  request.method = "GET";
  request.url = not_modified->url("/big");
  reply = fetcher.fetch(request);
  INFO(reply.message);
  REQUIRE(reply.status == QV_OK);
  CHECK(reply.http_status == 304);
  CHECK(reply.body.empty());
}
