// The module side of qv_abi.h: exported C functions over the current Instance.
#include <cstdlib>
#include <cstring>

#include "qv/instance.h"
#include "qv/json.h"
#include "qv/json_text.h"
#include "qv_abi.h"

namespace qv {

namespace {

Instance*& current_slot() {
  static Instance default_instance;
  static Instance* current = &default_instance;
  return current;
}

Instance::Call* find_call(uint32_t handle) {
  auto& calls = Instance::current().calls();
  auto found = calls.find(handle);
  return found == calls.end() ? nullptr : found->second.get();
}

// A method name as a message shows it: as it is when it is UTF-8; otherwise (bytes from a
// native host, which no decoder checked) with its bytes outside printable ASCII as \xNN, so
// the answer stays UTF-8 and its JSON valid.
std::string shown_name(std::string_view name) {
  if (simdjson::validate_utf8(name.data(), name.size())) return std::string(name);
  return shown_bytes(name);
}

// The refusal of a method name longer than any (QV_MAX_METHOD_BYTES), showing its first 32
// bytes at most, cut before a character they would split, where the whole name could be
// megabytes.
std::string longer_than_any_method(std::string_view name) {
  size_t cut = 32;
  while (cut > 0 && (static_cast<unsigned char>(name[cut]) & 0xc0) == 0x80) --cut;
  return "method: longer than any method name (at most " + std::to_string(QV_MAX_METHOD_BYTES) +
         " bytes), beginning '" + shown_name(name.substr(0, cut)) + "'";
}

// Runs the call's tasks until the method finishes or waits for the host. A refused input
// written over lines (a file) gets the line and column of the field its error names, in
// every module (json_text.h: one-line inputs, and errors already positioned, are left).
qv_status run(Instance::Call& call) {
  if (call.driver.run() == Driver::State::kWaiting) return QV_PENDING;
  call.outcome = std::move(call.task.result());
  if (call.outcome.status == QV_INVALID_INPUT) {
    qv::Error positioned =
        qv::with_position({call.outcome.status, call.outcome.message}, call.ctx->input(), "");
    if (positioned.message != call.outcome.message) call.outcome = qv::Outcome::failure(positioned);
  }
  call.finished = true;
  return call.outcome.status;
}

}  // namespace

size_t Instance::next_state_index() {
  static size_t next = 0;
  return next++;
}

Instance& Instance::current() {
  return *current_slot();
}

Instance::Scope::Scope(Instance& instance) : previous_(current_slot()) {
  current_slot() = &instance;
}

Instance::Scope::~Scope() {
  current_slot() = previous_;
}

uint32_t Instance::next_handle() {
  do {
    ++last_handle_;
  } while (last_handle_ == 0 || calls_.count(last_handle_) != 0);
  return last_handle_;
}

void Signal::notify() {
  std::vector<Waiter> waiters;
  waiters.swap(waiters_);
  auto& instance = Instance::current();
  for (const Waiter& waiter : waiters) {
    auto* call = find_call(waiter.call);
    if (!call || call->finished) continue;  // freed or done meanwhile
    if (call->ctx->complete(static_cast<uint32_t>(waiter.op), QV_OK, 0, {}, {}) == QV_OK) {
      instance.woken().push_back(waiter.call);
    }
  }
}

}  // namespace qv

using qv::Instance;

