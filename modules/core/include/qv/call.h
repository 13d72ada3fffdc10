// What a module method sees of its call: its input, the host's clock and random bytes,
// and the operations it may ask the host to perform.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "qv/json.h"
#include "qv/result.h"
#include "qv/task.h"
#include "qv_abi.h"

namespace qv {

// The host's answer to one operation (see qv_op_kind in qv_abi.h for what the fields mean).
struct OpResult {
  qv_status status = QV_BAD_STATE;
  int64_t number = 0;
  std::string data;
  std::string meta;
};

// A finished call: an answer (status QV_OK, body JSON) or an error (message: its message).
struct Outcome {
  qv_status status = QV_OK;
  std::string body;
  std::string message;

  static Outcome answer(std::string json) { return {QV_OK, std::move(json), {}}; }
  static Outcome failure(const Error& error) {
    return {error.status, error_json(error), error.message};
  }
};

class CallContext;

// co_await ctx.perform(): suspends until the host has completed every queued operation.
struct PerformAwaiter {
  CallContext* ctx;
  bool await_ready() const noexcept;
  void await_suspend(coro::coroutine_handle<>) noexcept;
  void await_resume() const noexcept {}
};

class CallContext {
 public:
  CallContext(uint32_t handle, std::string input) : handle_(handle), input_(std::move(input)) {}

  // The ABI handle of this call.
  uint32_t handle() const { return handle_; }

  std::string_view input() const { return input_; }

  // Queue an operation; returns its id for result(). Nothing happens until perform().
  size_t kv_get(std::string key);
  size_t kv_set(std::string key, std::string value, uint32_t ttl_ms);
  size_t kv_incr(std::string key, int64_t delta, uint32_t ttl_ms);
  size_t kv_del(std::string key);
  // Sets key to value only if it holds `expected` (nullopt: only if it is absent).
  size_t kv_cas(std::string key, const std::optional<std::string>& expected, std::string value,
                uint32_t ttl_ms);
  // Completes after duration_ms: a back-off before retrying a contended update.
  size_t sleep(uint32_t duration_ms);
  // Completes when `signal` is notified by another call of this instance (see Signal). With
  // timeout_ms > 0, the host completes it with QV_TIMEOUT once that long has passed without
  // a notify (qv_abi.h, QV_OP_WAIT), and the call is no longer among the signal's waiters.
  size_t wait(class Signal& signal, uint32_t timeout_ms = 0);
  // headers: "name: value\n" per header.
  size_t fetch(std::string method, std::string url, std::string headers, std::string body,
               uint32_t timeout_ms);

  PerformAwaiter perform() { return PerformAwaiter{this}; }
  // The result of an operation of the last performed batch.
  const OpResult& result(size_t op_id) const { return ops_[op_id].result; }

  // ---- for the ABI layer ----
  struct PendingOp {
    qv_op_kind kind;
    uint32_t duration_ms = 0;
    int64_t delta = 0;
    std::string key, value, meta;
    bool completed = false;
    OpResult result;
    class Signal* signal = nullptr;  // a wait's, while it is not completed
  };
  bool waiting() const { return waiting_; }
  const std::vector<PendingOp>& ops() const { return ops_; }
  // The ops as qv_op records pointing into this context; valid until the batch changes.
  const std::vector<qv_op>& op_records();
  qv_status complete(uint32_t index, qv_status status, int64_t number, std::string_view data,
                     std::string_view meta);
  // The host ends wait `index`, which asked for a timeout, with QV_TIMEOUT: the call leaves
  // its signal's waiters, so a later notify neither wakes nor touches it. QV_BAD_STATE when
  // the wait is already completed (notified) or asked for no timeout.
  qv_status time_out_wait(uint32_t index, std::string_view data, std::string_view meta);
  bool all_completed() const;
  // The batch is complete: its results stay readable until the next operation is queued.
  void seal_batch();

 private:
  friend struct PerformAwaiter;
  size_t queue(PendingOp op);

  uint32_t handle_;
  std::string input_;
  std::vector<PendingOp> ops_;
  std::vector<qv_op> records_;
  bool batch_sealed_ = false;  // results of ops_ are being read; the next queue() starts anew
  bool waiting_ = false;
};

using MethodTask = Task<Outcome>;

// Lets calls wait for another call of the same instance: a call queues ctx.wait(signal)
// and awaits perform(); notify() completes every such wait (the host learns of it through
// qv_woken_calls). Waiters re-check what they waited for when they resume. A Signal that
// goes away notifies its waiters, so none waits forever.
class Signal {
 public:
  Signal() = default;
  Signal(const Signal&) = delete;
  Signal& operator=(const Signal&) = delete;
  ~Signal() { notify(); }

  void add_waiter(uint32_t call, size_t op) { waiters_.push_back({call, op}); }
  // A waiter leaves before the notify (its wait timed out).
  void remove_waiter(uint32_t call, size_t op);
  void notify();
  size_t waiting() const { return waiters_.size(); }

 private:
  struct Waiter {
    uint32_t call;
    size_t op;
  };
  std::vector<Waiter> waiters_;
};

}  // namespace qv
