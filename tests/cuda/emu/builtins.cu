// tests/cuda/emu/builtins.cu: kernels that exercise every built-in the emulator provides.
#include "simad/cuda/portable.hpp"

#include <math_constants.h>

#include "kernels.hpp"

namespace simad_emu_test {

__global__ void indices_kernel(unsigned* out) {
  const unsigned block = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const unsigned thread = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  unsigned* o = out + 12 * (block * blockDim.x * blockDim.y * blockDim.z + thread);
  const uint3 t = threadIdx, b = blockIdx;
  const dim3 bd = blockDim, gd = gridDim;
  o[0] = t.x, o[1] = t.y, o[2] = t.z, o[3] = b.x, o[4] = b.y, o[5] = b.z;
  o[6] = bd.x, o[7] = bd.y, o[8] = bd.z, o[9] = gd.x, o[10] = gd.y, o[11] = gd.z;
}

void write_indices(dim3 grid, dim3 block, unsigned* out) { SIMAD_LAUNCH(indices_kernel, grid, block, 0, 0, out); }

__global__ void shuffle_kernel(int width, int src, unsigned up, unsigned down, int xor_mask, const int* in, int* out,
                               float* outf, double* outd) {
  const int t = blockIdx.x * blockDim.x + threadIdx.x;
  const int lane = threadIdx.x % warpSize;
  const int v = in[t];
  out[4 * t + 0] = __shfl_sync(0xffffffffu, v, lane * 7 + src, width);
  out[4 * t + 1] = __shfl_up_sync(0xffffffffu, v, up, width);
  out[4 * t + 2] = __shfl_down_sync(0xffffffffu, v, down, width);
  out[4 * t + 3] = __shfl_xor_sync(0xffffffffu, v, xor_mask, width);
  outf[t] = __shfl_xor_sync(0xffffffffu, float(v) * 0.5f, 1, width);
  outd[t] = __shfl_down_sync(0xffffffffu, double(v) + 0.25, 1u, width);
}

void shuffles(int threads, int width, int src, unsigned up, unsigned down, int xor_mask, const int* in, int* out,
              float* outf, double* outd) {
  simad::cuda::launch(shuffle_kernel, 2, threads, 0, 0, width, src, up, down, xor_mask, in, out, outf, outd);
}

__global__ void vote_kernel(const int* pred, unsigned* out) {
  const int t = threadIdx.x;
  const int lane = t % 32;
  const int p = pred[t];
  unsigned* o = out + 8 * t;
  o[0] = __ballot_sync(0xffffffffu, p);
  o[1] = unsigned(__any_sync(0xffffffffu, p));
  o[2] = unsigned(__all_sync(0xffffffffu, p));
  const unsigned half = lane < 16 ? 0x0000ffffu : 0xffff0000u;
  o[3] = __ballot_sync(half, p);
  if (lane >= 24) return;
  o[4] = __ballot_sync(0xffffffffu, 1);  // exited lanes are not waited for and do not vote
  o[5] = unsigned(__all_sync(0xffffffffu, 1));
  o[6] = __activemask();
  __syncwarp();
  o[7] = 1;
}

void votes(int threads, const int* pred, unsigned* out) { SIMAD_LAUNCH(vote_kernel, 1, threads, 0, 0, pred, out); }

__global__ void barrier_count_kernel(int exit_from, int* out) {
  const int t = threadIdx.x;
  const int count = __syncthreads_count(t % 3 == 0);
  const int all = __syncthreads_and(t < 96);
  const int any = __syncthreads_or(t == 95);
  if (t == 0) out[4 * blockIdx.x + 0] = count, out[4 * blockIdx.x + 1] = all, out[4 * blockIdx.x + 2] = any;
  if (t >= exit_from) return;
  const int remaining = __syncthreads_count(1);
  if (t == 0) out[4 * blockIdx.x + 3] = remaining;
}

void barrier_counts(int blocks, int exit_from, int* out) {
  SIMAD_LAUNCH(barrier_count_kernel, blocks, 96, 0, 0, exit_from, out);
}

// The classic float atomic max: CUDA has no atomicMax(float*).
__device__ float atomic_max_float(float* address, float value) {
  int* a = reinterpret_cast<int*>(address);
  int old = *a;
  while (__int_as_float(old) < value) {
    const int assumed = old;
    old = atomicCAS(a, assumed, __float_as_int(value));
    if (old == assumed) break;
  }
  return __int_as_float(old);
}

__global__ void atomics_kernel(int n, AtomicResults* r, int* exch_old) {
  __shared__ int smin, smax;
  const int t = blockIdx.x * blockDim.x + threadIdx.x;
  if (threadIdx.x == 0) smin = 1 << 30, smax = -(1 << 30);
  __syncthreads();
  if (t < n) {
    const unsigned u = unsigned(t);
    atomicAdd(&r->add_i, t);
    atomicSub(&r->sub_i, t);
    atomicMin(&r->min_i, t - 100);
    atomicMax(&r->max_i, t - 100);
    atomicAnd(&r->and_i, ~(1 << (t % 31)));
    atomicOr(&r->or_i, 1 << (t % 20));
    atomicXor(&r->xor_i, t);
    exch_old[t] = atomicExch(&r->exch_i, t);
    atomicAdd(&r->add_u, u);
    atomicSub(&r->sub_u, 1u);
    atomicMin(&r->min_u, u + 5u);
    atomicMax(&r->max_u, u + 5u);
    atomicAnd(&r->and_u, ~(1u << (t % 32)));
    atomicOr(&r->or_u, 1u << (t % 32));
    atomicXor(&r->xor_u, u * 2654435761u);
    atomicInc(&r->inc_u, 7u);
    atomicDec(&r->dec_u, 7u);
    atomicExch(&r->exch_u, u);
    atomicMin(&r->min_ll, -1000000000000ll * t);
    atomicMax(&r->max_ll, 1000000000000ll * t);
    atomicAdd(&r->add_ull, 1000000000000ull);
    atomicMin(&r->min_ull, 1000000000000ull + u);
    atomicMax(&r->max_ull, 1000000000000ull + u);
    atomicAnd(&r->and_ull, ~(1ull << (t % 64)));
    atomicOr(&r->or_ull, 1ull << (t % 64));
    atomicXor(&r->xor_ull, 0x9e3779b97f4a7c15ull * u);
    atomicExch(&r->exch_ull, 1ull << (t % 64));
    atomicAdd(&r->add_f, 0.5f);
    atomicAdd(&r->add_d, 0.25 * t);
    atomic_max_float(&r->max_f_cas, float(t % 1000) * 0.5f - 3.0f);
    atomicExch(&r->exch_f, float(t));
    // Every thread tries to claim the zero: exactly one CAS succeeds.
    if (atomicCAS(&r->cas_i, 0, t + 1) == 0) atomicAdd(&r->cas_u, 1u);
    atomicCAS(&r->cas_ull, 0ull, 1ull + u);
    atomicMin(&smin, t);
    atomicMax(&smax, t);
  }
  __syncthreads();
  if (blockIdx.x == 0 && threadIdx.x == 0) r->shared_min = smin, r->shared_max = smax;
}

void atomics(int n, AtomicResults* r, int* exch_old) {
  SIMAD_LAUNCH(atomics_kernel, (n + 127) / 128, 128, 0, 0, n, r, exch_old);
}

__global__ void histogram_kernel(const int* values, int n, int bins, unsigned* hist) {
  __shared__ unsigned local[256];
  for (int b = threadIdx.x; b < bins; b += blockDim.x) local[b] = 0;
  __syncthreads();
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) atomicAdd(&local[values[i]], 1u);
  __syncthreads();
  for (int b = threadIdx.x; b < bins; b += blockDim.x) atomicAdd(&hist[b], local[b]);
}

