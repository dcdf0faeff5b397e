// simad/core/cpu_block_cache.hpp: large CPU blocks freed by tensors, kept for the next allocation of
// the same size.
//
// Why: a network's forward allocates each layer's output anew and frees it when the last reader is
// done. glibc hands blocks of this size back to the kernel (mmap, or trimming the heap) and the next
// forward touches fresh pages: one page fault per 4 KiB, about 5% of yolov3-tiny's CPU forward. A forward
// asks for the same sizes in the same order every time, so keeping the freed blocks by size makes the
// second forward allocate nothing new. Small blocks (below kMinBytes) go straight to the heap, which
// reuses them already.
//
// Bounded: at most limit() bytes are kept (oldest given back first); SIMAD_CPU_CACHE_MB sets the
// limit at start (0 turns the cache off; builds with AddressSanitizer start with 0), set_limit() at run
// time, release() gives everything back.
// Thread-safe (one mutex; it is taken once per large allocation, next to megabytes of work).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <new>
#include <vector>

namespace simad {

class CpuBlockCache {
 public:
  static constexpr size_t kAlignment = 64;         // a cache line, an AVX-512 vector
  static constexpr size_t kMinBytes = size_t(1) << 18;  // 256 KiB: smaller blocks stay on the heap
#if defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer sees a tensor used after it is freed only if the block really is freed.
  static constexpr size_t kDefaultLimitBytes = 0;
#else
  static constexpr size_t kDefaultLimitBytes = size_t(512) << 20;
#endif

  // The process's cache (Tensor's CPU allocator uses it). Never destroyed: tensors with static storage
  // may be freed after it would have been.
  static CpuBlockCache& instance() {
    static CpuBlockCache* cache = new CpuBlockCache(limit_from_environment());
    return *cache;
  }

  explicit CpuBlockCache(size_t limit_bytes = kDefaultLimitBytes) : limit_(limit_bytes) {}
  ~CpuBlockCache() { release(); }
  CpuBlockCache(const CpuBlockCache&) = delete;
  CpuBlockCache& operator=(const CpuBlockCache&) = delete;

  // 64-byte aligned, never null (throws std::bad_alloc as operator new does). bytes == 0 is allowed.
  void* allocate(size_t bytes) {
    if (bytes < kMinBytes) return ::operator new(bytes == 0 ? 1 : bytes, std::align_val_t{kAlignment});
    const size_t size = rounded(bytes);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      // The most recently returned block of this size: its pages are the likeliest still in cache.
      for (size_t i = blocks_.size(); i-- > 0;)
        if (blocks_[i].bytes == size) {
          void* p = blocks_[i].data;
          blocks_.erase(blocks_.begin() + std::ptrdiff_t(i));
          cached_bytes_ -= size;
          ++hits_;
          return p;
        }
      ++misses_;
    }
    return ::operator new(size, std::align_val_t{kAlignment});
  }

  // bytes: what was passed to allocate() for p.
  void deallocate(void* p, size_t bytes) noexcept {
    if (p == nullptr) return;
    if (bytes < kMinBytes) return ::operator delete(p, std::align_val_t{kAlignment});
    const size_t size = rounded(bytes);
    std::vector<void*> evicted;
    bool kept = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (size <= limit_) {
        try {
          evict_until_locked(limit_ - size, evicted);
          blocks_.push_back({p, size});
          cached_bytes_ += size;
          kept = true;
        } catch (...) {  // a list could not grow: free the block instead (the cache stays consistent)
        }
      }
    }
    if (!kept) ::operator delete(p, std::align_val_t{kAlignment});
    free_blocks(evicted);
  }

  // Keep at most limit_bytes from now on (0: keep nothing); blocks over it are freed now.
  void set_limit(size_t limit_bytes) {
    std::vector<void*> evicted;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      limit_ = limit_bytes;
      evict_until_locked(limit_, evicted);
    }
    free_blocks(evicted);
  }
  // Frees every kept block (the limit stays).
  void release() {
    std::vector<void*> evicted;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      evict_until_locked(0, evicted);
    }
    free_blocks(evicted);
  }

  // A consistent snapshot of the cache's state and counters.
  struct Stats {
    size_t limit = 0;          // bytes it may keep
    size_t cached_bytes = 0;   // bytes it keeps now
    size_t cached_blocks = 0;  // blocks it keeps now
    uint64_t hits = 0;         // large allocations served from it
    uint64_t misses = 0;       // large allocations that went to the heap
  };
  Stats stats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return {limit_, cached_bytes_, blocks_.size(), hits_, misses_};
  }
  size_t limit() const { return stats().limit; }

  // Whole pages, so requests a few bytes apart share blocks.
  static size_t rounded(size_t bytes) { return (bytes + 4095) & ~size_t(4095); }

  static size_t limit_from_environment() {
    const char* s = std::getenv("SIMAD_CPU_CACHE_MB");
    if (s == nullptr || *s == '\0') return kDefaultLimitBytes;
    char* end = nullptr;
    const unsigned long long mb = std::strtoull(s, &end, 10);
    // Not a number: the default (an allocator cannot report errors well; the README documents the variable).
    if (end == s || *end != '\0' || mb > (uint64_t(1) << 24)) return kDefaultLimitBytes;
    return size_t(mb) << 20;
  }

 private:
  struct Block {
    void* data;
    size_t bytes;
  };

  // Outside the lock: freeing can take a while (munmap) and needs no state of ours.
  static void free_blocks(const std::vector<void*>& blocks) noexcept {
    for (void* q : blocks) ::operator delete(q, std::align_val_t{kAlignment});
  }

  // Oldest first, until at most keep bytes remain; the freed pointers go to evicted (freed unlocked).
  void evict_until_locked(size_t keep, std::vector<void*>& evicted) {
    size_t drop = 0;
    size_t bytes = cached_bytes_;
    while (drop < blocks_.size() && bytes > keep) bytes -= blocks_[drop++].bytes;
    if (drop == 0) return;
    evicted.reserve(evicted.size() + drop);
    for (size_t i = 0; i < drop; ++i) evicted.push_back(blocks_[i].data);
    blocks_.erase(blocks_.begin(), blocks_.begin() + std::ptrdiff_t(drop));
    cached_bytes_ = bytes;
  }

  mutable std::mutex mutex_;
  std::vector<Block> blocks_;  // in the order they were returned
  size_t cached_bytes_ = 0;
  size_t limit_;
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
};

}  // namespace simad
