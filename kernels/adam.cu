// kernels/adam.cu: one Adam/AdamW step, the update of simad::train::adam_update
// (simad/train/optimizer.hpp) on the GPU. Declared in include/simad/cuda/kernels/adam.hpp.
// The scalar coefficients are computed on the host in double exactly as the CPU does, then rounded
// to float; each thread updates elements with the same float expressions in the same order.
#include "simad/cuda/kernels/adam.hpp"

#include <cmath>

#include "simad/core/error.hpp"
#include "simad/cuda/portable.hpp"

namespace simad::cuda::kernels {

namespace {

constexpr int kThreads = 256;
constexpr long long kMaxBlocks = 4096;

struct AdamCoefficients {
  float step_size, inv_bc2_sqrt, beta1, beta2, one_minus_beta1, one_minus_beta2, eps, wd, decay;
  int l2, decoupled;
};

__global__ void __launch_bounds__(kThreads)
    adam_update_kernel(float* __restrict__ params, const float* __restrict__ grads, float* __restrict__ m,
                       float* __restrict__ v, long long n, AdamCoefficients c) {
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    float p = params[i];
    float g = grads[i];
    if (c.l2) g += c.wd * p;
    if (c.decoupled) p *= c.decay;
    const float mi = c.beta1 * m[i] + c.one_minus_beta1 * g;
    const float vi = c.beta2 * v[i] + c.one_minus_beta2 * g * g;
    m[i] = mi;
    v[i] = vi;
    params[i] = p - c.step_size * mi / (sqrtf(vi) * c.inv_bc2_sqrt + c.eps);
  }
}

}  // namespace

void adam_update(float* params, const float* grads, float* m, float* v, int64_t n, int64_t t, double lr,
                 double beta1, double beta2, double eps, double weight_decay, bool decoupled, cudaStream_t stream) {
  const char* who = decoupled ? "cuda::kernels::adam_update (AdamW)" : "cuda::kernels::adam_update (Adam)";
  // The checks of train::check_adam_options.
  SIMAD_CHECK(std::isfinite(lr) && lr >= 0.0, who, ": invalid learning rate ", lr);
  SIMAD_CHECK(std::isfinite(eps) && eps >= 0.0, who, ": invalid eps ", eps);
  SIMAD_CHECK(beta1 >= 0.0 && beta1 < 1.0, who, ": invalid beta1 ", beta1, " (expected [0, 1))");
  SIMAD_CHECK(beta2 >= 0.0 && beta2 < 1.0, who, ": invalid beta2 ", beta2, " (expected [0, 1))");
  SIMAD_CHECK(std::isfinite(weight_decay) && weight_decay >= 0.0, who, ": invalid weight_decay ", weight_decay);
  SIMAD_CHECK(n >= 0, who, ": negative element count ", n);
  SIMAD_CHECK(t >= 1, who, ": step number ", t, " (expected >= 1)");
  if (n == 0) return;
  SIMAD_CHECK(params && grads && m && v, who, ": null pointer for ", n, " elements");

  const double bias_correction1 = 1.0 - std::pow(beta1, double(t));
  const double bias_correction2 = 1.0 - std::pow(beta2, double(t));
  AdamCoefficients c{};
  c.step_size = float(lr / bias_correction1);
  c.inv_bc2_sqrt = float(1.0 / std::sqrt(bias_correction2));
  c.beta1 = float(beta1);
  c.beta2 = float(beta2);
  c.one_minus_beta1 = float(1.0 - beta1);
  c.one_minus_beta2 = float(1.0 - beta2);
  c.eps = float(eps);
  c.wd = float(weight_decay);
  c.decay = float(1.0 - lr * weight_decay);
  c.l2 = !decoupled && weight_decay != 0.0;
  c.decoupled = decoupled && weight_decay != 0.0;

  const long long blocks = (static_cast<long long>(n) + kThreads - 1) / kThreads;
  const dim3 grid(static_cast<unsigned>(blocks < kMaxBlocks ? blocks : kMaxBlocks));
  SIMAD_LAUNCH(adam_update_kernel, grid, dim3(kThreads), 0, stream, params, grads, m, v, n, c);
}

}  // namespace simad::cuda::kernels