extern "C" {

uint32_t qv_abi_version(void) {
  return QV_ABI_VERSION;
}

void* qv_alloc(uint32_t len) {
  return std::malloc(len == 0 ? 1 : len);
}

void qv_free(void* ptr) {
  std::free(ptr);
}

qv_status qv_call_start(const char* method, uint32_t method_len, const uint8_t* input,
                        uint32_t input_len, uint32_t* out_call) {
  auto& instance = Instance::current();
  auto call = std::make_unique<Instance::Call>();
  const uint32_t handle = instance.next_handle();
  std::string_view name(method, method_len);
  const qv::Method* found = nullptr;
  for (const auto& candidate : qv::bundle_methods()) {
    if (candidate.name == name) found = &candidate;
  }
  qv_status status;
  Instance::Call* running = call.get();
  // Registered before it runs, so a Signal notified during the run can find it.
  instance.calls().emplace(handle, std::move(call));
  if (method_len > QV_MAX_METHOD_BYTES) {
    running->outcome = qv::Outcome::failure({QV_INVALID_INPUT, qv::longer_than_any_method(name)});
    running->finished = true;
    status = QV_INVALID_INPUT;
  } else if (!found) {
    running->outcome = qv::Outcome::failure(
        qv::not_found("method: unknown method '" + qv::shown_name(name) + "'"));
    running->finished = true;
    status = QV_NOT_FOUND;
  } else if (input_len > qv::kMaxInputBytes) {
    running->outcome = qv::Outcome::failure(
        {QV_TOO_LARGE, "input: " + std::to_string(input_len) + " bytes is above the limit of " +
                           std::to_string(qv::kMaxInputBytes) + " bytes"});
    running->finished = true;
    status = QV_TOO_LARGE;
  } else {
    running->ctx = std::make_unique<qv::CallContext>(
        handle, std::string(reinterpret_cast<const char*>(input), input_len));
    running->task = found->run(*running->ctx, instance);
    running->driver.start(running->task.handle());
    status = qv::run(*running);
  }
  *out_call = handle;
  return status;
}

qv_status qv_call_ops(uint32_t handle, const qv_op** out_ops, uint32_t* out_count) {
  auto* call = qv::find_call(handle);
  if (!call) return QV_BAD_HANDLE;
  if (call->finished || !call->ctx->waiting()) return QV_BAD_STATE;
  const auto& records = call->ctx->op_records();
  *out_ops = records.data();
  *out_count = static_cast<uint32_t>(records.size());
  return QV_OK;
}

qv_status qv_call_complete_op(uint32_t handle, uint32_t op_index, qv_status op_status,
                              int64_t number, const uint8_t* data, uint32_t data_len,
                              const uint8_t* meta, uint32_t meta_len) {
  auto* call = qv::find_call(handle);
  if (!call) return QV_BAD_HANDLE;
  if (call->finished) return QV_BAD_STATE;
  const std::string_view data_text(reinterpret_cast<const char*>(data), data_len);
  const std::string_view meta_text(reinterpret_cast<const char*>(meta), meta_len);
  // A wait is completed by the module itself (qv_woken_calls); the host only ends one that
  // asked for a timeout, with QV_TIMEOUT.
  const auto& ops = call->ctx->ops();
  if (op_index < ops.size() && ops[op_index].kind == QV_OP_WAIT) {
    if (op_status != QV_TIMEOUT) return QV_BAD_STATE;
    return call->ctx->time_out_wait(op_index, data_text, meta_text);
  }
  return call->ctx->complete(op_index, op_status, number, data_text, meta_text);
}

qv_status qv_call_resume(uint32_t handle) {
  auto* call = qv::find_call(handle);
  if (!call) return QV_BAD_HANDLE;
  if (call->finished || !call->ctx->waiting() || !call->ctx->all_completed()) return QV_BAD_STATE;
  call->ctx->seal_batch();
  return qv::run(*call);
}

qv_status qv_call_output(uint32_t handle, const uint8_t** out_ptr, uint32_t* out_len) {
  auto* call = qv::find_call(handle);
  if (!call) return QV_BAD_HANDLE;
  if (!call->finished) return QV_BAD_STATE;
  *out_ptr = reinterpret_cast<const uint8_t*>(call->outcome.body.data());
  *out_len = static_cast<uint32_t>(call->outcome.body.size());
  return QV_OK;
}

qv_status qv_woken_calls(const uint32_t** out_calls, uint32_t* out_count) {
  auto& instance = Instance::current();
  instance.woken_reported().swap(instance.woken());
  instance.woken().clear();
  *out_calls = instance.woken_reported().data();
  *out_count = static_cast<uint32_t>(instance.woken_reported().size());
  return QV_OK;
}

qv_status qv_call_free(uint32_t handle) {
  auto& calls = Instance::current().calls();
  return calls.erase(handle) ? QV_OK : QV_BAD_HANDLE;
}

}  // extern "C"
