// simad/cuda/emu/scheduler.hpp: runs a grid. Blocks are spread over a persistent pool of worker OS
// threads (the launching thread is one of them); a worker runs one block at a time to completion, each
// CUDA thread of the block as a fiber, switching only at __syncthreads and warp operations.
//
// - __syncthreads: the last thread to arrive releases the waiters into the run queue and continues
//   without switching. By default a thread that has exited counts as arrived (PTX `exit` semantics);
//   SIMAD_EMU_STRICT_BARRIERS=1 makes that a deadlock, and different call sites an error.
// - Warp operations (*_sync): each lane deposits its value and waits; the last lane to arrive computes
//   every lane's result (shuffle source lanes are resolved exactly as PTX shfl.sync does) and wakes
//   them. Exited lanes named in the mask are not waited for (CUDA: "non-exited threads in mask"), but
//   reading one with a shuffle is an error, as are a caller outside its own mask, lanes under the same
//   mask disagreeing on the operation, and a shuffle width that is not a power of two <= 32. Lanes
//   waiting at operations with different overlapping masks are legal until nothing can move: then
//   it is a deadlock, reported with each pending operation's mask and missing lanes.
// - When the run queue empties before every thread has finished, the block is deadlocked: the error
//   names the kernel, the block and the file:line where its threads wait. The threads of a failed
//   block are unwound (an exception thrown at their sync point) so the fibers can be reused, and the
//   launch fails with the sticky cudaErrorLaunchFailure, as a trapped kernel does on a GPU.
#pragma once

