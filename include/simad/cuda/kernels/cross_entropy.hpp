// simad/cuda/kernels/cross_entropy.hpp: softmax cross-entropy from logits on the GPU
// (kernels/cross_entropy.cu), float, with the semantics and argument order of
// simad/ops/cross_entropy.hpp: the forward returns the mean loss over the rows whose target is not
// ignore_index (0 when every row is ignored) and saves probs (softmax of EVERY row; may be nullptr);
// the backward ACCUMULATES dlogits += (probs - onehot(target)) * dloss / count over the rows that count
// (dlogits may be nullptr). A target outside [0, C) that is not the ignore index throws simad::Error
// naming the first such row. Pointers are device pointers.
//
// Synchronisation: both launchers wait for `stream` once (the forward returns the loss to the host,
// and both need the count of rows and the target check on the host). On a bad target the forward has
// already written probs. The *_deferred forms neither wait nor allocate (cub's way): the loss stays on
// the device, the backward takes the count of rows there, the workspace is the caller's
// (cross_entropy_workspace_bytes), and the first bad row goes to a caller-owned device int
// (cross_entropy_reset_bad_row sets it to cross_entropy_no_bad_row), read when the caller synchronises
// and turned into the synchronous forms' error by cross_entropy_check_bad_row. Same bits as the
// synchronous forms. Where the flag names a row, the loss and the gradient are not meaningful (probs is).
// Kernels: one warp per row (C <= 1024) or one block per row computes the online (max, sum of exp),
// probs and the row's loss in double; one block then sums the row losses in a fixed order (strided
// per thread, fixed shuffle tree): the loss has the same bits on every run. The backward is an
// elementwise kernel over (N, C).
#pragma once

#include <cuda_runtime.h>

#include <climits>
#include <cstddef>
#include <cstdint>

namespace simad::cuda::kernels {

float cross_entropy_forward(float* probs,                // (N, C) saved for backward, or nullptr
                            const float* logits,         // (N, C)
                            const int32_t* targets,      // (N) class index in [0, C), or ignore_index
                            int64_t N, int64_t C, int32_t ignore_index = -100, cudaStream_t stream = nullptr);

void cross_entropy_backward(float* dlogits,            // (N, C) accumulated, or nullptr
                            float dloss,               // scalar: d(objective) / d(loss)
                            const float* probs,        // (N, C) saved by the forward
                            const int32_t* targets,    // (N)
                            int64_t N, int64_t C, int32_t ignore_index = -100, cudaStream_t stream = nullptr);

// The value of a first-bad-row flag when every target was valid.
constexpr int cross_entropy_no_bad_row = INT_MAX;

// Device bytes of the deferred forms' workspace for N rows (the backward needs that of N = 0).
size_t cross_entropy_workspace_bytes(int64_t N);

// *first_bad = cross_entropy_no_bad_row, in stream order (first_bad: a device int).
void cross_entropy_reset_bad_row(int* first_bad, cudaStream_t stream = nullptr);

// cross_entropy_forward with the mean loss written to *loss (a device float) and no wait;
// *first_bad = min(*first_bad, the first row whose target is bad).
void cross_entropy_forward_deferred(float* loss,  // (1) device
                                    float* probs, const float* logits, const int32_t* targets, int64_t N, int64_t C,
                                    int32_t ignore_index, int* first_bad, void* workspace, size_t workspace_bytes,
                                    cudaStream_t stream = nullptr);

// cross_entropy_backward with the count of rows taken on the device and no wait; first_bad as above.
void cross_entropy_backward_deferred(float* dlogits, float dloss, const float* probs, const int32_t* targets,
                                     int64_t N, int64_t C, int32_t ignore_index, int* first_bad, void* workspace,
                                     size_t workspace_bytes, cudaStream_t stream = nullptr);

// Throws the synchronous forms' error when first_bad_host (the flag's value, read after synchronising)
// names a row: `what` names the call, targets are the device targets it was given.
void cross_entropy_check_bad_row(const char* what, int first_bad_host, const int32_t* targets, int64_t C,
                                 int32_t ignore_index);

}  // namespace simad::cuda::kernels
