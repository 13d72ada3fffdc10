// The native host side of qv_abi.h: one module instance, the calls in flight on it, and
// a run() that performs their operations. Everything goes through the exported C
// functions of qv_abi.h, as the JavaScript shim does with the WebAssembly exports; the
// only thing taken from modules/core is qv::Instance, the module state a native build
// keeps per instance, made current with qv::Instance::Scope around each call.
//
// Two levels:
//  - start() returns a Call: its status, pending ops, complete(), resume() and output().
//    Calls on one instance may be interleaved freely, as an edge isolate does with
//    concurrent requests.
//  - run() starts a call and performs its operations against the instance's Kv and
//    Fetcher until it finishes.
//
// Instances and their calls are single-threaded: use one Instance per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "qv/host/environment.h"
#include "qv/host/fetcher.h"
#include "qv/host/kv.h"
#include "qv/host/op.h"
#include "qv/result.h"
#include "qv_abi.h"

namespace qv::host {

// Returns ok when a module's qv_abi_version() equals the QV_ABI_VERSION this host was
// built for, else QV_INTERNAL with a message giving both.
Status check_abi_version(uint32_t module_version);

// A finished call: its status and its output (the answer JSON, or the error object
// {"error": ..., "message": ...}).
struct Answer {
  qv_status status = QV_INTERNAL;
  std::string output;

  bool ok() const { return status == QV_OK; }
  // The "message" of an error output ("" when there is none).
  std::string message() const;
};

namespace detail {
struct InstanceState;
}

// One call on an instance: move-only, and qv_call_free releases it on destruction,
// whatever state it is in. A default-constructed or moved-from Call has no handle and
// every operation on it returns QV_BAD_HANDLE.
class Call {
 public:
  Call() = default;
  Call(Call&& other) noexcept;
  Call& operator=(Call&& other) noexcept;
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;
  ~Call();

  uint32_t handle() const { return handle_; }
  // The call's status as start() or the last effective resume() returned it: QV_PENDING
  // while it waits for operations, else the finished call's status.
  qv_status status() const { return status_; }
  bool pending() const { return status_ == QV_PENDING; }

  // Copies of the pending operations (qv_call_ops). QV_BAD_STATE when not pending.
  Result<std::vector<Op>> ops() const;
  // Reports the result of pending operation index (qv_call_complete_op). Returns QV_OK,
  // QV_BAD_HANDLE, or QV_BAD_STATE (not pending, out of range, already completed, or a wait
  // other than one with a timeout ended with QV_TIMEOUT).
  qv_status complete(uint32_t index, const OpResult& result);
  // Resumes the call once every operation has a result (qv_call_resume). Returns the new
  // status (QV_PENDING or the finished status), or QV_BAD_STATE / QV_BAD_HANDLE when the
  // call could not be resumed (status() is then unchanged).
  qv_status resume();
  // The finished call's output (qv_call_output). QV_BAD_STATE while pending.
  Result<std::string> output() const;
  // status() and output() together; for a call that cannot give its output, an error
  // object made by the host saying why.
  Answer answer() const;
  // Frees the handle now (as the destructor would). Returns QV_OK or QV_BAD_HANDLE.
  qv_status free();

 private:
  friend class Instance;
  Call(std::shared_ptr<detail::InstanceState> instance, uint32_t handle, qv_status status)
      : instance_(std::move(instance)), handle_(handle), status_(status) {}

  std::shared_ptr<detail::InstanceState> instance_;  // keeps the module state alive
  uint32_t handle_ = 0;
  qv_status status_ = QV_BAD_HANDLE;
};

struct InstanceOptions {
  Environment environment;           // clock, random bytes and logs of the module
  std::shared_ptr<Kv> kv;            // for run(); null: KV operations fail (unavailable)
  std::shared_ptr<Fetcher> fetcher;  // for run(); null: fetches fail (unavailable)
};

// One module instance. Movable; its calls keep its state alive even after it is gone.
class Instance {
 public:
  // Checks the module's ABI version and creates the instance.
  static Result<Instance> create(InstanceOptions options = {});

  // Starts method with a JSON input (qv_call_start). The call may already be finished.
  Call start(std::string_view method, std::string_view input);

  // Starts method and performs every operation it asks for with this instance's Kv and
  // Fetcher until the call finishes (perform_ops(): each batch's fetches together, its other
  // operations one after another in the order listed).
  Answer run(std::string_view method, std::string_view input);

  // Performs one operation with this instance's Kv and Fetcher.
  OpResult perform(const Op& op) const;

  // The calls whose QV_OP_WAIT operations the module completed since the last time
  // (qv_woken_calls). With the low-level API a host completes a wait itself only when it
  // gave a timeout (duration_ms) and that passed first (complete() with QV_TIMEOUT); it
  // resumes a woken call once its other operations have results.
  std::vector<uint32_t> woken_calls();

  const Environment& environment() const;
  Kv* kv() const;
  Fetcher* fetcher() const;

 private:
  explicit Instance(std::shared_ptr<detail::InstanceState> state) : state_(std::move(state)) {}
  std::shared_ptr<detail::InstanceState> state_;
};

}  // namespace qv::host