#include "simad/core/error.hpp"
#include "simad/cuda/emu/config.hpp"
#include "simad/cuda/emu/fiber.hpp"
#include "simad/cuda/emu/runtime_types.hpp"
#include "simad/cuda/kernel_name.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace simad::cuda::emu {
namespace detail {

// Where a CUDA thread waits: the operation and its call site (from __builtin_FILE/__builtin_LINE).
struct Site {
  const char* op = "";
  const char* file = "";
  int line = 0;
};

inline bool same_site(const Site& a, const Site& b) {
  return a.line == b.line && (a.file == b.file || std::strcmp(a.file, b.file) == 0) &&
         (a.op == b.op || std::strcmp(a.op, b.op) == 0);
}

// Messages are built with cat() (an ostringstream): GCC 12 warns falsely (-Wrestrict, bug 105329)
// on `"literal" + std::string&&` at -O3.
template <typename... A>
std::string cat(A&&... a) {
  return ::simad::detail::concat(std::forward<A>(a)...);
}

inline std::string where(const Site& s) { return cat(s.op, " at ", s.file, ":", s.line); }

inline std::string xyz(const uint3& v) { return cat("(", v.x, ",", v.y, ",", v.z, ")"); }

inline std::string hex(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

// Thrown at a sync point to unwind the CUDA threads of a block that failed. Not a std::exception, so
// a kernel's catch (const std::exception&) does not swallow it.
struct Cancelled {};

enum class Status : std::uint8_t { ready, running, barrier, warp, done };
enum class BarrierKind : std::uint8_t { plain, count, all, any };
enum class WarpKind : std::uint8_t { sync, ballot, any, all, shfl_idx, shfl_up, shfl_down, shfl_xor };

struct ThreadState {
  uint3 idx{0, 0, 0};
  unsigned linear = 0, lane = 0, warp = 0;
  Status status = Status::ready;
  Site wait;
  int bar_count = 0, bar_arrived = 0;  // results of the last barrier
  std::uint64_t w_value = 0, w_result = 0;
  int w_arg = 0;
  // cp.async copies issued and not yet waited for: (shared destination, the 4 bytes read at issue).
  std::vector<std::pair<void*, std::uint32_t>> async_copies;
};

struct WarpOp {
  std::uint32_t mask = 0;
  std::uint32_t arrived = 0;
  WarpKind kind = WarpKind::sync;
  int width = 32;
  unsigned size = 0;
  Site site;
};

// Pending operations of a warp: one per distinct mask (lanes may wait at a full-mask operation while
// others still finish an earlier half-warp one). Each has at least one lane waiting, so <= 32.
struct WarpState {
  std::uint32_t exists = 0, exited = 0;
  unsigned nops = 0;
  std::array<WarpOp, 32> ops;
};

struct BarrierState {
  unsigned arrived = 0, count = 0;
  BarrierKind kind = BarrierKind::plain;
  Site site;
  unsigned first = 0;
  std::vector<unsigned> waiters;
};

// What the kernel is, for messages (the name is worked out only when needed).
struct KernelInfo {
  const char* given_name = nullptr;
  const void* fn = nullptr;
  const char* type_name = nullptr;
  std::string name() const { return ::simad::cuda::detail::kernel_name(given_name, fn, type_name); }
};

// One launch.
struct Job {
  KernelInfo kernel;
  dim3 grid, block;
  std::size_t smem = 0;
  void (*body)(const void*) = nullptr;  // runs the kernel with its arguments (one call per CUDA thread)
  const void* args = nullptr;
  Config cfg;
  std::uint64_t launch_no = 0;
  unsigned nthreads = 0, nwarps = 0;
  std::uint64_t nblocks = 0;
  std::atomic<std::uint64_t> next{0};
  std::atomic<bool> failed{false};
  std::atomic<bool> warned{false};
  std::mutex errors_mutex;
  std::vector<std::string> errors;
  unsigned dropped = 0;

  static constexpr unsigned kMaxErrors = 8;

  void record_error(const std::string& message) {
    failed.store(true);
    std::lock_guard lock(errors_mutex);
    if (errors.size() >= kMaxErrors) {
      ++dropped;
      return;
    }
    errors.push_back(message);
    if (!cfg.quiet || cfg.abort_on_error) std::fprintf(stderr, "[simad-emu] error: %s\n", message.c_str());
    if (cfg.abort_on_error) std::abort();
  }
  void warn_once(const std::string& message) {
    if (cfg.quiet || warned.exchange(true)) return;
    std::fprintf(stderr, "[simad-emu] warning: %s\n", message.c_str());
  }
};

// Registered literal `extern __shared__` arrays (SIMAD_DEFINE_EXTERN_SHARED): poisoned per block.
using ExternSharedGetter = void* (*)();
inline std::vector<ExternSharedGetter>& extern_shared_registry() {
  static std::vector<ExternSharedGetter> r;
  return r;
}
inline bool register_extern_shared(ExternSharedGetter get) {
  extern_shared_registry().push_back(get);
  return true;
}

// Runnable CUDA threads of a block. Each thread is in it at most once.
class RunQueue {
 public:
  void reset(unsigned capacity, Schedule mode, std::uint64_t seed) {
    buf_.assign(std::size_t(capacity) + 1, 0);
    head_ = count_ = 0;
    mode_ = mode;
    rng_ = seed ? seed : 0x9e3779b97f4a7c15ull;
  }
  bool empty() const { return count_ == 0; }
  void push(unsigned t) {
    std::size_t i = head_ + count_;
    if (i >= buf_.size()) i -= buf_.size();
    buf_[i] = t;
    ++count_;
  }
  unsigned pop() {
    if (mode_ == Schedule::fifo) {
      const unsigned t = buf_[head_];
      if (++head_ == buf_.size()) head_ = 0;
      --count_;
      return t;
    }
    std::size_t last = head_ + count_ - 1;
    if (last >= buf_.size()) last -= buf_.size();
    if (mode_ == Schedule::random && count_ > 1) {
      std::size_t i = head_ + std::size_t(next_random() % count_);
      if (i >= buf_.size()) i -= buf_.size();
      std::swap(buf_[i], buf_[last]);
    }
    --count_;
    return buf_[last];
  }

 private:
  std::uint64_t next_random() {  // splitmix64
    std::uint64_t z = (rng_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  std::vector<unsigned> buf_;
  std::size_t head_ = 0, count_ = 0;
  Schedule mode_ = Schedule::fifo;
  std::uint64_t rng_ = 0;
};

class Worker;
inline thread_local Worker* tl_worker = nullptr;         // the worker of this OS thread while it runs a grid
inline thread_local ThreadState* tl_thread = nullptr;    // the CUDA thread running on this OS thread
inline thread_local unsigned char* tl_dynamic_smem = nullptr;

[[noreturn]] inline void outside_kernel(const char* what) {
  throw ::simad::Error(::simad::detail::concat("simad SIMT emulator: ", what, " called outside a kernel"));
}

// A worker: runs blocks, one at a time, each CUDA thread on one of its fibers.
class Worker {
 public:
  Worker() = default;
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  ~Worker() { ::operator delete(smem_, std::align_val_t(256)); }

  // Claims and runs blocks of `job` until none are left or the launch has failed.
  void work(Job& job) {
    Worker* const saved = tl_worker;
    tl_worker = this;
    job_ = &job;
    for (;;) {
      if (job.failed.load(std::memory_order_relaxed)) break;
      const std::uint64_t b = job.next.fetch_add(1);
      if (b >= job.nblocks) break;
      run_block(b);
    }
    tl_thread = nullptr;
    tl_dynamic_smem = nullptr;
    job_ = nullptr;
    tl_worker = saved;
  }

  // ---- called by the running CUDA thread (inside one of this worker's fibers) ----

  int barrier(BarrierKind kind, int predicate, Site site) {
    ThreadState& me = *tl_thread;
    if (cancelling_) throw Cancelled{};
    if (bar_.arrived == 0) {
      bar_.site = site;
      bar_.kind = kind;
      bar_.first = me.linear;
    } else if (bar_.kind != kind || !same_site(bar_.site, site)) {
      const std::string msg = cat("threads meet at different barriers: thread ", xyz(threads_[bar_.first].idx), " at ",
                                  where(bar_.site), ", thread ", xyz(me.idx), " at ", where(site));
      if (job_->cfg.strict_barriers) fail_here(cat(msg, " (SIMAD_EMU_STRICT_BARRIERS)"));
      job_->warn_once(cat(block_prefix(), msg));
    }
    ++bar_.arrived;
    if (predicate) ++bar_.count;
    me.wait = site;
    if (barrier_complete()) {
      release_barrier();
      maybe_yield(me);
    } else {
      me.status = Status::barrier;
      bar_.waiters.push_back(me.linear);
      fibers_[me.linear]->suspend();
      if (cancelling_) throw Cancelled{};
    }
    switch (kind) {
      case BarrierKind::count: return me.bar_count;
      case BarrierKind::all: return me.bar_count == me.bar_arrived ? 1 : 0;
      case BarrierKind::any: return me.bar_count > 0 ? 1 : 0;
      case BarrierKind::plain: break;
    }
    return 0;
  }

  std::uint64_t warp_exchange(WarpKind kind, std::uint32_t mask, std::uint64_t value, int arg, int width,
                              unsigned size, Site site) {
    ThreadState& me = *tl_thread;
    if (cancelling_) throw Cancelled{};
    WarpState& w = warps_[me.warp];
    const std::uint32_t bit = 1u << me.lane;
    if (!(mask & bit))
      fail_here(cat(where(site), ": thread ", xyz(me.idx), " (warp ", me.warp, ", lane ", me.lane, ") calls it with mask ",
                    hex(mask), ", which does not include its own lane"));
    if (kind >= WarpKind::shfl_idx && (width < 1 || width > 32 || (width & (width - 1)) != 0))
      fail_here(cat(where(site), ": width ", width, " is not a power of two between 1 and 32"));
    // Join the pending operation with the same mask (this lane cannot have arrived at it yet).
    WarpOp* op = nullptr;
    for (unsigned i = 0; i < w.nops; ++i) {
      if (w.ops[i].mask == mask) {
        op = &w.ops[i];
        break;
      }
    }
    if (op) {
      if (op->kind != kind || op->width != width || op->size != size)
        fail_here(cat("lanes of warp ", me.warp, " disagree: ", where(op->site), describe_op(*op), " vs thread ", xyz(me.idx),
                      " (lane ", me.lane, ") at ", where(site), describe_op(WarpOp{mask, 0, kind, width, size, site})));
    } else {
      op = &w.ops[w.nops++];
      *op = WarpOp{mask, 0, kind, width, size, site};
    }
    me.w_value = value;
    me.w_arg = arg;
    me.wait = site;
    op->arrived |= bit;
    if (warp_op_complete(*op, w)) {
      complete_warp_op(unsigned(op - w.ops.data()), me.warp);
      if (cancelling_) throw Cancelled{};
      maybe_yield(me);
    } else {
      me.status = Status::warp;
      fibers_[me.linear]->suspend();
      if (cancelling_) throw Cancelled{};
    }
    return me.w_result;
  }

  std::uint32_t active_mask() const {
    const WarpState& w = warps_[tl_thread->warp];
    return w.exists & ~w.exited;
  }

  // An error in the running CUDA thread: records it (the block fails) and unwinds the thread.
  [[noreturn]] void fail_here(const std::string& message) {
    fail(message);
    throw Cancelled{};
  }

 private:
  std::string block_prefix() const {
    return cat("kernel '", job_->kernel.name(), "' block ", xyz(block_idx_), ": ");
  }

  // Records the block's first error and starts cancelling it.
  void fail(const std::string& message) {
    if (cancelling_) return;
    cancelling_ = true;
    job_->record_error(cat(block_prefix(), message));
  }

  static std::string describe_op(const WarpOp& o) {
    if (o.kind >= WarpKind::shfl_idx) return cat(" (mask ", hex(o.mask), ", width ", o.width, ", ", o.size, "-byte value)");
    return cat(" (mask ", hex(o.mask), ")");
  }

  bool barrier_complete() const {
    return job_->cfg.strict_barriers ? bar_.arrived == n_ : bar_.arrived + done_ == n_;
  }

  void release_barrier() {
    const int count = int(bar_.count), arrived = int(bar_.arrived);
    for (unsigned t : bar_.waiters) {
      ThreadState& ts = threads_[t];
      ts.bar_count = count;
      ts.bar_arrived = arrived;
      ts.status = Status::ready;
      queue_.push(t);
    }
    if (tl_thread && tl_thread->status == Status::running) {
      tl_thread->bar_count = count;
      tl_thread->bar_arrived = arrived;
    }
    bar_.waiters.clear();
    bar_.arrived = bar_.count = 0;
  }

  static bool warp_op_complete(const WarpOp& o, const WarpState& w) {
    return (o.mask & w.exists & ~w.exited) == o.arrived;
  }

  // Source lane of a shuffle, exactly as PTX shfl.sync computes it (own lane when out of the segment).
  static unsigned shuffle_source(WarpKind kind, unsigned lane, int arg, int width) {
    const int b = arg & 31;
    const int segmask = (32 - width) & 31;  // c[12:8] of the shfl instruction
    const int l = int(lane);
    const int min_lane = l & segmask;
    const int max_lane = kind == WarpKind::shfl_up ? min_lane : (min_lane | (31 & ~segmask));
    int j = l;
    bool ok = true;
    switch (kind) {
      case WarpKind::shfl_up: j = l - b; ok = j >= max_lane; break;
      case WarpKind::shfl_down: j = l + b; ok = j <= max_lane; break;
      case WarpKind::shfl_xor: j = l ^ b; ok = j <= max_lane; break;
      default: j = min_lane | (b & ~segmask); ok = j <= max_lane; break;
    }
    return ok ? unsigned(j) : lane;
  }

  // Computes every participating lane's result, wakes the waiting lanes and removes the operation.
  void complete_warp_op(unsigned index, unsigned warp) {
    WarpState& w = warps_[warp];
    const WarpOp op = w.ops[index];
    w.ops[index] = w.ops[--w.nops];
    const std::uint32_t part = op.arrived;
    ThreadState* lanes = &threads_[std::size_t(warp) * 32];
    std::uint32_t ballot = 0;
    for (unsigned l = 0; l < 32; ++l)
      if ((part >> l & 1u) && lanes[l].w_value != 0) ballot |= 1u << l;
    for (unsigned l = 0; l < 32; ++l) {
      if (!(part >> l & 1u)) continue;
      ThreadState& ts = lanes[l];
      switch (op.kind) {
        case WarpKind::sync: ts.w_result = 0; break;
        case WarpKind::ballot: ts.w_result = ballot; break;
        case WarpKind::any: ts.w_result = ballot != 0; break;
        case WarpKind::all: ts.w_result = ballot == part; break;
        default: {
          const unsigned j = shuffle_source(op.kind, l, ts.w_arg, op.width);
          if (!(part >> j & 1u)) {
            std::string why;
            if (!(w.exists >> j & 1u))
              why = cat("which does not exist (the block has ", n_, " threads)");
            else if (w.exited >> j & 1u)
              why = "which has exited";
            else
              why = cat("which is not in the mask ", hex(op.mask));
            fail(cat(where(op.site), ": thread ", xyz(ts.idx), " (warp ", warp, ", lane ", l, ") reads lane ", j, ", ", why));
            return;
          }
          ts.w_result = lanes[j].w_value;
        }
      }
    }
    for (unsigned l = 0; l < 32; ++l) {
      if (!(part >> l & 1u) || lanes[l].status != Status::warp) continue;
      lanes[l].status = Status::ready;
      queue_.push(lanes[l].linear);
    }
  }

  // Random schedule: the thread that released others goes back into the queue instead of continuing.
  void maybe_yield(ThreadState& me) {
    if (job_->cfg.schedule != Schedule::random) return;
    me.status = Status::ready;
    queue_.push(me.linear);
    fibers_[me.linear]->suspend();
    if (cancelling_) throw Cancelled{};
  }

  void thread_exit(ThreadState& me) {
    me.status = Status::done;
    me.async_copies.clear();  // copies never waited for: nothing may read them
    ++done_;
    WarpState& w = warps_[me.warp];
    const std::uint32_t bit = 1u << me.lane;
    w.exited |= bit;
    if (cancelling_) return;
    for (unsigned i = 0; i < w.nops;) {
      if (!(w.ops[i].mask & bit) || !warp_op_complete(w.ops[i], w)) {
        ++i;
        continue;
      }
      complete_warp_op(i, me.warp);  // removes ops[i]
      if (cancelling_) return;
    }
    if (!job_->cfg.strict_barriers && bar_.arrived > 0 && bar_.arrived + done_ == n_) release_barrier();
  }

  static void fiber_body(Fiber& f) {
    auto& self = *static_cast<Worker*>(f.user());
    for (;;) {
      if (!self.cancelling_) {
        try {
          self.job_->body(self.job_->args);
        } catch (const Cancelled&) {
        } catch (const std::exception& e) {
          self.fail(cat("thread ", xyz(self.threads_[f.index()].idx), " threw an exception: ", e.what()));
        } catch (...) {
          self.fail(cat("thread ", xyz(self.threads_[f.index()].idx), " threw an exception (not a std::exception)"));
        }
      }
      self.thread_exit(self.threads_[f.index()]);
      f.suspend();
    }
  }

  void resume(unsigned t) {
    ThreadState& ts = threads_[t];
    ts.status = Status::running;
    ::threadIdx = ts.idx;
    tl_thread = &ts;
    fibers_[t]->resume();
  }

  void report_deadlock() {
    struct Group {
      Site site;
      unsigned count = 0;
      std::string sample;
    };
    std::vector<Group> groups;
    unsigned waiting = 0;
    for (const ThreadState& ts : threads_) {
      if (ts.status == Status::done) continue;
      ++waiting;
      auto it = std::find_if(groups.begin(), groups.end(), [&](const Group& g) { return same_site(g.site, ts.wait); });
      if (it == groups.end()) it = groups.insert(groups.end(), Group{ts.wait, 0, {}});
      if (++it->count <= 4) {
        if (it->count > 1) it->sample += ' ';
        it->sample += xyz(ts.idx);
      }
    }
    std::ostringstream os;
    os << "deadlock: " << done_ << " of " << n_ << " threads finished, " << waiting << " wait forever:";
    for (const Group& g : groups) {
      os << " " << g.count << (g.count == 1 ? " thread waits in " : " threads wait in ") << where(g.site) << " ("
         << g.sample << (g.count > 4 ? " ...)" : ")") << ";";
    }
    for (unsigned wi = 0; wi < warps_.size(); ++wi) {
      for (unsigned i = 0; i < warps_[wi].nops; ++i) {
        const WarpOp& o = warps_[wi].ops[i];
        const std::uint32_t missing = o.mask & warps_[wi].exists & ~warps_[wi].exited & ~o.arrived;
        os << " warp " << wi << ": " << where(o.site) << " with mask " << hex(o.mask) << " waits for lanes "
           << hex(missing) << ";";
      }
    }
    if (job_->cfg.strict_barriers && done_ > 0 && bar_.arrived > 0)
      os << " (SIMAD_EMU_STRICT_BARRIERS=1: threads that exited do not count as arrived at __syncthreads)";
    fail(os.str());
  }

  void run_block(std::uint64_t b) {
    Job& job = *job_;
    const unsigned n = job.nthreads;
    while (fibers_.size() < n)
      fibers_.push_back(std::make_unique<Fiber>(sched_, job.cfg.stack_bytes, unsigned(fibers_.size()), &Worker::fiber_body, this));
    n_ = n;
    done_ = 0;
    cancelling_ = false;
    threads_.resize(n);
    const unsigned bx = job.block.x, bxy = job.block.x * job.block.y;
    for (unsigned t = 0; t < n; ++t) {
      ThreadState& ts = threads_[t];
      ts = ThreadState{};
      ts.idx = uint3{t % bx, (t / bx) % job.block.y, t / bxy};
      ts.linear = t;
      ts.lane = t % 32;
      ts.warp = t / 32;
    }
    warps_.resize(job.nwarps);
    for (unsigned wi = 0; wi < job.nwarps; ++wi) {
      const unsigned lanes = std::min(32u, n - wi * 32);
      warps_[wi].exited = 0;
      warps_[wi].nops = 0;
      warps_[wi].exists = lanes == 32 ? 0xffffffffu : ((1u << lanes) - 1u);
    }
    bar_.arrived = bar_.count = 0;
    bar_.waiters.clear();
    const std::uint64_t gx = job.grid.x, gxy = std::uint64_t(job.grid.x) * job.grid.y;
    block_idx_ = uint3{unsigned(b % gx), unsigned((b / gx) % job.grid.y), unsigned(b / gxy)};
    ::blockIdx = block_idx_;
    ::blockDim = job.block;
    ::gridDim = job.grid;

    // Dynamic shared memory: a buffer of exactly smem bytes (so ASan sees overruns), NaN-poisoned.
    if (job.smem != smem_size_ || !smem_) {
      ::operator delete(smem_, std::align_val_t(256));
      smem_ = nullptr;
      smem_ = static_cast<unsigned char*>(::operator new(job.smem, std::align_val_t(256)));
      smem_size_ = job.smem;
    }
    if (job.cfg.poison && job.smem) std::memset(smem_, 0xff, job.smem);
    tl_dynamic_smem = smem_;
    if (job.cfg.poison && job.smem)
      for (ExternSharedGetter get : extern_shared_registry()) std::memset(get(), 0xff, job.smem);

    std::uint64_t seed = job.cfg.seed ^ (job.launch_no * 0x9e3779b97f4a7c15ull) ^ (b * 0xc2b2ae3d27d4eb4full);
    queue_.reset(n, job.cfg.schedule, seed);
    if (job.cfg.schedule == Schedule::lifo)
      for (unsigned t = n; t-- > 0;) queue_.push(t);
    else
      for (unsigned t = 0; t < n; ++t) queue_.push(t);

    for (int pass = 0;; ++pass) {
      while (!queue_.empty()) resume(queue_.pop());
      if (done_ == n) break;
      if (!cancelling_) report_deadlock();
      if (pass < 2) {
        // Unwind every unfinished thread: it throws Cancelled at its sync point.
        for (unsigned t = 0; t < n; ++t)
          if (threads_[t].status != Status::done) resume(t);
      } else {
        // A thread that would not unwind (it caught Cancelled?): abandon its frames.
        for (unsigned t = 0; t < n; ++t) {
          if (threads_[t].status == Status::done) continue;
          fibers_[t]->reset();
          threads_[t].status = Status::done;
          ++done_;
        }
      }
    }
    tl_thread = nullptr;
  }

  SchedulerContext sched_;
  std::vector<std::unique_ptr<Fiber>> fibers_;
  std::vector<ThreadState> threads_;
  std::vector<WarpState> warps_;
  BarrierState bar_;
  RunQueue queue_;
  Job* job_ = nullptr;
  uint3 block_idx_{0, 0, 0};
  unsigned n_ = 0, done_ = 0;
  bool cancelling_ = false;
  unsigned char* smem_ = nullptr;
  std::size_t smem_size_ = 0;
};

// The worker threads besides the launching one. Started on the first multi-block launch.
class Pool {
 public:
  Pool() = default;
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;
  ~Pool() {
    {
      std::lock_guard lock(m_);
      stop_ = true;
    }
    cv_work_.notify_all();
    for (std::thread& t : threads_) t.join();
  }

  // Runs `job` on the calling thread's worker plus up to `helpers` pool threads; returns when done.
  void run(Job& job, unsigned helpers, Worker& self) {
    if (helpers) {
      std::lock_guard lock(m_);
      while (threads_.size() < helpers) threads_.emplace_back([this] { thread_main(); });
      job_ = &job;
      wanted_ = helpers;
      ++generation_;
    }
    if (helpers) cv_work_.notify_all();
    self.work(job);
    if (helpers) {
      std::unique_lock lock(m_);
      wanted_ = 0;  // helpers that have not woken up yet are not needed any more
      cv_idle_.wait(lock, [&] { return active_ == 0; });
      job_ = nullptr;
    }
  }

 private:
  void thread_main() {
    Worker worker;
    std::uint64_t seen = 0;
    std::unique_lock lock(m_);
    for (;;) {
      cv_work_.wait(lock, [&] { return stop_ || (generation_ != seen && wanted_ > 0); });
      if (stop_) return;
      seen = generation_;
      --wanted_;
      ++active_;
      Job* job = job_;
      lock.unlock();
      worker.work(*job);
      lock.lock();
      if (--active_ == 0) cv_idle_.notify_all();
    }
  }

  std::mutex m_;
  std::condition_variable cv_work_, cv_idle_;
  std::vector<std::thread> threads_;
  Job* job_ = nullptr;
  unsigned wanted_ = 0, active_ = 0;
  std::uint64_t generation_ = 0;
  bool stop_ = false;
};

// Process-wide emulator state: one launch at a time, the worker pool, the sticky error.
struct Emulator {
  std::mutex launch_mutex;
  Pool pool;
  std::uint64_t launches = 0;
  std::mutex state_mutex;
  std::atomic<int> sticky{0};  // a cudaError_t; 0 = none
  std::string last_errors;
};

inline Emulator& emulator() {
  static Emulator e;
  return e;
}

inline Worker& caller_worker() {
  static thread_local Worker w;
  return w;
}

inline cudaError_t sticky_error() { return cudaError_t(emulator().sticky.load()); }

// cudaGetLastError's error: per host thread, as in CUDA.
inline thread_local cudaError_t tl_last_error = cudaSuccess;

// Runs every block of `job` (the launch configuration has been validated). Kernel-side errors make the
// launch fail: they are printed, kept for last_kernel_errors(), and set the sticky error.
inline void run_grid(Job& job) {
  if (tl_thread) throw ::simad::Error("simad SIMT emulator: a kernel cannot launch kernels (dynamic parallelism)");
  Emulator& emu = emulator();
  std::lock_guard lock(emu.launch_mutex);
  job.launch_no = ++emu.launches;
  job.nthreads = job.block.x * job.block.y * job.block.z;
  job.nwarps = (job.nthreads + 31) / 32;
  job.nblocks = std::uint64_t(job.grid.x) * job.grid.y * job.grid.z;
  unsigned workers = job.cfg.workers;
#if defined(SIMAD_EMU_SHARED_AS_STATIC)
  workers = 1;
#endif
  const unsigned helpers = unsigned(std::min<std::uint64_t>(workers ? workers : 1, job.nblocks) - 1);
  emu.pool.run(job, helpers, caller_worker());
  if (job.failed.load()) {
    std::lock_guard state(emu.state_mutex);
    emu.last_errors.clear();
    for (const std::string& e : job.errors) emu.last_errors += cat(e, "\n");
    if (job.dropped) emu.last_errors += cat("(", job.dropped, " more errors)\n");
    emu.sticky.store(int(cudaErrorLaunchFailure));
  }
}

inline Worker& current_worker(const char* what) {
  if (!tl_thread) outside_kernel(what);
  return *tl_worker;
}

}  // namespace detail

// The messages of the last failed launch ("kernel 'k' block (x,y,z): ...", one a line); empty if none.
inline std::string last_kernel_errors() {
  auto& emu = detail::emulator();
  std::lock_guard lock(emu.state_mutex);
  return emu.last_errors;
}

// Clears the sticky kernel error (and its messages) without what cudaDeviceReset also does (free all
// allocations, streams and events). Emulator only: on a GPU a sticky error needs cudaDeviceReset.
inline void clear_kernel_error() {
  auto& emu = detail::emulator();
  std::lock_guard launch(emu.launch_mutex);
  std::lock_guard state(emu.state_mutex);
  emu.sticky.store(0);
  emu.last_errors.clear();
  detail::tl_last_error = cudaSuccess;
}

}  // namespace simad::cuda::emu
