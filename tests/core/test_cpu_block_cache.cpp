// Tests of include/simad/core/cpu_block_cache.hpp: freed large blocks come back for the same size (and
// only for it), the limit holds with the oldest blocks given back first, small blocks are never kept,
// two threads never get one block at once, and tensors use the process's cache.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "simad/core/cpu_block_cache.hpp"
#include "simad/core/tensor.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

using namespace simad;

constexpr size_t MiB = size_t(1) << 20;

bool aligned64(const void* p) { return reinterpret_cast<uintptr_t>(p) % 64 == 0; }

TEST_CASE("core/cpu_block_cache: a freed block comes back for its size and only for it") {
  auto rng = testing::test_rng();
  CpuBlockCache cache(64 * MiB);
  // Sizes a few bytes off a page boundary share the rounded block; others do not.
  const size_t base = CpuBlockCache::kMinBytes + size_t(rng.next_uniform(0, 8)) * 4096 + 1;
  void* a = cache.allocate(base);
  CHECK(aligned64(a));
  std::memset(a, 0x5a, base);  // the whole request is writable
  cache.deallocate(a, base);
  CHECK(cache.stats().cached_blocks == 1);
  CHECK(cache.stats().cached_bytes == CpuBlockCache::rounded(base));
  CHECK(cache.stats().cached_bytes % 4096 == 0);

  void* other = cache.allocate(base + 4096);  // the next page count: not this block
  CHECK(other != a);
  CHECK(cache.stats().misses == 2);
  CHECK(cache.stats().hits == 0);
  void* same = cache.allocate(base + 100);  // the same page count: this block
  CHECK(same == a);
  CHECK(cache.stats().hits == 1);
  CHECK(cache.stats().cached_blocks == 0);
  CHECK(cache.stats().cached_bytes == 0);
  cache.deallocate(same, base + 100);
  cache.deallocate(other, base + 4096);
  CHECK(cache.stats().cached_blocks == 2);

  // Two blocks of one size: the one returned last comes first (its pages are the warmest).
  void* x = cache.allocate(2 * MiB);
  void* y = cache.allocate(2 * MiB);
  cache.deallocate(x, 2 * MiB);
  cache.deallocate(y, 2 * MiB);
  CHECK(cache.allocate(2 * MiB) == y);
  CHECK(cache.allocate(2 * MiB) == x);
  cache.deallocate(x, 2 * MiB);
  cache.deallocate(y, 2 * MiB);
  cache.release();
  CHECK(cache.stats().cached_blocks == 0);
  CHECK(cache.stats().cached_bytes == 0);
}

TEST_CASE("core/cpu_block_cache: small blocks go to the heap, zero bytes is a valid request") {
  CpuBlockCache cache(64 * MiB);
  for (size_t bytes : {size_t(0), size_t(1), size_t(4096), CpuBlockCache::kMinBytes - 1}) {
    CAPTURE(bytes);
    void* p = cache.allocate(bytes);
    REQUIRE(p != nullptr);
    CHECK(aligned64(p));
    cache.deallocate(p, bytes);
    CHECK(cache.stats().cached_blocks == 0);
  }
  CHECK(cache.stats().hits + cache.stats().misses == 0);  // small requests are not counted either
  cache.deallocate(nullptr, 4 * MiB);          // freeing null does nothing
  CHECK(cache.stats().cached_blocks == 0);
}

TEST_CASE("core/cpu_block_cache: the limit holds and the oldest blocks go first") {
  CpuBlockCache cache(5 * MiB / 2);  // room for two 1 MiB blocks
  void* a = cache.allocate(MiB);
  void* b = cache.allocate(MiB);
  void* c = cache.allocate(MiB);
  cache.deallocate(a, MiB);
  cache.deallocate(b, MiB);
  cache.deallocate(c, MiB);  // a, the oldest, is freed to make room
  CHECK(cache.stats().cached_blocks == 2);
  CHECK(cache.stats().cached_bytes == 2 * MiB);
  CHECK(cache.allocate(MiB) == c);
  CHECK(cache.allocate(MiB) == b);
  CHECK(cache.stats().cached_blocks == 0);
  cache.deallocate(b, MiB);
  cache.deallocate(c, MiB);

  // A block larger than the limit is never kept, and does not push the others out.
  void* big = cache.allocate(3 * MiB);
  cache.deallocate(big, 3 * MiB);
  CHECK(cache.stats().cached_blocks == 2);
  CHECK(cache.stats().cached_bytes == 2 * MiB);

  // A lower limit frees the oldest now; 0 keeps nothing from then on.
  cache.set_limit(MiB + 4096);
  CHECK(cache.limit() == MiB + 4096);
  CHECK(cache.stats().cached_blocks == 1);
  CHECK(cache.allocate(MiB) == c);
  cache.set_limit(0);
  cache.deallocate(c, MiB);
  CHECK(cache.stats().cached_blocks == 0);
  CHECK(cache.stats().cached_bytes == 0);
}

