#include "qv/host/instance.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "qv/instance.h"
#include "qv/json.h"
#include "simdjson.h"

namespace qv::host {

namespace detail {

// What an Instance and its Calls share: the module state and the host's services.
struct InstanceState {
  qv::Instance module;
  InstanceOptions options;
};

}  // namespace detail

namespace {

// Makes an instance current for the exported C functions and its environment current for
// the host imports, for one ABI call.
class Active {
 public:
  explicit Active(detail::InstanceState& state)
      : module_scope_(state.module), environment_scope_(state.options.environment) {}

 private:
  qv::Instance::Scope module_scope_;
  EnvironmentScope environment_scope_;
};

std::string bytes(const uint8_t* data, uint32_t len) {
  return len == 0 ? std::string() : std::string(reinterpret_cast<const char*>(data), len);
}

Answer host_error(qv_status status, std::string message) {
  return {status, error_json(Error{status, std::move(message)})};
}

}  // namespace

Status check_abi_version(uint32_t module_version) {
  if (module_version == QV_ABI_VERSION) return ok_status();
  return Error{QV_INTERNAL, "module: ABI version " + std::to_string(module_version) +
                                " differs from the host's ABI version " +
                                std::to_string(QV_ABI_VERSION)};
}

std::string Answer::message() const {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  std::string_view text;
  if (parser.parse(output).get(root) || root["message"].get_string().get(text)) return {};
  return std::string(text);
}

// ---- Call ----

Call::Call(Call&& other) noexcept
    : instance_(std::move(other.instance_)),
      handle_(std::exchange(other.handle_, 0)),
      status_(std::exchange(other.status_, QV_BAD_HANDLE)) {}

Call& Call::operator=(Call&& other) noexcept {
  if (this != &other) {
    free();
    instance_ = std::move(other.instance_);
    handle_ = std::exchange(other.handle_, 0);
    status_ = std::exchange(other.status_, QV_BAD_HANDLE);
  }
  return *this;
}

Call::~Call() {
  free();
}

qv_status Call::free() {
  if (handle_ == 0 || !instance_) return QV_BAD_HANDLE;
  Active active(*instance_);
  const qv_status status = qv_call_free(handle_);
  handle_ = 0;
  status_ = QV_BAD_HANDLE;
  return status;
}

Result<std::vector<Op>> Call::ops() const {
  if (!instance_) return Error{QV_BAD_HANDLE, "call: no call handle"};
  Active active(*instance_);
  const qv_op* records = nullptr;
  uint32_t count = 0;
  const qv_status status = qv_call_ops(handle_, &records, &count);
  if (status != QV_OK) {
    return Error{status, "call " + std::to_string(handle_) + ": no pending operations (" +
                             status_name(status) + ")"};
  }
  std::vector<Op> ops;
  ops.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    const qv_op& record = records[i];
    Op op;
    op.kind = record.kind;
    op.duration_ms = record.duration_ms;
    op.delta = record.delta;
    op.key = bytes(record.key, record.key_len);
    op.value = bytes(record.value, record.value_len);
    op.meta = bytes(record.meta, record.meta_len);
    ops.push_back(std::move(op));
  }
  return ops;
}

qv_status Call::complete(uint32_t index, const OpResult& result) {
  if (!instance_) return QV_BAD_HANDLE;
  Active active(*instance_);
  return qv_call_complete_op(handle_, index, result.status, result.number,
                             reinterpret_cast<const uint8_t*>(result.data.data()),
                             static_cast<uint32_t>(result.data.size()),
                             reinterpret_cast<const uint8_t*>(result.meta.data()),
                             static_cast<uint32_t>(result.meta.size()));
}

qv_status Call::resume() {
  if (!instance_) return QV_BAD_HANDLE;
  Active active(*instance_);
  const qv_status status = qv_call_resume(handle_);
  if (status == QV_BAD_STATE || status == QV_BAD_HANDLE) {
    // Either the call was not resumed (misuse), or it ran and finished with that status:
    // only a finished call has an output.
    const uint8_t* ptr = nullptr;
    uint32_t len = 0;
    if (qv_call_output(handle_, &ptr, &len) != QV_OK) return status;
  }
  status_ = status;
  return status;
}

