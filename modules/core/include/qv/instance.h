// One module instance: the state every module keeps between calls, the table of calls in
// flight, and the methods it serves. In WebAssembly there is one instance per
// WebAssembly.Instance; natively a host may keep several and select one with Scope.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "qv/call.h"
#include "qv/json.h"

namespace qv {

class Instance;

// A method a module serves, by its ABI name ("tiers.evaluate").
struct Method {
  std::string_view name;
  MethodTask (*run)(CallContext& ctx, Instance& instance);
};

// Every method of the bundle this build links (defined by modules/bundle.cpp).
std::span<const Method> bundle_methods();

class Instance {
 public:
  // A module's state in this instance, created on first use. An index per state type (not
  // a map) because the L1 exports look their state up on every cache access.
  template <typename T>
  T& state() {
    static const size_t index = next_state_index();
    if (index >= states_.size()) states_.resize(index + 1);
    auto& slot = states_[index];
    if (!slot) slot = std::make_unique<Holder<T>>();
    return static_cast<Holder<T>&>(*slot).value;
  }

  // Shared parser for call inputs: see JsonParser for the lifetime of what it returns.
  JsonParser& parser() { return parser_; }

  // The calls in flight, for the ABI layer.
  struct Call {
    std::unique_ptr<CallContext> ctx;
    MethodTask task;
    Driver driver;
    Outcome outcome;
    bool finished = false;
  };
  std::unordered_map<uint32_t, std::unique_ptr<Call>>& calls() { return calls_; }
  uint32_t next_handle();
  // Calls whose waits were completed by a Signal, for qv_woken_calls.
  std::vector<uint32_t>& woken() { return woken_; }
  std::vector<uint32_t>& woken_reported() { return woken_reported_; }

  // The instance the exported C functions act on.
  static Instance& current();
  // Makes another instance current for its lifetime (native hosts with several instances).
  class Scope {
   public:
    explicit Scope(Instance& instance);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    Instance* previous_;
  };

 private:
  struct HolderBase {
    virtual ~HolderBase() = default;
  };
  template <typename T>
  struct Holder : HolderBase {
    T value;
  };
  // The next unused index of state(): one per state type, the same in every instance.
  static size_t next_state_index();
  std::vector<std::unique_ptr<HolderBase>> states_;
  std::unordered_map<uint32_t, std::unique_ptr<Call>> calls_;
  uint32_t last_handle_ = 0;
  std::vector<uint32_t> woken_, woken_reported_;
  JsonParser parser_;
};

}  // namespace qv
