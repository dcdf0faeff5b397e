// simad/cuda/kernels/embedding.hpp: table lookup and its scatter-add backward on the GPU
// (kernels/embedding.cu), float, with the semantics and argument order of simad/ops/embedding.hpp:
// out_i = table[ids_i] (OVERWRITES; positions holding padding_id output zeros), and
// dtable[ids_i] += dout_i (ACCUMULATES; padding positions give no gradient; dtable may be nullptr).
// padding_id is -1 (none) or in [0, V). Pointers (ids too) are device pointers.
//
// Id check (both launchers): ids live on the device, so a small kernel first records the first
// position whose id is outside [0, V) (atomicMin on a device int); the launcher waits for it (ONE
// stream synchronisation per call) and throws simad::Error naming that position and its id, as the
// CPU op, before anything is written. The lookup/scatter kernels then run asynchronously.
// The *_deferred forms neither wait nor allocate (cub's way): the lookup/scatter kernel itself records
// the first bad position in a device int the caller owns (embedding_reset_bad_position sets it to
// embedding_no_bad_position), reads once it synchronises anyway (a training step, with its loss), and
// turns into the same error with embedding_check_bad_position. A bad id's row is zeros (forward) or
// adds nothing (backward).
// Kernels: one warp per position (8 per 256-thread block), lanes over the C columns (coalesced). The
// backward uses float atomicAdd: the order of additions into one row of dtable (repeated ids) is not
// fixed, so its last bits may differ between runs (unlike the CPU op, which is deterministic).
#pragma once

#include <cuda_runtime.h>

#include <climits>
#include <cstdint>

namespace simad::cuda::kernels {

void embedding_forward(float* out,           // (N, C)
                       const int32_t* ids,   // (N) each in [0, V)
                       const float* table,   // (V, C)
                       int64_t N, int64_t C, int64_t V, int32_t padding_id = -1, cudaStream_t stream = nullptr);

void embedding_backward(float* dtable,        // (V, C) accumulated, or nullptr
                        const float* dout,    // (N, C)
                        const int32_t* ids,   // (N) the forward's
                        int64_t N, int64_t C, int64_t V, int32_t padding_id = -1, cudaStream_t stream = nullptr);

// The value of a first-bad-position flag when every id was in range.
constexpr int embedding_no_bad_position = INT_MAX;

// *first_bad = embedding_no_bad_position, in stream order (first_bad: a device int).
void embedding_reset_bad_position(int* first_bad, cudaStream_t stream = nullptr);

// embedding_forward / embedding_backward without the wait: *first_bad = min(*first_bad, the first
// position whose id is outside [0, V)).
void embedding_forward_deferred(float* out, const int32_t* ids, const float* table, int64_t N, int64_t C, int64_t V,
                                int32_t padding_id, int* first_bad, cudaStream_t stream = nullptr);
void embedding_backward_deferred(float* dtable, const float* dout, const int32_t* ids, int64_t N, int64_t C,
                                 int64_t V, int32_t padding_id, int* first_bad, cudaStream_t stream = nullptr);

// Throws the synchronous forms' error when first_bad_host (the flag's value, read by the caller after
// synchronising) names a position: `what` names the call, ids are the device ids it was given.
void embedding_check_bad_position(const char* what, int first_bad_host, const int32_t* ids, int64_t V);

}  // namespace simad::cuda::kernels
