// The operations a pending call asks its host to perform, as the host sees them: owned
// copies of qv_op records (the module's buffers are only valid until the next resume),
// and the result the host reports back. perform_op() carries one out against a Kv and a
// Fetcher, mapping their replies to what qv_op_kind in qv_abi.h specifies; perform_ops()
// a batch, its fetches together.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "qv_abi.h"

namespace qv::host {

class Kv;
class Fetcher;

// One pending operation (see qv_op_kind in qv_abi.h for what each field means per kind).
struct Op {
  uint32_t kind = QV_OP_KV_GET;  // a qv_op_kind; kept as sent, unknown kinds included
  uint32_t duration_ms = 0;      // TTL for kv.set / kv.incr (0: none), timeout for fetch, wait
  int64_t delta = 0;             // kv.incr amount
  std::string key;               // KV key, or the URL of a fetch
  std::string value;             // kv.set value, or the body of a fetch
  std::string meta;              // fetch: "METHOD\n" then "name: value\n" per header
};

// The result of one operation, as qv_call_complete_op takes it.
struct OpResult {
  qv_status status = QV_OK;
  int64_t number = 0;  // kv.incr: value after; kv.del: keys removed; fetch: HTTP status
  std::string data;    // kv.get: the value; fetch: the body; on failure: the message
  std::string meta;    // fetch: "name: value\n" per response header, names lower-case
};

// Performs op with kv (KV kinds) or fetcher (QV_OP_FETCH). A missing kv or fetcher, or a
// malformed fetch request, gives QV_UNAVAILABLE; an unknown kind QV_BAD_STATE; data says
// why. This never aborts.
OpResult perform_op(const Op& op, Kv* kv, Fetcher* fetcher);

// Performs a batch of operations, as perform_op() each, and returns their results in the
// ops' order: the fetches together (Fetcher::fetch_all, as the JS host runs them), after
// the others, which run one after another in their order. A wait gets what perform_op()
// gives it: QV_BAD_STATE (the module completes it), or with a timeout, QV_TIMEOUT once it
// has passed.
std::vector<OpResult> perform_ops(const std::vector<Op>& ops, Kv* kv, Fetcher* fetcher);

}  // namespace qv::host