Result<std::string> Call::output() const {
  if (!instance_) return Error{QV_BAD_HANDLE, "call: no call handle"};
  Active active(*instance_);
  const uint8_t* ptr = nullptr;
  uint32_t len = 0;
  const qv_status status = qv_call_output(handle_, &ptr, &len);
  if (status != QV_OK) {
    return Error{status,
                 "call " + std::to_string(handle_) + ": no output (" + status_name(status) + ")"};
  }
  return bytes(ptr, len);
}

Answer Call::answer() const {
  if (handle_ == 0 && status_ == QV_INTERNAL) {
    return host_error(QV_INTERNAL, "module: out of memory starting the call");
  }
  auto text = output();
  if (!text.ok()) return host_error(text.status(), text.error().message);
  return {status_, std::move(text.value())};
}

// ---- Instance ----

Result<Instance> Instance::create(InstanceOptions options) {
  if (auto version = check_abi_version(qv_abi_version()); !version.ok()) {
    return version.take_error();
  }
  auto state = std::make_shared<detail::InstanceState>();
  state->options = std::move(options);
  return Instance(std::move(state));
}

Call Instance::start(std::string_view method, std::string_view input) {
  Active active(*state_);
  uint32_t handle = 0;
  // The ABI's lengths are 32-bit: a longer input or method name is passed as the longest
  // length there is, which the module refuses (an input as too large, unread; a method as
  // unknown), never cut to its length modulo 2^32 (a prefix the module would run).
  const auto length = [](std::string_view text) {
    return static_cast<uint32_t>(std::min<size_t>(text.size(), UINT32_MAX));
  };
  const qv_status status =
      qv_call_start(method.data(), length(method), reinterpret_cast<const uint8_t*>(input.data()),
                    length(input), &handle);
  return Call(state_, handle, status);
}

Answer Instance::run(std::string_view method, std::string_view input) {
  Call call = start(method, input);
  while (call.pending()) {
    auto ops = call.ops();
    if (!ops.ok()) return host_error(QV_INTERNAL, ops.error().message);
    // The batch's fetches run together, as in the JS host.
    const std::vector<OpResult> results =
        perform_ops(ops.value(), state_->options.kv.get(), state_->options.fetcher.get());
    for (uint32_t i = 0; i < ops.value().size(); ++i) {
      // A wait is completed by the module when another call notifies it; run() drives one
      // call, so a wait left open is reported by resume() below. One with a timeout has timed
      // out (perform_op); complete() refuses that when the module completed it first: the wake
      // stands.
      const Op& op = ops.value()[i];
      if (op.kind == QV_OP_WAIT) {
        if (op.duration_ms > 0) call.complete(i, results[i]);
        continue;
      }
      const qv_status completed = call.complete(i, results[i]);
      if (completed != QV_OK) {
        return host_error(QV_INTERNAL, "call: operation " + std::to_string(i) +
                                           " was not accepted (" + status_name(completed) + ")");
      }
    }
    const qv_status resumed = call.resume();
    if (resumed == QV_BAD_STATE || resumed == QV_BAD_HANDLE) {
      if (call.pending()) {
        return host_error(QV_INTERNAL,
                          std::string("call: resume refused (") + status_name(resumed) + ")");
      }
    }
  }
  return call.answer();
}

std::vector<uint32_t> Instance::woken_calls() {
  Active active(*state_);
  const uint32_t* calls = nullptr;
  uint32_t count = 0;
  qv_woken_calls(&calls, &count);
  return std::vector<uint32_t>(calls, calls + count);
}

OpResult Instance::perform(const Op& op) const {
  return perform_op(op, state_->options.kv.get(), state_->options.fetcher.get());
}

const Environment& Instance::environment() const {
  return state_->options.environment;
}
Kv* Instance::kv() const {
  return state_->options.kv.get();
}
Fetcher* Instance::fetcher() const {
  return state_->options.fetcher.get();
}

}  // namespace qv::host
