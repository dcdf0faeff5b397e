// simad/cuda/kernels/elementwise.hpp: elementwise kernels (kernels/elementwise.cu) over n contiguous
// floats: the activations of simad/ops/activation.hpp with the same semantics and argument order
// (forward OVERWRITES out and may run in place; backward ACCUMULATES dinp += dout * f'; dinp may be
// nullptr; tanh/sigmoid backward take the forward OUTPUT), plus fill / scale / axpy and the elementwise
// product. Pointers are device pointers; bad arguments throw simad::Error; asynchronous on `stream`.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace simad::cuda::kernels {

void relu_forward(float* out, const float* inp, int64_t n, cudaStream_t stream = nullptr);
void relu_backward(float* dinp, const float* dout, const float* inp, int64_t n, cudaStream_t stream = nullptr);

void leaky_relu_forward(float* out, const float* inp, int64_t n, float slope = 0.1f, cudaStream_t stream = nullptr);
void leaky_relu_backward(float* dinp, const float* dout, const float* inp, int64_t n, float slope = 0.1f,
                         cudaStream_t stream = nullptr);

void gelu_forward(float* out, const float* inp, int64_t n, cudaStream_t stream = nullptr);
void gelu_backward(float* dinp, const float* dout, const float* inp, int64_t n, cudaStream_t stream = nullptr);
void gelu_tanh_forward(float* out, const float* inp, int64_t n, cudaStream_t stream = nullptr);
void gelu_tanh_backward(float* dinp, const float* dout, const float* inp, int64_t n, cudaStream_t stream = nullptr);

void tanh_forward(float* out, const float* inp, int64_t n, cudaStream_t stream = nullptr);
void tanh_backward(float* dinp, const float* dout, const float* out, int64_t n, cudaStream_t stream = nullptr);

void sigmoid_forward(float* out, const float* inp, int64_t n, cudaStream_t stream = nullptr);
void sigmoid_backward(float* dinp, const float* dout, const float* out, int64_t n, cudaStream_t stream = nullptr);

// x[i] = value.
void fill(float* x, float value, int64_t n, cudaStream_t stream = nullptr);
// x[i] *= alpha (alpha == 0 writes 0 without reading x).
void scale(float* x, float alpha, int64_t n, cudaStream_t stream = nullptr);
// y[i] += alpha * x[i].
void axpy(float* y, float alpha, const float* x, int64_t n, cudaStream_t stream = nullptr);
// out[i] = a[i] * b[i] (out may be a or b); backward ACCUMULATES da += dout * b, db += dout * a (either
// may be nullptr).
void mul_forward(float* out, const float* a, const float* b, int64_t n, cudaStream_t stream = nullptr);
void mul_backward(float* da, float* db, const float* dout, const float* a, const float* b, int64_t n,
                  cudaStream_t stream = nullptr);

}  // namespace simad::cuda::kernels