TEST_CASE("core/cpu_block_cache: two threads never hold one block at once") {
  CpuBlockCache cache(16 * MiB);
  constexpr int kRounds = 300;
  std::vector<std::thread> threads;
  std::vector<int> failures(2, 0);
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&, t] {
      Rng rng = testing::test_rng().substream(uint64_t(t));
      std::vector<std::pair<uint32_t*, size_t>> held;
      for (int round = 0; round < kRounds; ++round) {
        if (held.size() < 4 && rng.next_float() < 0.6f) {
          // Three sizes, so blocks move between the threads through the cache.
          const size_t bytes = (size_t(1) << 18) * (1 + size_t(rng.next_uniform(0, 3)));
          auto* p = static_cast<uint32_t*>(cache.allocate(bytes));
          // A stamp over the whole block: another owner writing it would change it.
          const uint32_t stamp = uint32_t(t * 1000003 + round);
          for (size_t k = 0; k < bytes / 4; k += 1021) p[k] = stamp;
          p[bytes / 4 - 1] = stamp;
          held.push_back({p, bytes});
        } else if (!held.empty()) {
          const size_t pick = size_t(rng.next_uniform(0, double(held.size())));
          auto [p, bytes] = held[pick];
          const uint32_t stamp = p[0];
          for (size_t k = 0; k < bytes / 4; k += 1021) failures[size_t(t)] += p[k] != stamp;
          failures[size_t(t)] += p[bytes / 4 - 1] != stamp;
          cache.deallocate(p, bytes);
          held.erase(held.begin() + std::ptrdiff_t(pick));
        }
      }
      for (auto [p, bytes] : held) cache.deallocate(p, bytes);
    });
  for (auto& th : threads) th.join();
  CHECK(failures[0] == 0);
  CHECK(failures[1] == 0);
  CHECK(cache.stats().hits > 0);  // blocks were reused, so the test exercised the cache
  CHECK(cache.stats().cached_bytes <= 16 * MiB);
}

TEST_CASE("core/cpu_block_cache: the limit from SIMAD_CPU_CACHE_MB") {
  const char* old = std::getenv("SIMAD_CPU_CACHE_MB");
  const std::string saved = old ? old : "";
  ::setenv("SIMAD_CPU_CACHE_MB", "37", 1);
  CHECK(CpuBlockCache::limit_from_environment() == 37 * MiB);
  ::setenv("SIMAD_CPU_CACHE_MB", "0", 1);
  CHECK(CpuBlockCache::limit_from_environment() == 0);
  for (const char* bad : {"", "12x", "-3", "abc", "99999999999"}) {
    CAPTURE(bad);
    ::setenv("SIMAD_CPU_CACHE_MB", bad, 1);
    CHECK(CpuBlockCache::limit_from_environment() == CpuBlockCache::kDefaultLimitBytes);
  }
  if (old) ::setenv("SIMAD_CPU_CACHE_MB", saved.c_str(), 1);
  else ::unsetenv("SIMAD_CPU_CACHE_MB");
}

TEST_CASE("core/cpu_block_cache: tensors return their blocks to the process's cache") {
  CpuBlockCache& cache = CpuBlockCache::instance();
  const size_t limit = cache.limit();
  cache.set_limit(64 * MiB);  // on, even in builds where it starts off (AddressSanitizer)
  auto rng = testing::test_rng();
  const int64_t n = int64_t(MiB / sizeof(float)) + int64_t(rng.next_uniform(1, 1000));
  const float* first = nullptr;
  {
    Tensor<float> t = Tensor<float>::empty({n});
    first = t.data();
    rng.fill_uniform(t.span(), -1.0, 1.0);
  }
  const uint64_t hits = cache.stats().hits;
  {
    Tensor<float> u = Tensor<float>::empty({n});
    CHECK(u.data() == first);  // the block the last tensor gave back
    CHECK(cache.stats().hits == hits + 1);
    // A view keeps the block alive: it goes back only with the last handle.
    Tensor<float> view = u.slice(0, 1);
    u = Tensor<float>();
    Tensor<float> w = Tensor<float>::empty({n});
    CHECK(w.data() != first);
    CHECK(view.data() == first);
  }
  cache.set_limit(limit);
}

}  // namespace SIMAD_TEST_FILE_ID
