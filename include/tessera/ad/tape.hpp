// SPDX-License-Identifier: Apache-2.0
// The per-thread reverse-mode tape: an arena of nodes and values, a linear reverse-pass
// stack, RAII nested scopes and the no_grad switch (Stan Math's design, at tensor granularity).
#pragma once

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>
#include <utility>
#include <vector>

#include "tessera/config.hpp"
#include "tessera/core/error.hpp"

namespace tessera::ad {

/// Anything the tape owns: destroyed (in reverse order of creation) when its scope ends.
struct tape_object {
  virtual ~tape_object() = default;
};

/// One reverse-pass step. chain() propagates tensor adjoints (first order); chain_graph()
/// propagates differentiable adjoints, recording new nodes (for gradients of gradients).
struct node_base : tape_object {
  virtual void chain() = 0;
  virtual void chain_graph() = 0;
  /// Forgets the adjoints of this node's output before a new reverse sweep.
  virtual void clear() noexcept = 0;
};

/// Monotonic bump allocator in 64 KiB blocks that are kept for reuse after a rewind, so a
/// training loop reaches a steady state with no allocation for tape bookkeeping.
class arena {
 public:
  static constexpr std::size_t block_bytes = 64 * 1024;

  arena() = default;
  arena(const arena&) = delete;
  arena& operator=(const arena&) = delete;
  ~arena() {
    for (auto& b : blocks_) ::operator delete(b.first, std::align_val_t{64});
  }

  struct mark {
    std::size_t block;
    std::size_t used;
  };

  [[nodiscard]] mark position() const noexcept { return {cur_, used_}; }
  void rewind(mark m) noexcept {
    cur_ = m.block;
    used_ = m.used;
  }

  void* allocate(std::size_t bytes, std::size_t align) {
    for (;;) {
      if (cur_ < blocks_.size()) {
        const std::size_t start = (used_ + align - 1) & ~(align - 1);
        if (start + bytes <= blocks_[cur_].second) {
          used_ = start + bytes;
          return static_cast<char*>(blocks_[cur_].first) + start;
        }
        if (cur_ + 1 < blocks_.size() && bytes + align <= blocks_[cur_ + 1].second) {
          ++cur_;
          used_ = 0;
          continue;
        }
      }
      const std::size_t size = bytes + align > block_bytes ? bytes + align : block_bytes;
      void* p = ::operator new(size, std::align_val_t{64});
      // A fresh block goes right after the current one; later (smaller) blocks stay for reuse.
      const std::size_t at = blocks_.empty() ? 0 : cur_ + 1;
      blocks_.insert(blocks_.begin() + static_cast<std::ptrdiff_t>(at), {p, size});
      cur_ = at;
      used_ = 0;
    }
  }

  /// Bytes reserved from the system (for tests of steady-state memory).
  [[nodiscard]] std::size_t reserved_bytes() const noexcept {
    std::size_t s = 0;
    for (auto& b : blocks_) s += b.second;
    return s;
  }

 private:
  std::vector<std::pair<void*, std::size_t>> blocks_;
  std::size_t cur_ = 0;
  std::size_t used_ = 0;
};

/// A linear tape: the objects it owns and the nodes of the reverse pass, in creation order.
class tape {
 public:
  tape() = default;
  tape(const tape&) = delete;
  tape& operator=(const tape&) = delete;
  ~tape() { release(0, 0, arena::mark{0, 0}); }

  /// Constructs an object in the arena; the tape destroys it when its scope ends.
  template <class U, class... Args>
  U* make(Args&&... args) {
    void* p = mem_.allocate(sizeof(U), alignof(U) < 16 ? 16 : alignof(U));
    U* u = new (p) U(std::forward<Args>(args)...);
    objects_.push_back(u);
    return u;
  }

  /// Raw arena memory for trivially destructible arrays (node input lists).
  template <class U>
  U* make_array(std::size_t n) {
    static_assert(std::is_trivially_destructible_v<U>);
    return static_cast<U*>(mem_.allocate(sizeof(U) * (n ? n : 1), alignof(U)));
  }

  void push(node_base* n) { nodes_.push_back(n); }

  [[nodiscard]] std::size_t node_count() const noexcept { return nodes_.size(); }
  [[nodiscard]] node_base* node(std::size_t i) const noexcept { return nodes_[i]; }
  [[nodiscard]] std::size_t object_count() const noexcept { return objects_.size(); }
  [[nodiscard]] tape_object* object(std::size_t i) const noexcept { return objects_[i]; }
  [[nodiscard]] const arena& memory() const noexcept { return mem_; }

  struct checkpoint {
    std::size_t objects;
    std::size_t nodes;
    arena::mark mem;
  };
  [[nodiscard]] checkpoint save() const noexcept {
    return {objects_.size(), nodes_.size(), mem_.position()};
  }
  /// Destroys everything created after `c`, newest first, and rewinds the arena.
  void restore(const checkpoint& c) noexcept { release(c.objects, c.nodes, c.mem); }

 private:
  void release(std::size_t objects, std::size_t nodes, arena::mark m) noexcept {
    for (std::size_t i = objects_.size(); i > objects; --i) objects_[i - 1]->~tape_object();
    objects_.resize(objects);
    nodes_.resize(nodes);
    mem_.rewind(m);
  }

  arena mem_;
  std::vector<tape_object*> objects_;
  std::vector<node_base*> nodes_;
};

namespace detail {
struct thread_state {
  tape root;
  tape* current = &root;
  int no_grad_depth = 0;
};
inline thread_state& state() noexcept {
  thread_local thread_state s;
  return s;
}
}  // namespace detail

/// The tape new variables and nodes go to on this thread.
inline tape& current_tape() noexcept { return *detail::state().current; }

/// True inside a no_grad scope on this thread.
inline bool grad_disabled() noexcept { return detail::state().no_grad_depth > 0; }

/// RAII: everything recorded on this thread's current tape while the scope lives is destroyed
/// when it ends (values, nodes, adjoints). Scopes nest. Variables created inside must not be
/// used after the scope ends; ad::parameter storage is not on the tape and survives.
class scope {
 public:
  scope() : tape_(&current_tape()), cp_(tape_->save()) {}
  scope(const scope&) = delete;
  scope& operator=(const scope&) = delete;
  ~scope() { tape_->restore(cp_); }

 private:
  tape* tape_;
  tape::checkpoint cp_;
};

/// RAII: operations inside record nothing (their results are constants).
class no_grad {
 public:
  no_grad() noexcept { ++detail::state().no_grad_depth; }
  no_grad(const no_grad&) = delete;
  no_grad& operator=(const no_grad&) = delete;
  ~no_grad() { --detail::state().no_grad_depth; }
};

/// RAII: makes `t` this thread's current tape while alive (used by vjp to record a segment on
/// its own tape); restores the previous one at exit.
class tape_switch {
 public:
  explicit tape_switch(tape& t) noexcept : prev_(detail::state().current) {
    detail::state().current = &t;
  }
  tape_switch(const tape_switch&) = delete;
  tape_switch& operator=(const tape_switch&) = delete;
  ~tape_switch() { detail::state().current = prev_; }

 private:
  tape* prev_;
};

}  // namespace tessera::ad