void histogram(const int* values, int n, int bins, unsigned* hist) {
  SIMAD_LAUNCH(histogram_kernel, 8, 128, 0, 0, values, n, bins, hist);
}

__global__ void math_kernel(const float* x, int n, float* out, int* iout) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float v = __ldg(x + i);
  out[0 * n + i] = __expf(v);
  out[1 * n + i] = __logf(fabsf(v) + 1.0f);
  out[2 * n + i] = __fdividef(v, 3.0f);
  out[3 * n + i] = rsqrtf(fabsf(v) + 0.5f);
  out[4 * n + i] = __frcp_rn(v + 4.0f);
  out[5 * n + i] = __saturatef(v);
  out[6 * n + i] = __int_as_float(__float_as_int(v));
  out[7 * n + i] = __uint_as_float(__float_as_uint(v) ^ 0x80000000u);  // -v
  out[8 * n + i] = min(v, 0.25f);
  out[9 * n + i] = max(v, 0.25f);
  out[10 * n + i] = isnan(v) ? 1.0f : (isinf(v) ? 2.0f : 0.0f);
  out[11 * n + i] = expf(v) + sqrtf(fabsf(v)) + tanhf(v) + CUDART_PI_F * 0.0f;
  const unsigned bits = __float_as_uint(v) ^ unsigned(i);
  iout[0 * n + i] = __popc(bits);
  iout[1 * n + i] = __clz(int(bits));
  iout[2 * n + i] = __ffs(int(bits));
  iout[3 * n + i] = int(__brev(bits));
  iout[4 * n + i] = min(i, 7);
  iout[5 * n + i] = max(i - 3, 0);
  iout[6 * n + i] = __popcll(0xf0f0f0f0ull << (i % 8));
  iout[7 * n + i] = __clz(0);
}

void math(const float* x, int n, float* out, int* iout) {
  SIMAD_LAUNCH(math_kernel, (n + 63) / 64, 64, 0, 0, x, n, out, iout);
}

}  // namespace simad_emu_test
