// simad/cuda/emu/fiber.hpp: the fibers that run CUDA threads. One fiber per CUDA thread of a block;
// a worker OS thread keeps its fibers for good and switches between them and its scheduler.
//
// Backend: boost::context's fcontext (jump_fcontext/make_fcontext, ~20 ns a switch; link
// boost_context). -DSIMAD_EMU_UCONTEXT selects glibc's ucontext instead (no dependency, ~20x slower:
// swapcontext makes a sigprocmask system call). Under AddressSanitizer every switch is annotated
// (__sanitizer_start_switch_fiber / __sanitizer_finish_switch_fiber).
//
// Each fiber has its own mmap'd stack with a PROT_NONE guard page below it (a stack overflow is a
// SIGSEGV, not silent corruption: raise SIMAD_EMU_STACK_KB). Stack tops are staggered by
// (index * 192) mod 4096 bytes so that the hot frames of neighbouring fibers do not alias in L1.
#pragma once

#include "simad/cuda/emu/config.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>

#if defined(SIMAD_EMU_UCONTEXT)
#include <ucontext.h>
#else
#include <boost/context/detail/fcontext.hpp>
#endif

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define SIMAD_EMU_ASAN 1
#endif

namespace simad::cuda::emu::detail {

inline void asan_start_switch([[maybe_unused]] void** fake_stack_save, [[maybe_unused]] const void* bottom,
                              [[maybe_unused]] std::size_t size) {
#if defined(SIMAD_EMU_ASAN)
  __sanitizer_start_switch_fiber(fake_stack_save, bottom, size);
#endif
}
inline void asan_finish_switch([[maybe_unused]] void* fake_stack_save, [[maybe_unused]] const void** bottom_old,
                               [[maybe_unused]] std::size_t* size_old) {
#if defined(SIMAD_EMU_ASAN)
  __sanitizer_finish_switch_fiber(fake_stack_save, bottom_old, size_old);
#endif
}

// The scheduler side of a worker: where fibers return to when they suspend.
struct SchedulerContext {
#if defined(SIMAD_EMU_UCONTEXT)
  ucontext_t ctx{};
#else
  boost::context::detail::fcontext_t ctx = nullptr;
#endif
  const void* stack_bottom = nullptr;  // the worker thread's own stack (for ASan)
  std::size_t stack_size = 0;
  void* fake_stack = nullptr;
};

// A fiber runs `body(fiber)`, which must never return: it loops, suspending between jobs.
// Fibers never move (ucontext_t points into itself; the scheduler keeps pointers): hold them by pointer.
class Fiber {
 public:
  using Body = void (*)(Fiber&);

  Fiber(SchedulerContext& sched, std::size_t stack_bytes, unsigned index, Body body, void* user)
      : sched_(sched), body_(body), user_(user), index_(index) {
    const std::size_t page = std::size_t(sysconf(_SC_PAGESIZE));
    stack_size_ = (stack_bytes + page - 1) / page * page;
    map_size_ = stack_size_ + page;
    void* map = mmap(nullptr, map_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (map == MAP_FAILED) throw std::bad_alloc();
    if (mprotect(map, page, PROT_NONE) != 0) {
      munmap(map, map_size_);
      throw std::bad_alloc();
    }
    map_ = static_cast<unsigned char*>(map);
    stack_lo_ = map_ + page;
    reset();
  }
  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;
  ~Fiber() {
#if defined(SIMAD_EMU_ASAN)
    __asan_unpoison_memory_region(stack_lo_, stack_size_);
#endif
    munmap(map_, map_size_);
  }

  // Makes the fiber start from the top of body() on its next resume (used for a new fiber, and to
  // recover a fiber whose frames were abandoned).
  void reset() {
#if defined(SIMAD_EMU_ASAN)
    __asan_unpoison_memory_region(stack_lo_, stack_size_);
#endif
    const std::size_t stagger = (std::size_t(index_) * 192) % 4096;
    unsigned char* top = stack_lo_ + stack_size_ - stagger;
#if defined(SIMAD_EMU_UCONTEXT)
    getcontext(&ctx_);
    ctx_.uc_stack.ss_sp = stack_lo_;
    ctx_.uc_stack.ss_size = stack_size_ - stagger;
    ctx_.uc_link = nullptr;
    const auto p = reinterpret_cast<std::uintptr_t>(this);
    makecontext(&ctx_, reinterpret_cast<void (*)()>(&Fiber::uc_trampoline), 2, unsigned(p >> 32),
                unsigned(p & 0xffffffffu));
#else
    ctx_ = boost::context::detail::make_fcontext(top, stack_size_ - stagger, &Fiber::fc_trampoline);
#endif
    (void)top;
  }

  // Scheduler -> fiber: runs the fiber until it suspends.
  void resume() {
    asan_start_switch(&sched_.fake_stack, stack_lo_, stack_size_);
#if defined(SIMAD_EMU_UCONTEXT)
    swapcontext(&sched_.ctx, &ctx_);
#else
    const auto t = boost::context::detail::jump_fcontext(ctx_, this);
    ctx_ = t.fctx;
#endif
    asan_finish_switch(sched_.fake_stack, nullptr, nullptr);
  }

  // Fiber -> scheduler (call only from inside this fiber).
  void suspend() {
    asan_start_switch(&fake_stack_, sched_.stack_bottom, sched_.stack_size);
#if defined(SIMAD_EMU_UCONTEXT)
    swapcontext(&ctx_, &sched_.ctx);
#else
    const auto t = boost::context::detail::jump_fcontext(sched_.ctx, nullptr);
    sched_.ctx = t.fctx;
#endif
    asan_finish_switch(fake_stack_, &sched_.stack_bottom, &sched_.stack_size);
  }

  void* user() const { return user_; }
  unsigned index() const { return index_; }

 private:
  [[noreturn]] void start() {
    asan_finish_switch(nullptr, &sched_.stack_bottom, &sched_.stack_size);
    body_(*this);
    std::fputs("[simad-emu] internal error: a fiber body returned\n", stderr);
    std::abort();
  }
#if defined(SIMAD_EMU_UCONTEXT)
  static void uc_trampoline(unsigned hi, unsigned lo) {
    reinterpret_cast<Fiber*>((std::uintptr_t(hi) << 32) | std::uintptr_t(lo))->start();
  }
#else
  static void fc_trampoline(boost::context::detail::transfer_t t) {
    auto* self = static_cast<Fiber*>(t.data);
    self->sched_.ctx = t.fctx;
    self->start();
  }
#endif

  SchedulerContext& sched_;
  Body body_;
  void* user_;
  unsigned index_;
  unsigned char* map_ = nullptr;
  unsigned char* stack_lo_ = nullptr;
  std::size_t map_size_ = 0, stack_size_ = 0;
  void* fake_stack_ = nullptr;
#if defined(SIMAD_EMU_UCONTEXT)
  ucontext_t ctx_{};
#else
  boost::context::detail::fcontext_t ctx_ = nullptr;
#endif
};

}  // namespace simad::cuda::emu::detail
