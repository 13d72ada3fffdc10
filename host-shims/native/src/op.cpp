#include "qv/host/op.h"

#include <chrono>
#include <optional>
#include <thread>
#include <vector>

#include "qv/host/fetcher.h"
#include "qv/host/kv.h"

namespace qv::host {

namespace {

OpResult from_kv(KvReply reply) {
  OpResult result;
  result.status = reply.status;
  result.number = reply.number;
  result.data = reply.ok() ? std::move(reply.value) : std::move(reply.message);
  return result;
}

OpResult failure(qv_status status, std::string message) {
  OpResult result;
  result.status = status;
  result.data = std::move(message);
  return result;
}

OpResult from_fetch(FetchReply reply) {
  if (reply.status != QV_OK) return failure(reply.status, std::move(reply.message));
  OpResult result;
  result.number = reply.http_status;
  result.data = std::move(reply.body);
  result.meta = std::move(reply.headers);
  return result;
}

}  // namespace

OpResult perform_op(const Op& op, Kv* kv, Fetcher* fetcher) {
  switch (op.kind) {
    case QV_OP_KV_GET:
    case QV_OP_KV_SET:
    case QV_OP_KV_INCR:
    case QV_OP_KV_DEL:
    case QV_OP_KV_CAS:
      if (!kv) return failure(QV_UNAVAILABLE, "kv: this host has no KV store");
      break;
    case QV_OP_FETCH:
      if (!fetcher) return failure(QV_UNAVAILABLE, "fetch: this host has no HTTP client");
      break;
  }
  switch (op.kind) {
    case QV_OP_KV_GET:
      return from_kv(kv->get(op.key));
    case QV_OP_KV_SET:
      return from_kv(kv->set(op.key, op.value, op.duration_ms));
    case QV_OP_KV_INCR:
      return from_kv(kv->incr(op.key, op.delta, op.duration_ms));
    case QV_OP_KV_DEL:
      return from_kv(kv->del(op.key));
    case QV_OP_KV_CAS: {
      // delta 1: set only if absent; else only if the key holds exactly meta.
      auto expected = op.delta == 1 ? std::nullopt : std::optional<std::string_view>(op.meta);
      KvReply reply = kv->cas(op.key, expected, op.value, op.duration_ms);
      if (!reply.ok()) return from_kv(std::move(reply));
      OpResult result;
      result.number = reply.number;
      result.data = std::move(reply.value);
      return result;
    }
    case QV_OP_SLEEP: {
      // A synchronous host can only wait in place: this thread has nothing else to do.
      std::this_thread::sleep_for(std::chrono::milliseconds(op.duration_ms));
      return OpResult{};
    }
    case QV_OP_WAIT:
      // The module completes a wait when another call notifies it. This thread runs no other
      // call meanwhile, so a wait that gave a timeout can only time out: once it has passed.
      if (op.duration_ms == 0)
        return failure(QV_BAD_STATE, "wait: completed by the module, never by the host");
      std::this_thread::sleep_for(std::chrono::milliseconds(op.duration_ms));
      return failure(QV_TIMEOUT,
                     "wait: not woken within " + std::to_string(op.duration_ms) + " ms");
    case QV_OP_FETCH: {
      auto request = parse_fetch_op(op);
      // A request that cannot be made is a failed fetch, as with any other fetcher failure.
      if (!request.ok()) return failure(QV_UNAVAILABLE, request.error().message);
      return from_fetch(fetcher->fetch(request.value()));
    }
  }
  return failure(QV_BAD_STATE,  // as the JS shim answers
                 "op: unknown operation kind " + std::to_string(op.kind));
}

std::vector<OpResult> perform_ops(const std::vector<Op>& ops, Kv* kv, Fetcher* fetcher) {
  std::vector<OpResult> results(ops.size());
  std::vector<FetchRequest> requests;
  std::vector<size_t> fetched;  // the index in ops of each request
  for (size_t i = 0; i < ops.size(); ++i) {
    if (ops[i].kind != QV_OP_FETCH || !fetcher) {
      results[i] = perform_op(ops[i], kv, fetcher);
      continue;
    }
    auto request = parse_fetch_op(ops[i]);
    if (!request.ok()) {
      results[i] = failure(QV_UNAVAILABLE, request.error().message);
      continue;
    }
    requests.push_back(std::move(request.value()));
    fetched.push_back(i);
  }
  if (requests.empty()) return results;
  std::vector<FetchReply> replies = fetcher->fetch_all(requests);
  for (size_t j = 0; j < fetched.size(); ++j) {
    results[fetched[j]] = j < replies.size()
                              ? from_fetch(std::move(replies[j]))
                              : failure(QV_INTERNAL, "fetch: the fetcher gave no reply");
  }
  return results;
}

}  // namespace qv::host
