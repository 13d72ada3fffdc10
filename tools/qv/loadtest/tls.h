// TLS for the load tester's https:// connections (OpenSSL): one client context per run,
// one session per connection, each step non-blocking so the workers' epoll loops drive the
// handshakes, reads and writes as they drive plain sockets.
//
// The server's certificate is verified by default, against the system's CA store or the
// scenario's tlsCaFile, and its name against the URL's host (DNS name or IP address), as
// a browser or curl would; insecureSkipTLSVerify (--insecure) turns both checks off.
// ALPN offers http/1.1 only: the load tester speaks HTTP/1.1.
//
// Every new connection makes a full handshake, as a new client's does, unless
// tlsResumeSessions (--tls-resume): then each VU, like a returning client, offers the session
// (TLS 1.3 ticket or 1.2 session) of its previous connection to the origin.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "result.h"
#include "url.h"

struct ssl_st;
struct ssl_ctx_st;
struct ssl_session_st;

namespace qv::loadtest {

struct TlsSettings {
  bool skip_verify = false;  // insecureSkipTLSVerify, --insecure
  std::string ca_file;  // tlsCaFile, --cacert: PEM certificates trusted instead of the system's
  bool resume_sessions = false;  // tlsResumeSessions, --tls-resume
  bool operator==(const TlsSettings&) const = default;
};

// What a non-blocking TLS step came to.
enum class TlsStep { kDone, kWantRead, kWantWrite, kClosed, kFailed };

class TlsContext {
 public:
  // Errors name the setting: "tlsCaFile (--cacert): cannot load certificates from 'PATH'
  // (REASON)", the system's reason (a directory: "Is a directory"), or "expected PEM".
  static Result<std::shared_ptr<TlsContext>> create(const TlsSettings& settings);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // A client session over the connected socket fd, for origin: SNI and the certificate
  // check use its host. nullptr when OpenSSL cannot make one.
  ssl_st* open(int fd, const Origin& origin) const;

  // What to do about a certificate the session's handshake rejected, in words that fit the
  // reason: a name mismatch says the certificate does not name the host or IP address; an
  // untrusted issuer suggests --cacert, or says the given CA file did not issue it; every
  // hint says that -k skips verification.
  std::string rejection_hint(ssl_st* ssl, const Origin& origin) const;

 private:
  TlsContext() = default;
  ssl_ctx_st* context_ = nullptr;
  bool verifies_ = true;
  std::string ca_file_;
};

TlsStep tls_handshake(ssl_st* ssl);
// Up to size bytes; `done` holds how many when the step is kDone.
TlsStep tls_read(ssl_st* ssl, char* buffer, size_t size, size_t& done);
TlsStep tls_write(ssl_st* ssl, const char* data, size_t size, size_t& done);
// Frees the session (the socket stays open: its owner closes it).
void tls_free(ssl_st* ssl);
// Why the session's last step failed: the certificate check's verdict, else OpenSSL's error.
std::string tls_failure(ssl_st* ssl);
// Whether the server's certificate (or its name) did not check out.
bool tls_certificate_rejected(ssl_st* ssl);

// Session resumption. The session a connection ended with, when the server would take it
// back (a reference the caller frees), else nullptr; read it before tls_free.
ssl_session_st* tls_resumable_session(ssl_st* ssl);
// Offers `session` in the handshake of a connection not yet begun.
void tls_offer_session(ssl_st* ssl, ssl_session_st* session);
// Whether the finished handshake resumed the offered session.
bool tls_resumed(ssl_st* ssl);
void tls_free_session(ssl_session_st* session);

}  // namespace qv::loadtest
