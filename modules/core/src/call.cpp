#include "qv/call.h"

#include <cstdlib>

namespace qv {

bool PerformAwaiter::await_ready() const noexcept {
  // Nothing queued (or the batch was already performed): carry on without suspending.
  return ctx->ops_.empty() || ctx->batch_sealed_;
}

void PerformAwaiter::await_suspend(coro::coroutine_handle<>) noexcept {
  ctx->waiting_ = true;
  Driver::current()->wait();
}

size_t CallContext::queue(PendingOp op) {
  if (batch_sealed_) {  // the previous batch's results have been read: start a new batch
    ops_.clear();
    records_.clear();
    batch_sealed_ = false;
  }
  ops_.push_back(std::move(op));
  return ops_.size() - 1;
}

size_t CallContext::kv_get(std::string key) {
  return queue({QV_OP_KV_GET, 0, 0, std::move(key), {}, {}, false, {}});
}

size_t CallContext::kv_set(std::string key, std::string value, uint32_t ttl_ms) {
  return queue({QV_OP_KV_SET, ttl_ms, 0, std::move(key), std::move(value), {}, false, {}});
}

size_t CallContext::kv_incr(std::string key, int64_t delta, uint32_t ttl_ms) {
  return queue({QV_OP_KV_INCR, ttl_ms, delta, std::move(key), {}, {}, false, {}});
}

size_t CallContext::kv_del(std::string key) {
  return queue({QV_OP_KV_DEL, 0, 0, std::move(key), {}, {}, false, {}});
}

size_t CallContext::kv_cas(std::string key, const std::optional<std::string>& expected,
                           std::string value, uint32_t ttl_ms) {
  return queue({QV_OP_KV_CAS,
                ttl_ms,
                expected ? 0 : 1,
                std::move(key),
                std::move(value),
                expected.value_or(std::string()),
                false,
                {}});
}

size_t CallContext::sleep(uint32_t duration_ms) {
  return queue({QV_OP_SLEEP, duration_ms, 0, {}, {}, {}, false, {}});
}

size_t CallContext::wait(Signal& signal, uint32_t timeout_ms) {
  const size_t op = queue({QV_OP_WAIT, timeout_ms, 0, {}, {}, {}, false, {}, &signal});
  signal.add_waiter(handle_, op);
  return op;
}

size_t CallContext::fetch(std::string method, std::string url, std::string headers,
                          std::string body, uint32_t timeout_ms) {
  std::string meta = std::move(method);
  meta += '\n';
  meta += headers;
  return queue(
      {QV_OP_FETCH, timeout_ms, 0, std::move(url), std::move(body), std::move(meta), false, {}});
}

const std::vector<qv_op>& CallContext::op_records() {
  if (records_.size() != ops_.size()) {
    records_.clear();
    for (const auto& op : ops_) {
      qv_op record{};
      record.kind = op.kind;
      record.duration_ms = op.duration_ms;
      record.delta = op.delta;
      record.key = reinterpret_cast<const uint8_t*>(op.key.data());
      record.key_len = static_cast<uint32_t>(op.key.size());
      record.value = reinterpret_cast<const uint8_t*>(op.value.data());
      record.value_len = static_cast<uint32_t>(op.value.size());
      record.meta = reinterpret_cast<const uint8_t*>(op.meta.data());
      record.meta_len = static_cast<uint32_t>(op.meta.size());
      records_.push_back(record);
    }
  }
  return records_;
}

qv_status CallContext::complete(uint32_t index, qv_status status, int64_t number,
                                std::string_view data, std::string_view meta) {
  if (!waiting_ || index >= ops_.size() || ops_[index].completed) return QV_BAD_STATE;
  auto& op = ops_[index];
  op.completed = true;
  op.result.status = status;
  op.result.number = number;
  op.result.data.assign(data);
  op.result.meta.assign(meta);
  return QV_OK;
}

qv_status CallContext::time_out_wait(uint32_t index, std::string_view data, std::string_view meta) {
  if (!waiting_ || index >= ops_.size()) return QV_BAD_STATE;
  PendingOp& op = ops_[index];
  if (op.kind != QV_OP_WAIT || op.duration_ms == 0 || op.completed) return QV_BAD_STATE;
  // Not completed: its signal still lives (a Signal notifies its waiters when it goes).
  op.signal->remove_waiter(handle_, index);
  op.signal = nullptr;
  return complete(index, QV_TIMEOUT, 0, data, meta);
}

void Signal::remove_waiter(uint32_t call, size_t op) {
  std::erase_if(waiters_,
                [&](const Waiter& waiter) { return waiter.call == call && waiter.op == op; });
}

bool CallContext::all_completed() const {
  for (const auto& op : ops_) {
    if (!op.completed) return false;
  }
  return true;
}

void CallContext::seal_batch() {
  waiting_ = false;
  batch_sealed_ = true;
}

namespace {
Driver* current_driver = nullptr;
}

Driver* Driver::current() {
  return current_driver;
}

Driver::State Driver::run() {
  Driver* outer = current_driver;
  current_driver = this;
  waiting_ = false;
  State state = State::kRunning;
  while (state == State::kRunning) {
    const size_t depth = stack_.size();
    stack_.back().resume();
    if (waiting_) {
      state = State::kWaiting;
    } else if (stack_.size() > depth) {
      continue;  // the task awaits a new task: run that one
    } else if (stack_.back().done()) {
      stack_.pop_back();  // finished: its awaiter (if any) reads the result when resumed
      if (stack_.empty()) state = State::kDone;
    } else {
      std::abort();  // a task suspended on something other than a Task or perform()
    }
  }
  current_driver = outer;
  return state;
}

}  // namespace qv
