#include "tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace qv::loadtest {

namespace {

bool is_ip_address(const std::string& host) {
  unsigned char address[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), address) == 1 ||
         inet_pton(AF_INET6, host.c_str(), address) == 1;
}

TlsStep step_after(ssl_st* ssl, int result) {
  switch (SSL_get_error(ssl, result)) {
    case SSL_ERROR_WANT_READ:
      return TlsStep::kWantRead;
    case SSL_ERROR_WANT_WRITE:
      return TlsStep::kWantWrite;
    case SSL_ERROR_ZERO_RETURN:
      return TlsStep::kClosed;
    default:
      return TlsStep::kFailed;
  }
}

}  // namespace

Result<std::shared_ptr<TlsContext>> TlsContext::create(const TlsSettings& settings) {
  std::shared_ptr<TlsContext> tls(new TlsContext());
  tls->context_ = SSL_CTX_new(TLS_client_method());
  if (!tls->context_) return Error{"tls: OpenSSL cannot make a client context"};
  SSL_CTX_set_min_proto_version(tls->context_, TLS1_2_VERSION);
  // A server that closes without close_notify ends a response the way a plain socket does.
  SSL_CTX_set_options(tls->context_, SSL_OP_IGNORE_UNEXPECTED_EOF);
  // Writes resume from wherever the request's bytes have got to; idle connections hold no
  // buffers (thousands of them stay small).
  SSL_CTX_set_mode(tls->context_, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                      SSL_MODE_RELEASE_BUFFERS);
  static const unsigned char kAlpn[] = "\x08http/1.1";
  SSL_CTX_set_alpn_protos(tls->context_, kAlpn, sizeof kAlpn - 1);
  tls->verifies_ = !settings.skip_verify;
  if (!tls->verifies_) {
    SSL_CTX_set_verify(tls->context_, SSL_VERIFY_NONE, nullptr);
    return tls;
  }
  SSL_CTX_set_verify(tls->context_, SSL_VERIFY_PEER, nullptr);
  if (!settings.ca_file.empty()) {
    // A file that cannot be opened says why (a directory, which access() lets through, as
    // reading it would: "Is a directory"); one that opens but holds no PEM certificate says
    // that.
    const auto cannot_load = [&](const std::string& why) {
      return Error{"tlsCaFile (--cacert): cannot load certificates from '" + settings.ca_file +
                   "' (" + why + ")"};
    };
    struct stat status {};
    int error = access(settings.ca_file.c_str(), R_OK) != 0 ? errno : 0;
    if (!error && stat(settings.ca_file.c_str(), &status) == 0 && S_ISDIR(status.st_mode))
      error = EISDIR;
    if (error) return cannot_load(std::strerror(error));
    if (SSL_CTX_load_verify_locations(tls->context_, settings.ca_file.c_str(), nullptr) != 1) {
      ERR_clear_error();
      return cannot_load("expected PEM");
    }
    tls->ca_file_ = settings.ca_file;
  } else if (SSL_CTX_set_default_verify_paths(tls->context_) != 1) {
    ERR_clear_error();
    return Error{"tls: cannot load the system's CA certificates (set tlsCaFile or --cacert)"};
  }
  return tls;
}

TlsContext::~TlsContext() {
  SSL_CTX_free(context_);
}

ssl_st* TlsContext::open(int fd, const Origin& origin) const {
  SSL* ssl = SSL_new(context_);
  if (!ssl) return nullptr;
  const bool ip = is_ip_address(origin.host);
  bool ready = SSL_set_fd(ssl, fd) == 1;
  // SNI carries names only (RFC 6066 §3).
  if (!ip) ready = ready && SSL_set_tlsext_host_name(ssl, origin.host.c_str()) == 1;
  if (verifies_) {
    X509_VERIFY_PARAM* check = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(check, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    ready = ready && (ip ? X509_VERIFY_PARAM_set1_ip_asc(check, origin.host.c_str()) == 1
                         : SSL_set1_host(ssl, origin.host.c_str()) == 1);
  }
  if (!ready) {
    ERR_clear_error();
    SSL_free(ssl);
    return nullptr;
  }
  SSL_set_connect_state(ssl);
  return ssl;
}

std::string TlsContext::rejection_hint(ssl_st* ssl, const Origin& origin) const {
  const std::string skip = "-k / --insecure skips verification";
  switch (SSL_get_verify_result(ssl)) {
    case X509_V_ERR_HOSTNAME_MISMATCH:
      return "the certificate does not name the host " + origin.host + "; " + skip;
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
      return "the certificate does not name the IP address " + origin.host + "; " + skip;
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_CERT_UNTRUSTED:
      if (ca_file_.empty()) return "--cacert FILE trusts another CA; " + skip;
      return "no CA in tlsCaFile (--cacert) '" + ca_file_ + "' issued it; " + skip;
    default:  // expired, not yet valid, revoked, ...: no other CA file would help
      return skip;
  }
}

// OpenSSL's error queue is per thread: each step starts from an empty one, so SSL_get_error
// reports this step's outcome and not an earlier connection's.
TlsStep tls_handshake(ssl_st* ssl) {
  ERR_clear_error();
  const int result = SSL_do_handshake(ssl);
  return result == 1 ? TlsStep::kDone : step_after(ssl, result);
}

TlsStep tls_read(ssl_st* ssl, char* buffer, size_t size, size_t& done) {
  ERR_clear_error();
  const int result = SSL_read_ex(ssl, buffer, size, &done);
  return result == 1 ? TlsStep::kDone : step_after(ssl, result);
}

TlsStep tls_write(ssl_st* ssl, const char* data, size_t size, size_t& done) {
  ERR_clear_error();
  const int result = SSL_write_ex(ssl, data, size, &done);
  return result == 1 ? TlsStep::kDone : step_after(ssl, result);
}

void tls_free(ssl_st* ssl) {
  SSL_free(ssl);
}

// A copy: freeing a connection that sent no close_notify marks its session unresumable
// (TLS 1.2), and a load tester's connections end without one.
ssl_session_st* tls_resumable_session(ssl_st* ssl) {
  SSL_SESSION* session = SSL_get_session(ssl);
  if (!session || SSL_SESSION_is_resumable(session) != 1) return nullptr;
  return SSL_SESSION_dup(session);
}

void tls_offer_session(ssl_st* ssl, ssl_session_st* session) {
  if (SSL_set_session(ssl, session) != 1) ERR_clear_error();  // a full handshake then
}

bool tls_resumed(ssl_st* ssl) {
  return SSL_session_reused(ssl) == 1;
}

void tls_free_session(ssl_session_st* session) {
  SSL_SESSION_free(session);
}

bool tls_certificate_rejected(ssl_st* ssl) {
  return SSL_get_verify_result(ssl) != X509_V_OK;
}

std::string tls_failure(ssl_st* ssl) {
  if (tls_certificate_rejected(ssl)) {
    return std::string("certificate verify failed: ") +
           X509_verify_cert_error_string(SSL_get_verify_result(ssl));
  }
  const unsigned long error = ERR_peek_last_error();
  if (error == 0) return "the connection closed during the handshake";
  char text[256];
  ERR_error_string_n(error, text, sizeof text);
  // What a plain-text answer to the handshake reads as, said in terms a user can act on.
  if (ERR_GET_REASON(error) == SSL_R_WRONG_VERSION_NUMBER)
    return std::string(text) + " (the server answered without TLS: is it an http:// port?)";
  return text;
}

}  // namespace qv::loadtest
