// Stackless coroutines for sans-IO module code. A method is a Task<Outcome>; it asks the
// host for I/O by queueing operations on its CallContext and awaiting ctx.perform(). A
// Driver owns the chain of tasks of one call (a method and the tasks it awaits) and
// resumes them one at a time: a task never resumes another itself. That keeps the code
// free of the tail calls that symmetric transfer needs, which WebAssembly runtimes
// without the tail-call proposal (and clang 14 for wasm32) cannot run.
//
// Modules build without exceptions: a task that lets one escape aborts.
#pragma once

#include <cstdlib>
#include <optional>
#include <utility>
#include <vector>

#if __has_include(<coroutine>)
#include <coroutine>
namespace qv::coro {
using std::coroutine_handle;
using std::suspend_always;
}  // namespace qv::coro
#else  // Emscripten 3.1.6 ships libc++ 13, which has only the Coroutines TS header
#include <experimental/coroutine>
namespace qv::coro {
using std::experimental::coroutine_handle;
using std::experimental::suspend_always;
}  // namespace qv::coro
#endif

namespace qv {

// Runs the tasks of one call: the innermost task is on top of the stack.
class Driver {
 public:
  enum class State { kRunning, kWaiting, kDone };

  void start(coro::coroutine_handle<> root) { stack_.assign(1, root); }

  // Resumes the innermost task and keeps going until the root finishes (kDone) or a task
  // waits for the host (kWaiting).
  State run();

  // For awaiters: the task on top now awaits `child`; the driver runs it next.
  void push(coro::coroutine_handle<> child) { stack_.push_back(child); }
  // For awaiters: the task on top waits for the host.
  void wait() { waiting_ = true; }

  // The driver of the call being run (set by run()); awaiters find it here.
  static Driver* current();

 private:
  std::vector<coro::coroutine_handle<>> stack_;
  bool waiting_ = false;
};

template <typename T>
class Task {
 public:
  struct promise_type {
    std::optional<T> value;

    Task get_return_object() {
      return Task(coro::coroutine_handle<promise_type>::from_promise(*this));
    }
    coro::suspend_always initial_suspend() noexcept { return {}; }
    coro::suspend_always final_suspend() noexcept { return {}; }  // the driver moves on
    template <typename U>
    void return_value(U&& result) {
      value.emplace(std::forward<U>(result));
    }
    void unhandled_exception() noexcept { std::abort(); }
  };

  Task() = default;
  Task(Task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      reset();
      handle_ = std::exchange(other.handle_, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() { reset(); }

  coro::coroutine_handle<> handle() const { return handle_; }
  bool done() const { return handle_ && handle_.done(); }
  T& result() { return *handle_.promise().value; }

  // co_await task: the driver runs it, then resumes the awaiting task with its result.
  bool await_ready() const noexcept { return false; }
  void await_suspend(coro::coroutine_handle<>) noexcept { Driver::current()->push(handle_); }
  T await_resume() { return std::move(*handle_.promise().value); }

 private:
  explicit Task(coro::coroutine_handle<promise_type> handle) : handle_(handle) {}
  void reset() {
    if (handle_) handle_.destroy();
    handle_ = {};
  }
  coro::coroutine_handle<promise_type> handle_;
};

}  // namespace qv
