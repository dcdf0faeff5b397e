// simad/cuda/kernels/conv2d.hpp: Darknet's convolution on the GPU (kernels/conv2d.cu), float, NCHW, with the
// semantics and argument order of simad/ops/conv2d.hpp:
//   out[b, o, y, x] = act(bias[o] + sum_{c, i, j} weight[o, c, i, j] * inp[b, c, y*S - P + i, x*S - P + j])
// (zero outside the input; bias null = 0). The forward OVERWRITES out. With `residual` (a Darknet
// [shortcut] whose only input from here is this convolution) it writes
//   out = shortcut_act(act(...) + residual[b, o, y, x]),  shortcut_act linear or leaky (0.1, as ops/shortcut.hpp)
// so the convolution's own output never goes to memory. The backward ADDS, as the CPU op's (dout is the
// gradient of the pre-activation output; null outputs are skipped):
//   dinp[b, c, h, w]    += sum_{o, i, j} weight[o, c, i, j] * dout[b, o, y, x]
//                          over the (y, x) with (y*S - P + i, x*S - P + j) = (h, w)
//   dweight[o, c, i, j] += sum_{b, y, x} dout[b, o, y, x] * inp[b, c, y*S - P + i, x*S - P + j]
//   dbias[o]            += sum_{b, y, x} dout[b, o, y, x]
// Pointers are device pointers; bad shapes throw simad::Error before anything runs; asynchronous on
// `stream`. Results match the CPU op within float rounding (the sums run in another order), not bit for bit.
//
// Kernels: each is an implicit GEMM (no column matrix in global memory): a block computes a 64 x 64 tile of
// the product with 256 threads, 4 x 4 results per thread, over 16-deep slices of the reduction staged in
// shared memory; the operands are gathered from the image as they are staged, and the next slice is read
// into registers while the current one is multiplied (two shared buffers, one barrier per slice).
//   forward:  (O) x (B Ho Wo) over C K K, the image's pixels of all images side by side (small maps batch up)
//   dinp:     (C) x (B H W) over O K K, each input pixel gathering the outputs whose window holds it
//   dweight:  (O) x (C K K) over B Ho Wo;  dbias: one block per filter, a fixed-order tree sum
// The forward's bf16 variant (ConvMath::bf16_tensor_cores) stages the same tiles and multiplies them on
// tensor cores: 128 threads, each warp a 32 x 32 quarter of the tile as 2 x 4 mma.sync m16n8k16 per slice.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "simad/ops/conv2d_shape.hpp"

namespace simad::cuda::kernels {

// The forward's arithmetic. fp32: FMAs in float (the CPU op's arithmetic, another order). bf16_tensor_cores:
// the input and the weights rounded to bf16 (8 significant bits) and multiplied on tensor cores
// (mma.sync m16n8k16, cuda/mma.hpp), the sums in float: relative errors of about 2^-8 per product, so
// outputs within about 1% of the fp32 ones, at tensor-core rates.
// bf16_tensor_cores takes 64 x 64 tiles of 4 warps, or 128 x 128 tiles of 8 warps where there are enough of them
// to fill a GPU (cuda/tile_gemm.hpp, bf16_tile_side); the _64 and _128 forms force one (tests, benchmarks).
enum class ConvMath { fp32, bf16_tensor_cores, bf16_tensor_cores_64, bf16_tensor_cores_128 };

void conv2d_forward(float* out,           // (B, O, Ho, Wo)
                    const float* inp,     // (B, C, H, W)
                    const float* weight,  // (O, C, K, K)
                    const float* bias,    // (O) or null
                    const ops::Conv2dShape& s, ops::ConvActivation act,
                    const float* residual = nullptr,  // (B, O, Ho, Wo) or null: a fused [shortcut]
                    bool residual_leaky = false, ConvMath math = ConvMath::fp32, cudaStream_t stream = nullptr);

// dweight is a split-K where the 64 x 64 tiles alone would not fill a GPU (shallow layers: few filters, a long
// B Ho Wo reduction): the parts' partial sums go to a workspace and are added in a fixed order, so the result has
// the same bits on every run. This form takes the workspace stream-ordered (cudaMallocAsync, no host wait).
void conv2d_backward(float* dinp,          // (B, C, H, W) or null
                     float* dweight,       // (O, C, K, K) or null
                     float* dbias,         // (O) or null
                     const float* dout,    // (B, O, Ho, Wo)
                     const float* inp,     // (B, C, H, W) the forward input
                     const float* weight,  // (O, C, K, K)
                     const ops::Conv2dShape& s, cudaStream_t stream = nullptr);

// The same on a caller's workspace of conv2d_backward_workspace_bytes(s) bytes (0 where no split is needed;
// then workspace may be null).
size_t conv2d_backward_workspace_bytes(const ops::Conv2dShape& s);
void conv2d_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, const ops::Conv2dShape& s, void* workspace, size_t workspace_bytes,
                     cudaStream_t stream = nullptr);

}  // namespace simad::cuda::kernels
