// tests/cuda/test_emulator.cpp: the SIMT emulator's own tests (include/simad/cuda/emu). The kernels
// live in tests/cuda/emu/*.cu, which also compile with nvcc; here they run on the CPU, and their
// results are compared with plain CPU references. Misuse must be reported, never hang.
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "emu/kernels.hpp"
#include "simad/core/error.hpp"
#include "testing.hpp"

namespace {

using namespace simad_emu_test;
namespace emu = simad::cuda::emu;

#define CUDA_OK(expr)                                                                    \
  do {                                                                                   \
    const cudaError_t cuda_ok_ = (expr);                                                 \
    REQUIRE_MESSAGE(cuda_ok_ == cudaSuccess, #expr, ": ", cudaGetErrorName(cuda_ok_)); \
  } while (0)

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// A cudaMalloc'd array; freeing ignores errors (a test may have reset the device).
template <typename T>
struct DeviceBuffer {
  T* ptr = nullptr;
  std::size_t n = 0;
  explicit DeviceBuffer(std::size_t count) : n(count) { CUDA_OK(cudaMalloc(&ptr, n * sizeof(T))); }
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) { upload(host); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { (void)cudaFree(ptr); }
  std::size_t bytes() const { return n * sizeof(T); }
  void upload(const std::vector<T>& host) { CUDA_OK(cudaMemcpy(ptr, host.data(), bytes(), cudaMemcpyHostToDevice)); }
  std::vector<T> download() const {
    std::vector<T> host(n);
    CUDA_OK(cudaMemcpy(host.data(), ptr, bytes(), cudaMemcpyDeviceToHost));
    return host;
  }
  void fill_bytes(int value) { CUDA_OK(cudaMemset(ptr, value, bytes())); }
};

// Each test starts from a clean device and restores the emulator's configuration when it ends.
struct EmulatorScope {
  emu::Config saved = emu::config();
  EmulatorScope() { CUDA_OK(cudaDeviceReset()); }
  ~EmulatorScope() {
    emu::config() = saved;
    (void)cudaDeviceReset();
  }
  // For tests that provoke kernel errors on purpose: keep stderr clean.
  static void quiet() { emu::config().quiet = true; }
};

// ---- CPU model of CUDA's shuffle rules (the documented ones, not the PTX formula the emulator uses)
int ref_shfl_idx(int lane, int src, int width) { return lane / width * width + src % width; }
int ref_shfl_up(int lane, int delta, int width) { return lane % width >= delta ? lane - delta : lane; }
int ref_shfl_down(int lane, int delta, int width) { return lane % width + delta < width ? lane + delta : lane; }
int ref_shfl_xor(int lane, int mask, int width) {
  const int j = lane ^ mask;
  return j / width > lane / width ? lane : j;  // later groups give the caller's own value
}

std::vector<double> sgemm_reference(const std::vector<float>& A, const std::vector<float>& B, int M, int N, int K) {
  std::vector<double> C(std::size_t(M) * N, 0.0);
  for (int i = 0; i < M; ++i)
    for (int k = 0; k < K; ++k)
      for (int j = 0; j < N; ++j) C[std::size_t(i) * N + j] += double(A[std::size_t(i) * K + k]) * B[std::size_t(k) * N + j];
  return C;
}

std::vector<double> softmax_reference(const std::vector<float>& x, int rows, int cols) {
  std::vector<double> y(x.size());
  for (int r = 0; r < rows; ++r) {
    const float* xr = &x[std::size_t(r) * cols];
    const double m = *std::max_element(xr, xr + cols);
    double s = 0;
    for (int c = 0; c < cols; ++c) s += std::exp(double(xr[c]) - m);
    for (int c = 0; c < cols; ++c) y[std::size_t(r) * cols + c] = std::exp(double(xr[c]) - m) / s;
  }
  return y;
}

std::vector<float> run_sgemm(int tile, const std::vector<float>& A, const std::vector<float>& B, int M, int N, int K) {
  DeviceBuffer<float> dA(A), dB(B), dC(std::size_t(M) * N);
  sgemm_tiled(tile, dA.ptr, dB.ptr, dC.ptr, M, N, K);
  CUDA_OK(cudaDeviceSynchronize());
  return dC.download();
}

std::vector<float> run_softmax(const std::vector<float>& x, int rows, int cols, int threads) {
  DeviceBuffer<float> dx(x), dy(x.size());
  softmax_rows(dx.ptr, dy.ptr, rows, cols, threads);
  CUDA_OK(cudaDeviceSynchronize());
  return dy.download();
}

// Launches that must fail with a kernel error: returns the emulator's message.
std::string expect_launch_failure() {
  CHECK(cudaDeviceSynchronize() == cudaErrorLaunchFailure);
  CHECK(cudaGetLastError() == cudaErrorLaunchFailure);
  CHECK(cudaGetLastError() == cudaErrorLaunchFailure);  // sticky
  const std::string message = emu::last_kernel_errors();
  CHECK_MESSAGE(!message.empty(), "no kernel error message");
  return message;
}

}  // namespace

// =================================================================================================
// Built-ins
// =================================================================================================

TEST_CASE("cuda/emu: threadIdx, blockIdx, blockDim and gridDim cover a 3-D grid of 3-D blocks") {
  EmulatorScope scope;
  const dim3 grid(3, 2, 2), block(4, 3, 2);
  const int threads = 4 * 3 * 2, blocks = 3 * 2 * 2;
  DeviceBuffer<unsigned> out(std::size_t(12) * threads * blocks);
  out.fill_bytes(0xff);
  write_indices(grid, block, out.ptr);
  CUDA_OK(cudaDeviceSynchronize());
  const std::vector<unsigned> o = out.download();
  int bad = 0;
  for (unsigned bz = 0; bz < 2; ++bz)
    for (unsigned by = 0; by < 2; ++by)
      for (unsigned bx = 0; bx < 3; ++bx)
        for (unsigned tz = 0; tz < 2; ++tz)
          for (unsigned ty = 0; ty < 3; ++ty)
            for (unsigned tx = 0; tx < 4; ++tx) {
              const unsigned b = bx + 3 * (by + 2 * bz), t = tx + 4 * (ty + 3 * tz);
              const unsigned* r = &o[12 * (b * 24 + t)];
              const unsigned want[12] = {tx, ty, tz, bx, by, bz, 4, 3, 2, 3, 2, 2};
              if (!std::equal(want, want + 12, r)) ++bad;
            }
  CHECK(bad == 0);
}

TEST_CASE("cuda/emu: __shfl_sync, __shfl_up_sync, __shfl_down_sync and __shfl_xor_sync follow CUDA's rules for every width") {
  EmulatorScope scope;
  const int threads = 64, n = 2 * threads;
  std::vector<int> in(n);
  for (int t = 0; t < n; ++t) in[t] = 7 * t + 1;
  DeviceBuffer<int> din(in), dout(std::size_t(4) * n);
  DeviceBuffer<float> doutf(n);
  DeviceBuffer<double> doutd(n);
  struct Params {
    int src;
    unsigned up, down;
    int xor_mask;
  };
  for (const Params p : {Params{3, 3, 5, 9}, Params{40, 1, 1, 16}, Params{0, 0, 31, 31}}) {
    for (int width : {32, 16, 8, 4, 2, 1}) {
      CAPTURE(width);
      CAPTURE(p.src);
      shuffles(threads, width, p.src, p.up, p.down, p.xor_mask, din.ptr, dout.ptr, doutf.ptr, doutd.ptr);
      CUDA_OK(cudaDeviceSynchronize());
      const std::vector<int> out = dout.download();
      const std::vector<float> outf = doutf.download();
      const std::vector<double> outd = doutd.download();
      int bad = 0;
      for (int t = 0; t < n; ++t) {
        const int lane = t % 32, base = t - lane;
        const auto v = [&](int l) { return in[base + l]; };
        bad += out[4 * t + 0] != v(ref_shfl_idx(lane, lane * 7 + p.src, width));
        bad += out[4 * t + 1] != v(ref_shfl_up(lane, int(p.up), width));
        bad += out[4 * t + 2] != v(ref_shfl_down(lane, int(p.down), width));
        bad += out[4 * t + 3] != v(ref_shfl_xor(lane, p.xor_mask, width));
        bad += outf[t] != float(v(ref_shfl_xor(lane, 1, width))) * 0.5f;
        bad += outd[t] != double(v(ref_shfl_down(lane, 1, width))) + 0.25;
      }
      CHECK(bad == 0);
    }
  }
}

TEST_CASE("cuda/emu: __ballot_sync, __any_sync, __all_sync, __activemask and __syncwarp, also in a partial warp") {
  EmulatorScope scope;
  for (int threads : {64, 48}) {
    CAPTURE(threads);
    auto rng = simad::testing::test_rng(std::uint64_t(threads));
    std::vector<int> pred(threads);
    for (int t = 0; t < threads; ++t) pred[t] = rng.next_below(3) == 0 ? 0 : int(rng.next_below(5)) + 1;
    pred[0] = 0;  // warp 0 is not all-true
    for (int t = 32; t < threads; ++t) pred[t] = 1;  // warp 1 is all-true
    DeviceBuffer<int> dpred(pred);
    DeviceBuffer<unsigned> out(std::size_t(8) * threads);
    out.fill_bytes(0xff);
    votes(threads, dpred.ptr, out.ptr);
    CUDA_OK(cudaDeviceSynchronize());
    const std::vector<unsigned> o = out.download();
    for (int t = 0; t < threads; ++t) {
      const int lane = t % 32, base = t - lane, lanes = std::min(32, threads - base);
      unsigned ballot = 0, half = 0, early = 0;
      for (int l = 0; l < lanes; ++l) {
        if (pred[base + l]) ballot |= 1u << l;
        if (pred[base + l] && (l < 16) == (lane < 16)) half |= 1u << l;
        if (l < 24) early |= 1u << l;
      }
      const unsigned all = lanes == 32 ? 0xffffffffu : (1u << lanes) - 1u;
      CAPTURE(t);
      CHECK(o[8 * t + 0] == ballot);
      CHECK(o[8 * t + 1] == unsigned(ballot != 0));
      CHECK(o[8 * t + 2] == unsigned(ballot == all));
      CHECK(o[8 * t + 3] == half);
      if (lane < 24) {
        CHECK(o[8 * t + 4] == early);
        CHECK(o[8 * t + 5] == 1u);
        CHECK(o[8 * t + 6] == early);
        CHECK(o[8 * t + 7] == 1u);
      } else {
        CHECK(o[8 * t + 4] == 0xffffffffu);  // exited before writing
      }
    }
  }
}

TEST_CASE("cuda/emu: __syncthreads_count, _and and _or, exited threads are not counted") {
  EmulatorScope scope;
  for (int exit_from : {96, 50, 1}) {
    CAPTURE(exit_from);
    DeviceBuffer<int> out(12);
    barrier_counts(3, exit_from, out.ptr);
    CUDA_OK(cudaDeviceSynchronize());
    const std::vector<int> o = out.download();
    for (int b = 0; b < 3; ++b) {
      CHECK(o[4 * b + 0] == 32);  // t % 3 == 0 for t < 96
      CHECK(o[4 * b + 1] == 1);
      CHECK(o[4 * b + 2] == 1);
      CHECK(o[4 * b + 3] == exit_from);
    }
  }
}

TEST_CASE("cuda/emu: atomics on global and shared memory, including the atomicCAS float max loop") {
  EmulatorScope scope;
  emu::config().workers = 2;
  const int n = 2000;
  AtomicResults init{};
  init.min_i = INT_MAX, init.max_i = INT_MIN, init.and_i = -1, init.exch_i = -1;
  init.sub_u = unsigned(n), init.min_u = UINT_MAX, init.and_u = UINT_MAX;
  init.min_ll = LLONG_MAX, init.max_ll = LLONG_MIN;
  init.min_ull = ULLONG_MAX, init.and_ull = ULLONG_MAX;
  init.max_f_cas = -1e30f, init.exch_f = -1.0f;
  DeviceBuffer<AtomicResults> r(std::vector<AtomicResults>{init});
  DeviceBuffer<int> exch_old(n);
  atomics(n, r.ptr, exch_old.ptr);
  CUDA_OK(cudaDeviceSynchronize());
  const AtomicResults g = r.download()[0];

  long long sum = 0;
  int xor_i = 0;
  unsigned xor_u = 0;
  unsigned long long xor_ull = 0;
  for (int t = 0; t < n; ++t) {
    sum += t;
    xor_i ^= t;
    xor_u ^= unsigned(t) * 2654435761u;
    xor_ull ^= 0x9e3779b97f4a7c15ull * unsigned(t);
  }
  CHECK(g.add_i == int(sum));
  CHECK(g.sub_i == -int(sum));
  CHECK(g.min_i == -100);
  CHECK(g.max_i == n - 1 - 100);
  CHECK(g.and_i == INT_MIN);  // bits 0..30 cleared
  CHECK(g.or_i == (1 << 20) - 1);
  CHECK(g.xor_i == xor_i);
  CHECK(g.add_u == unsigned(sum));
  CHECK(g.sub_u == 0u);
  CHECK(g.min_u == 5u);
  CHECK(g.max_u == unsigned(n - 1 + 5));
  CHECK(g.and_u == 0u);
  CHECK(g.or_u == 0xffffffffu);
  CHECK(g.xor_u == xor_u);
  CHECK(g.inc_u == unsigned(n % 8));             // atomicInc wraps to 0 after 7
  CHECK(g.dec_u == unsigned((8 - n % 8) % 8));   // atomicDec wraps from 0 to 7
  CHECK(g.exch_u < unsigned(n));
  CHECK(g.min_ll == -1000000000000ll * (n - 1));
  CHECK(g.max_ll == 1000000000000ll * (n - 1));
  CHECK(g.add_ull == 1000000000000ull * unsigned(n));
  CHECK(g.min_ull == 1000000000000ull);
  CHECK(g.max_ull == 1000000000000ull + unsigned(n - 1));
  CHECK(g.and_ull == 0ull);
  CHECK(g.or_ull == ~0ull);
  CHECK(g.xor_ull == xor_ull);
  CHECK(std::popcount(g.exch_ull) == 1);
  CHECK(g.add_f == 0.5f * float(n));
  CHECK(g.add_d == 0.25 * double(sum));
  CHECK(g.max_f_cas == 999 * 0.5f - 3.0f);
  CHECK(g.exch_f >= 0.0f);
  CHECK(g.exch_f < float(n));
  CHECK(g.cas_u == 1u);  // exactly one atomicCAS(0 -> t + 1) succeeded
  CHECK(g.cas_i >= 1);
  CHECK(g.cas_i <= n);
  CHECK(g.cas_ull >= 1ull);
  CHECK(g.cas_ull <= unsigned(n));
  CHECK(g.shared_min == 0);
  CHECK(g.shared_max == 127);
  // The atomicExch chain: the returned old values plus the final value are the initial -1 and every t.
  std::vector<int> chain = exch_old.download();
  chain.push_back(g.exch_i);
  std::sort(chain.begin(), chain.end());
  std::vector<int> want(n + 1);
  std::iota(want.begin(), want.end(), -1);
  CHECK(chain == want);
}

TEST_CASE("cuda/emu: a histogram with atomicAdd on shared memory, then on global memory") {
  EmulatorScope scope;
  emu::config().workers = 2;
  auto rng = simad::testing::test_rng();
  const int n = 5000, bins = 200;
  std::vector<int> values(n);
  std::vector<unsigned> want(bins, 0);
  for (int& v : values) ++want[v = int(rng.next_below(bins))];
  DeviceBuffer<int> dvalues(values);
  DeviceBuffer<unsigned> hist(bins);
  hist.fill_bytes(0);
  histogram(dvalues.ptr, n, bins, hist.ptr);
  CUDA_OK(cudaDeviceSynchronize());
  CHECK(hist.download() == want);
}

TEST_CASE("cuda/emu: math and bit intrinsics give the host's results") {
  EmulatorScope scope;
  std::vector<float> x = {0.0f, -0.0f, 1.0f, -1.5f, 0.3f, 2.5f, -7.25f, 1e-3f, 88.0f, -88.0f,
                          std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(), 0.75f};
  const int n = int(x.size());
  DeviceBuffer<float> dx(x), out(std::size_t(kMathFloatOutputs) * n);
  DeviceBuffer<int> iout(std::size_t(kMathIntOutputs) * n);
  math(dx.ptr, n, out.ptr, iout.ptr);
  CUDA_OK(cudaDeviceSynchronize());
  const std::vector<float> o = out.download();
  const std::vector<int> io = iout.download();
  const auto same = [](float a, float b) { return (std::isnan(a) && std::isnan(b)) || a == b || std::fabs(a - b) <= 1e-6f * std::fabs(b); };
  for (int i = 0; i < n; ++i) {
    const float v = x[i];
    CAPTURE(v);
    CHECK(same(o[0 * n + i], std::exp(v)));
    CHECK(same(o[1 * n + i], std::log(std::fabs(v) + 1.0f)));
    CHECK(same(o[2 * n + i], v / 3.0f));
    CHECK(same(o[3 * n + i], 1.0f / std::sqrt(std::fabs(v) + 0.5f)));
    CHECK(same(o[4 * n + i], 1.0f / (v + 4.0f)));
    CHECK(same(o[5 * n + i], std::isnan(v) ? 0.0f : std::clamp(v, 0.0f, 1.0f)));
    CHECK(std::memcmp(&o[6 * n + i], &v, sizeof v) == 0);
    CHECK(same(o[7 * n + i], -v));
    CHECK(same(o[8 * n + i], std::isnan(v) ? 0.25f : std::min(v, 0.25f)));  // fminf: NaN loses
    CHECK(same(o[9 * n + i], std::isnan(v) ? 0.25f : std::max(v, 0.25f)));
    CHECK(o[10 * n + i] == (std::isnan(v) ? 1.0f : std::isinf(v) ? 2.0f : 0.0f));
    CHECK(same(o[11 * n + i], std::exp(v) + std::sqrt(std::fabs(v)) + std::tanh(v)));
    unsigned bits;
    std::memcpy(&bits, &v, sizeof bits);
    bits ^= unsigned(i);
    unsigned reversed = 0;
    for (int b = 0; b < 32; ++b) reversed |= ((bits >> b) & 1u) << (31 - b);
    CHECK(io[0 * n + i] == std::popcount(bits));
    CHECK(io[1 * n + i] == std::countl_zero(bits));
    CHECK(io[2 * n + i] == (bits ? std::countr_zero(bits) + 1 : 0));
    CHECK(unsigned(io[3 * n + i]) == reversed);
    CHECK(io[4 * n + i] == std::min(i, 7));
    CHECK(io[5 * n + i] == std::max(i - 3, 0));
    CHECK(io[6 * n + i] == 16);
    CHECK(io[7 * n + i] == 32);
  }
  // Host-side spot checks of intrinsics the kernel does not use.
  CHECK(__brevll(1ull) == (1ull << 63));
  CHECK(__ffsll(0ll) == 0);
  CHECK(__clzll(1ll) == 63);
  CHECK(__umulhi(0xffffffffu, 2u) == 1u);
  CHECK(__mulhi(-2, 0x40000000) == -1);
  CHECK(__umul64hi(~0ull, 2ull) == 1ull);
  CHECK(__double_as_longlong(1.0) == 0x3ff0000000000000ll);
  CHECK(__float2int_rn(2.5f) == 2);
  CHECK(__float2int_rz(-2.7f) == -2);
  CHECK(max(3u, 5) == 5u);
  CHECK(min(-1, 2ll) == -1ll);
}

// =================================================================================================
// Shared memory
// =================================================================================================

TEST_CASE("cuda/emu: static __shared__ memory is private to each block (200 blocks on 2 workers)") {
  EmulatorScope scope;
  emu::config().workers = 2;
  DeviceBuffer<unsigned> errors(2);
  errors.fill_bytes(0);
  shared_isolation(0, 200, errors.ptr, errors.ptr + 1);
  CUDA_OK(cudaDeviceSynchronize());
  CHECK(errors.download()[0] == 0u);
}

TEST_CASE("cuda/emu: dynamic shared memory is private to each block and NaN-poisoned (200 blocks on 2 workers)") {
  EmulatorScope scope;
  emu::config().workers = 2;
  DeviceBuffer<unsigned> errors(2);
  errors.fill_bytes(0);
  shared_isolation(1, 200, errors.ptr, errors.ptr + 1);
  CUDA_OK(cudaDeviceSynchronize());
  const std::vector<unsigned> e = errors.download();
  CHECK(e[0] == 0u);
  CHECK(e[1] == 0u);  // every block starts from NaN, not from the previous block's values
}

TEST_CASE("cuda/emu: dynamic shared memory has the launch's size, above 48 KiB it needs the opt-in") {
  EmulatorScope scope;
  for (const std::size_t bytes : {std::size_t(4), std::size_t(1000), std::size_t(48 * 1024)}) {
    CAPTURE(bytes);
    DeviceBuffer<double> out(2);
    out.fill_bytes(0);
    dynamic_shared_size(bytes, false, out.ptr);
    CUDA_OK(cudaDeviceSynchronize());
    const double floats = double(bytes / 4);
    const std::vector<double> o = out.download();
    CHECK(o[0] == 0.0);
    CHECK(o[1] == floats * (floats - 1) / 2);
  }
  DeviceBuffer<double> out(2);
  out.fill_bytes(0);
  const std::size_t big = 100 * 1024;
  CHECK_THROWS_WITH_AS(dynamic_shared_size(big, false, out.ptr), doctest::Contains("cudaFuncAttributeMaxDynamicSharedMemorySize"),
                       simad::Error);
  CHECK(cudaGetLastError() == cudaSuccess);
  dynamic_shared_size(big, true, out.ptr);
  CUDA_OK(cudaDeviceSynchronize());
  const double floats = double(big / 4);
  CHECK(out.download()[1] == floats * (floats - 1) / 2);
}

TEST_CASE("cuda/emu: literal extern __shared__ arrays are private to each block (200 blocks on 2 workers)") {
  EmulatorScope scope;
  if (!literal_extern_shared_supported()) {
    MESSAGE("literal extern __shared__ is not available with SIMAD_EMU_SHARED_AS_STATIC");
    return;
  }
  emu::config().workers = 2;
  DeviceBuffer<unsigned> errors(2);
  errors.fill_bytes(0);
  shared_isolation(2, 200, errors.ptr, errors.ptr + 1);
  CUDA_OK(cudaDeviceSynchronize());
  const std::vector<unsigned> e = errors.download();
  CHECK(e[0] == 0u);
  CHECK(e[1] == 0u);
}

// =================================================================================================
// Real kernels
// =================================================================================================

TEST_CASE("cuda/emu: tiled SGEMM matches a double reference on shapes that are not multiples of the tile") {
  EmulatorScope scope;
  emu::config().workers = 2;
  struct Shape {
    int M, N, K, tile;
  };
  for (const Shape s : {Shape{67, 45, 83, 16}, Shape{64, 96, 70, 32}, Shape{1, 1, 1, 16}, Shape{33, 17, 5, 32},
                        Shape{16, 16, 16, 16}}) {
    CAPTURE(s.M);
    CAPTURE(s.N);
    CAPTURE(s.K);
    CAPTURE(s.tile);
    auto rng = simad::testing::test_rng(std::uint64_t(s.M * 1000 + s.N));
    const auto A = simad::testing::random_vector<float>(rng, std::size_t(s.M) * s.K);
    const auto B = simad::testing::random_vector<float>(rng, std::size_t(s.K) * s.N);
    const std::vector<float> C = run_sgemm(s.tile, A, B, s.M, s.N, s.K);
    simad::testing::check_close(C, sgemm_reference(A, B, s.M, s.N, s.K), 1e-5, 1e-4, "sgemm");
  }
}

TEST_CASE("cuda/emu: warp-shuffle row softmax matches a double reference") {
  EmulatorScope scope;
  emu::config().workers = 2;
  struct Case {
    int rows, cols, threads;
  };
  for (const Case c : {Case{37, 300, 128}, Case{16, 33, 32}, Case{64, 128, 64}, Case{5, 1, 32}, Case{3, 1000, 256}}) {
    CAPTURE(c.rows);
    CAPTURE(c.cols);
    CAPTURE(c.threads);
    auto rng = simad::testing::test_rng(std::uint64_t(c.cols));
    const auto x = simad::testing::random_vector<float>(rng, std::size_t(c.rows) * c.cols, -8.0, 8.0);
    simad::testing::check_close(run_softmax(x, c.rows, c.cols, c.threads), softmax_reference(x, c.rows, c.cols), 1e-7,
                                1e-5, "softmax");
  }
}

TEST_CASE("cuda/emu: results do not depend on the schedule (fifo, lifo, random) or the number of workers") {
  EmulatorScope scope;
  auto rng = simad::testing::test_rng();
  const auto x = simad::testing::random_vector<float>(rng, std::size_t(37) * 300, -4.0, 4.0);
  const auto A = simad::testing::random_vector<float>(rng, std::size_t(67) * 83);
  const auto B = simad::testing::random_vector<float>(rng, std::size_t(83) * 45);
  emu::config().schedule = emu::Schedule::fifo;
  emu::config().workers = 1;
  const std::vector<float> softmax0 = run_softmax(x, 37, 300, 128);
  const std::vector<float> sgemm0 = run_sgemm(16, A, B, 67, 45, 83);
  struct Run {
    emu::Schedule schedule;
    std::uint64_t seed;
    unsigned workers;
  };
  for (const Run r : {Run{emu::Schedule::lifo, 1, 1}, Run{emu::Schedule::random, 1, 2}, Run{emu::Schedule::random, 7, 1},
                      Run{emu::Schedule::random, 12345, 2}}) {
    CAPTURE(int(r.schedule));
    CAPTURE(r.seed);
    emu::config().schedule = r.schedule;
    emu::config().seed = r.seed;
    emu::config().workers = r.workers;
    CHECK(run_softmax(x, 37, 300, 128) == softmax0);
    CHECK(run_sgemm(16, A, B, 67, 45, 83) == sgemm0);
    DeviceBuffer<unsigned> errors(2);
    errors.fill_bytes(0);
    shared_isolation(0, 50, errors.ptr, errors.ptr + 1);
    CUDA_OK(cudaDeviceSynchronize());
    CHECK(errors.download()[0] == 0u);
  }
}

// =================================================================================================
// Misuse: reported, never a hang
// =================================================================================================

TEST_CASE("cuda/emu: a divergent __syncthreads is reported as a deadlock naming the kernel, the block and the lines") {
  EmulatorScope scope;
  EmulatorScope::quiet();
  emu::config().workers = 2;
  DeviceBuffer<int> out(64 * 4);
  divergent_barrier(4, out.ptr);
  const std::string message = expect_launch_failure();
  CAPTURE(message);
  CHECK(contains(message, "kernel 'divergent_barrier_kernel' block ("));
  CHECK(contains(message, "deadlock: 0 of 64 threads finished"));
  CHECK(contains(message, "32 threads wait in __syncthreads at "));
  CHECK(contains(message, "misuse.cu:" + std::to_string(kDivergentBarrierLine)));
  CHECK(contains(message, "32 threads wait in __shfl_xor_sync at "));
  CHECK(contains(message, "misuse.cu:" + std::to_string(kDivergentShuffleLine)));
  CHECK(contains(message, "waits for lanes 0x55555555"));
}

TEST_CASE("cuda/emu: after a deadlock nothing runs until cudaDeviceReset, then launches work again") {
  EmulatorScope scope;
  EmulatorScope::quiet();
  emu::config().workers = 2;
  {
    DeviceBuffer<int> out(64 * 16);
    divergent_barrier(16, out.ptr);
    const std::string message = expect_launch_failure();
    CHECK(contains(message, "deadlock"));
    CHECK(std::count(message.begin(), message.end(), '\n') <= 9);  // at most 8 errors and a count
  }
  int* p = nullptr;
  CHECK(cudaMalloc(&p, 64) == cudaErrorLaunchFailure);
  CUDA_OK(cudaDeviceReset());
  CHECK(cudaGetLastError() == cudaSuccess);
  CHECK(emu::last_kernel_errors().empty());
  // Same block size as the deadlocked kernel: its fibers are reused.
  DeviceBuffer<int> filled(64 * 16);
  filled.fill_bytes(0xff);
  fill(16, 64, 0, filled.ptr, 64 * 16);
  CUDA_OK(cudaDeviceSynchronize());
  std::vector<int> want(64 * 16);
  std::iota(want.begin(), want.end(), 0);
  CHECK(filled.download() == want);
  // And a kernel with barriers and shuffles.
  auto rng = simad::testing::test_rng();
  const auto x = simad::testing::random_vector<float>(rng, std::size_t(8) * 64, -4.0, 4.0);
  simad::testing::check_close(run_softmax(x, 8, 64, 64), softmax_reference(x, 8, 64), 1e-7, 1e-5, "softmax after reset");
}

TEST_CASE("cuda/emu: a shuffle that reads lanes which have exited is an error") {
  EmulatorScope scope;
  EmulatorScope::quiet();
  DeviceBuffer<int> out(32);
  shuffle_exited_lanes(out.ptr);
  const std::string message = expect_launch_failure();
  CAPTURE(message);
  CHECK(contains(message, "kernel 'shuffle_exited_lanes_kernel' block (0,0,0)"));
  CHECK(contains(message, "__shfl_xor_sync at "));
  CHECK(contains(message, "misuse.cu:"));
  CHECK(contains(message, "reads lane 16, which has exited"));

  // A full-mask shuffle in the partial last warp of a 48-thread block, reading lanes that do not exist.
  emu::clear_kernel_error();
  CHECK(cudaGetLastError() == cudaSuccess);
  CHECK(out.download().size() == 32);  // clear_kernel_error keeps the allocations
  DeviceBuffer<int> in(96), out4(4 * 96);
  DeviceBuffer<float> outf(96);
  DeviceBuffer<double> outd(96);
  shuffles(48, 32, 0, 0, 0, 16, in.ptr, out4.ptr, outf.ptr, outd.ptr);
  const std::string partial = expect_launch_failure();
  CAPTURE(partial);
  // Launched by simad::cuda::launch (no SIMAD_LAUNCH): the name comes from the symbol table.
  CHECK(contains(partial, "kernel 'simad_emu_test::shuffle_kernel(int, int, unsigned int, "));
  CHECK(contains(partial, "which does not exist (the block has 48 threads)"));
}

TEST_CASE("cuda/emu: lanes disagreeing on a warp operation, a mask without the caller's lane and a bad width are errors") {
  EmulatorScope scope;
  EmulatorScope::quiet();
  DeviceBuffer<int> out(32);
  SUBCASE("different operations under the same mask") {
    shuffle_disagree(out.ptr);
    const std::string message = expect_launch_failure();
    CAPTURE(message);
    CHECK(contains(message, "kernel 'shuffle_disagree_kernel' block (0,0,0)"));
    // Which lane comes first depends on the schedule.
    CHECK(contains(message, "lanes of warp 0 disagree: "));
    CHECK(contains(message, "__shfl_xor_sync at "));
    CHECK(contains(message, "__shfl_down_sync at "));
    CHECK(contains(message, "(mask 0xffffffff, width 32, 4-byte value)"));
  }
  SUBCASE("the caller's lane is not in the mask") {
    shuffle_mask_without_self(out.ptr);
    const std::string message = expect_launch_failure();
    CAPTURE(message);
    CHECK(contains(message, "__shfl_sync at "));
    CHECK(contains(message, "calls it with mask 0x00000001, which does not include its own lane"));
    CHECK(!contains(message, "(warp 0, lane 0)"));
  }
  SUBCASE("a width that is not a power of two") {
    shuffle_bad_width(out.ptr);
    const std::string message = expect_launch_failure();
    CAPTURE(message);
    CHECK(contains(message, "width 12 is not a power of two"));
  }
}

TEST_CASE("cuda/emu: invalid launch configurations throw simad::Error naming the kernel, nothing runs") {
  EmulatorScope scope;
  EmulatorScope::quiet();
  DeviceBuffer<int> out(4096);
  out.fill_bytes(0xff);
  const auto expect_bad = [&](dim3 grid, dim3 block, std::size_t smem, const std::string& why, bool named) {
    CAPTURE(why);
    std::string message;
    try {
      fill(grid, block, smem, out.ptr, 4096, named);
    } catch (const simad::Error& e) {
      message = e.what();
    }
    CAPTURE(message);
    CHECK(contains(message, "simad::cuda::launch: kernel '"));
    CHECK(contains(message, named ? "kernel 'fill_kernel'" : "fill_kernel(int*, int)"));
    CHECK(contains(message, why));
    CHECK(cudaGetLastError() == cudaSuccess);  // nothing left pending
  };
  expect_bad(1, 1025, 0, "block (1025,1,1), 0 bytes of dynamic shared memory): the block has 1025 threads, more than 1024", true);
  expect_bad(1, 1025, 0, "the block has 1025 threads", false);
  expect_bad(1, dim3(32, 32, 2), 0, "the block has 2048 threads", true);
  expect_bad(0, 32, 0, "grid (0,1,1)", true);
  expect_bad(dim3(2, 0), 32, 0, "a dimension is zero", true);
  expect_bad(1, dim3(32, 0), 0, "a dimension is zero", false);
  expect_bad(1, dim3(1, 1, 65), 0, "block dimension z is more than 64", true);
  expect_bad(dim3(1, 65536), 32, 0, "grid dimension y is more than 65535", true);
  expect_bad(1, 32, 48 * 1024 + 4, "more dynamic shared memory than the kernel's limit of 49152 bytes", true);
  const std::vector<int> untouched = out.download();
  CHECK(std::all_of(untouched.begin(), untouched.end(), [](int v) { return v == -1; }));

  // The opt-in raises the limit up to 227 KiB.
  CUDA_OK(fill_allow_dynamic_smem(64 * 1024));
  fill(1, 32, 64 * 1024, out.ptr, 32);
  CUDA_OK(cudaDeviceSynchronize());
  CHECK(out.download()[31] == 31);
  CHECK(fill_allow_dynamic_smem(227 * 1024 + 1) == cudaErrorInvalidValue);
  CHECK(cudaGetLastError() == cudaErrorInvalidValue);
  CHECK(cudaGetLastError() == cudaSuccess);  // not sticky
  expect_bad(1, 32, 227 * 1024 + 4, "more dynamic shared memory than the kernel's limit of 65536 bytes", true);
}

TEST_CASE("cuda/emu: threads that exit before a __syncthreads count as arrived, unless barriers are strict") {
  EmulatorScope scope;
  DeviceBuffer<int> out(64);
  exit_before_barrier(64, 40, out.ptr);
  CUDA_OK(cudaDeviceSynchronize());
  const std::vector<int> o = out.download();
  for (int t = 0; t < 40; ++t) CHECK(o[t] == (t + 1) % 40);

  EmulatorScope::quiet();
  emu::config().strict_barriers = true;
  exit_before_barrier(64, 40, out.ptr);
  const std::string message = expect_launch_failure();
  CAPTURE(message);
  CHECK(contains(message, "kernel 'exit_before_barrier_kernel' block (0,0,0): deadlock: 24 of 64 threads finished"));
  CHECK(contains(message, "40 threads wait in __syncthreads at "));
  CHECK(contains(message, "SIMAD_EMU_STRICT_BARRIERS"));
}

TEST_CASE("cuda/emu: threads meeting at different __syncthreads call sites: allowed by default, an error when strict") {
  EmulatorScope scope;
  EmulatorScope::quiet();
  DeviceBuffer<int> out(64);
  split_barrier_sites(out.ptr);
  CUDA_OK(cudaDeviceSynchronize());
  const std::vector<int> o = out.download();
  for (int t = 0; t < 64; ++t) CHECK(o[t] == 63 - t);

  emu::config().strict_barriers = true;
  split_barrier_sites(out.ptr);
  const std::string message = expect_launch_failure();
  CAPTURE(message);
  CHECK(contains(message, "kernel 'split_barrier_sites_kernel' block (0,0,0): threads meet at different barriers"));
  CHECK(contains(message, "misuse.cu:"));
}

TEST_CASE("cuda/emu: an exception thrown in a kernel is a sticky launch failure until cudaDeviceReset") {
  EmulatorScope scope;
  EmulatorScope::quiet();
  emu::config().workers = 1;  // blocks in order: block 0 completes, block 1 fails, 2 and 3 never run
  DeviceBuffer<int> out(128);
  out.fill_bytes(0);
  throw_in_kernel(out.ptr);
  const std::string message = expect_launch_failure();
  CAPTURE(message);
  CHECK(contains(message, "kernel 'throw_in_kernel_kernel' block (1,0,0): thread (5,0,0) threw an exception: thrown by thread 5 of block 1"));
  std::vector<int> host(128, 7);
  CHECK(cudaMemcpy(host.data(), out.ptr, out.bytes(), cudaMemcpyDeviceToHost) == cudaErrorLaunchFailure);
  CHECK(host[0] == 7);  // nothing copied
  CHECK(cudaMemset(out.ptr, 0, 4) == cudaErrorLaunchFailure);
  fill(1, 32, 0, out.ptr, 32);  // does nothing
  CHECK(cudaStreamSynchronize(nullptr) == cudaErrorLaunchFailure);
  // What had run before the failure is there (host memory is still readable).
  CHECK(out.ptr[0] == 2);   // block 0 completed
  CHECK(out.ptr[32 + 5] == 1);  // block 1 stopped: the thread that threw never reached its barrier
  CHECK(out.ptr[64] == 0);  // block 2 never ran
  CUDA_OK(cudaDeviceReset());
  CUDA_OK(cudaDeviceSynchronize());
  DeviceBuffer<int> again(32);
  fill(1, 32, 0, again.ptr, 32);
  CUDA_OK(cudaDeviceSynchronize());
  CHECK(again.download()[31] == 31);
}

// =================================================================================================
// Runtime API
// =================================================================================================

TEST_CASE("cuda/emu: runtime API: memcpy of every kind, memset, poisoned cudaMalloc, pinned memory") {
  EmulatorScope scope;
  EmulatorScope::quiet();
  const int n = 1000;
  std::vector<float> host(n);
  std::iota(host.begin(), host.end(), 0.0f);
  DeviceBuffer<float> a(n), b(n);
  // cudaMalloc memory starts as NaN (0xFF bytes).
  const std::vector<float> fresh = a.download();
  CHECK(std::all_of(fresh.begin(), fresh.end(), [](float v) { return std::isnan(v); }));
  CHECK(reinterpret_cast<std::uintptr_t>(a.ptr) % 256 == 0);

  CUDA_OK(cudaMemcpy(a.ptr, host.data(), a.bytes(), cudaMemcpyHostToDevice));
  CUDA_OK(cudaMemcpy(b.ptr, a.ptr, a.bytes(), cudaMemcpyDeviceToDevice));
  std::vector<float> back(n, -1.0f), back2(n, -1.0f);
  CUDA_OK(cudaMemcpy(back.data(), b.ptr, b.bytes(), cudaMemcpyDeviceToHost));
  CHECK(back == host);
  CUDA_OK(cudaMemcpy(back2.data(), back.data(), b.bytes(), cudaMemcpyHostToHost));
  CHECK(back2 == host);
  CUDA_OK(cudaMemcpy(b.ptr + 10, host.data(), sizeof(float) * 5, cudaMemcpyDefault));
  CUDA_OK(cudaMemcpy(back.data(), b.ptr, b.bytes(), cudaMemcpyDefault));
  CHECK(back[10] == 0.0f);
  CHECK(back[14] == 4.0f);
  CHECK(back[15] == 15.0f);

  // Misuse: wrong direction, past the end, bad kind. Errors are not sticky.
  CHECK(cudaMemcpy(host.data(), a.ptr, a.bytes(), cudaMemcpyHostToDevice) == cudaErrorInvalidValue);
  CHECK(cudaGetLastError() == cudaErrorInvalidValue);
  CHECK(cudaGetLastError() == cudaSuccess);
  CHECK(cudaMemcpy(a.ptr + 1, host.data(), a.bytes(), cudaMemcpyHostToDevice) == cudaErrorInvalidValue);
  CHECK(cudaMemcpy(back.data(), host.data(), 4, cudaMemcpyDeviceToHost) == cudaErrorInvalidValue);
  CHECK(cudaMemcpy(a.ptr, host.data(), 4, cudaMemcpyKind(7)) == cudaErrorInvalidMemcpyDirection);
  CHECK(cudaPeekAtLastError() == cudaErrorInvalidMemcpyDirection);
  CHECK(cudaGetLastError() == cudaErrorInvalidMemcpyDirection);
  CHECK(cudaPeekAtLastError() == cudaSuccess);

  // Memset, sync and async.
  DeviceBuffer<int> ints(64);
  CUDA_OK(cudaMemset(ints.ptr, 0x01, ints.bytes()));
  std::vector<int> iv = ints.download();
  CHECK(std::all_of(iv.begin(), iv.end(), [](int v) { return v == 0x01010101; }));
  cudaStream_t stream = nullptr;
  CUDA_OK(cudaStreamCreate(&stream));
  CUDA_OK(cudaMemsetAsync(ints.ptr + 32, 0, 32 * sizeof(int), stream));
  CUDA_OK(cudaMemcpyAsync(iv.data(), ints.ptr, ints.bytes(), cudaMemcpyDeviceToHost, stream));
  CUDA_OK(cudaStreamSynchronize(stream));
  CHECK(iv[31] == 0x01010101);
  CHECK(iv[32] == 0);
  CHECK(cudaMemset(ints.ptr, 0, ints.bytes() + 1) == cudaErrorInvalidValue);
  CHECK(cudaMemset(iv.data(), 0, 4) == cudaErrorInvalidValue);
  CUDA_OK(cudaStreamDestroy(stream));

  // Freeing.
  int* d = nullptr;
  CUDA_OK(cudaMalloc(&d, 16));
  CUDA_OK(cudaFree(d));
  CHECK(cudaFree(d) == cudaErrorInvalidValue);  // double free
  CHECK(cudaFree(iv.data()) == cudaErrorInvalidValue);
  CUDA_OK(cudaFree(nullptr));
  float* pinned = nullptr;
  CUDA_OK(cudaMallocHost(&pinned, 64 * sizeof(float)));
  CUDA_OK(cudaMemcpy(pinned, a.ptr, 64 * sizeof(float), cudaMemcpyDeviceToHost));
  CHECK(pinned[63] == 63.0f);
  CHECK(cudaFree(pinned) == cudaErrorInvalidValue);
  CUDA_OK(cudaFreeHost(pinned));
  float* managed = nullptr;
  CUDA_OK(cudaMallocManaged(&managed, 16 * sizeof(float)));
  managed[3] = 3.0f;
  CUDA_OK(cudaMemcpy(back.data(), managed, 16 * sizeof(float), cudaMemcpyDeviceToHost));
  CHECK(back[3] == 3.0f);
  CUDA_OK(cudaFree(managed));
  std::size_t free_bytes = 0, total_bytes = 0;
  CUDA_OK(cudaMemGetInfo(&free_bytes, &total_bytes));
  CHECK(free_bytes <= total_bytes);
  CHECK(total_bytes - free_bytes >= 2 * std::size_t(n) * sizeof(float));
}

TEST_CASE("cuda/emu: runtime API: streams and events") {
  EmulatorScope scope;
  cudaStream_t stream = nullptr;
  CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  cudaEvent_t start = nullptr, stop = nullptr, untimed = nullptr;
  CUDA_OK(cudaEventCreate(&start));
  CUDA_OK(cudaEventCreate(&stop));
  CUDA_OK(cudaEventCreateWithFlags(&untimed, cudaEventDisableTiming));
  float ms = -1.0f;
  CHECK(cudaEventElapsedTime(&ms, start, stop) == cudaErrorInvalidResourceHandle);  // not recorded
  CUDA_OK(cudaEventRecord(start, stream));
  auto rng = simad::testing::test_rng();
  const auto A = simad::testing::random_vector<float>(rng, 40 * 30);
  const auto B = simad::testing::random_vector<float>(rng, 30 * 20);
  DeviceBuffer<float> dA(A), dB(B), dC(40 * 20);
  sgemm_tiled(16, dA.ptr, dB.ptr, dC.ptr, 40, 20, 30, stream);
  CUDA_OK(cudaEventRecord(stop, stream));
  CUDA_OK(cudaEventRecord(untimed, stream));
  CUDA_OK(cudaStreamWaitEvent(nullptr, stop));
  CUDA_OK(cudaEventSynchronize(stop));
  CUDA_OK(cudaEventQuery(stop));
  CUDA_OK(cudaStreamQuery(stream));
  CUDA_OK(cudaStreamSynchronize(stream));
  CUDA_OK(cudaEventElapsedTime(&ms, start, stop));
  CHECK(ms >= 0.0f);
  CHECK(cudaEventElapsedTime(&ms, start, untimed) == cudaErrorInvalidResourceHandle);
  simad::testing::check_close(dC.download(), sgemm_reference(A, B, 40, 20, 30), 1e-5, 1e-4, "sgemm on a stream");
  CUDA_OK(cudaEventDestroy(untimed));
  CUDA_OK(cudaEventDestroy(start));
  CUDA_OK(cudaEventDestroy(stop));
  CHECK(cudaEventDestroy(stop) == cudaErrorInvalidResourceHandle);
  CUDA_OK(cudaStreamDestroy(stream));
  CHECK(cudaStreamDestroy(stream) == cudaErrorInvalidResourceHandle);
  CHECK(cudaStreamSynchronize(stream) == cudaErrorInvalidResourceHandle);
  // A launch on a destroyed stream is a configuration error.
  CHECK_THROWS_WITH_AS(sgemm_tiled(16, dA.ptr, dB.ptr, dC.ptr, 40, 20, 30, stream),
                       doctest::Contains("the stream is not a live cudaStream_t"), simad::Error);
  CUDA_OK(cudaStreamSynchronize(cudaStreamPerThread));
  (void)cudaGetLastError();
}

TEST_CASE("cuda/emu: runtime API: one emulated device, its properties and error strings") {
  EmulatorScope scope;
  int count = 0, device = -1;
  CUDA_OK(cudaGetDeviceCount(&count));
  CHECK(count == 1);
  CUDA_OK(cudaGetDevice(&device));
  CHECK(device == 0);
  CUDA_OK(cudaSetDevice(0));
  CHECK(cudaSetDevice(1) == cudaErrorInvalidDevice);
  CHECK(cudaGetLastError() == cudaErrorInvalidDevice);
  cudaDeviceProp prop{};
  CUDA_OK(cudaGetDeviceProperties(&prop, 0));
  CHECK(std::string(prop.name) == "simad SIMT emulator");
  CHECK(prop.maxThreadsPerBlock == 1024);
  CHECK(prop.warpSize == 32);
  CHECK(prop.sharedMemPerBlock == 48 * 1024);
  CHECK(prop.sharedMemPerBlockOptin == 227 * 1024);
  CHECK(prop.maxThreadsDim[2] == 64);
  CHECK(prop.maxGridSize[1] == 65535);
  int value = 0;
  CUDA_OK(cudaDeviceGetAttribute(&value, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0));
  CHECK(value == 227 * 1024);
  CUDA_OK(cudaDeviceGetAttribute(&value, cudaDevAttrWarpSize, 0));
  CHECK(value == 32);
  CHECK(std::string(cudaGetErrorString(cudaErrorLaunchFailure)) == "unspecified launch failure");
  CHECK(std::string(cudaGetErrorName(cudaErrorInvalidConfiguration)) == "cudaErrorInvalidConfiguration");
  CHECK(int(cudaErrorLaunchFailure) == 719);
  CHECK(int(cudaErrorInvalidConfiguration) == 9);
  int version = 0;
  CUDA_OK(cudaRuntimeGetVersion(&version));
  CHECK(version >= 12000);
  CHECK_THROWS_AS(__syncthreads(), simad::Error);  // outside a kernel
}
