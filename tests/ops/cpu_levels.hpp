// tests/ops/cpu_levels.hpp: what the tests of simad's CPU kernels share: the ISA levels this CPU has fp32
// tiles for (each test forces them in turn with cpu::IsaScope), its bf16 kernels, a bit-for-bit comparison,
// the check of a convolution that takes its [shortcut] along, and the exact convolution of small integers.
#pragma once

#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "simad/core/cpu_features.hpp"
#include "simad/core/rng.hpp"
#include "simad/ops/conv2d.hpp"
#include "simad/ops/reference/conv2d.hpp"
#include "testing.hpp"

namespace simad::testing {

// The levels with a simad fp32 kernel on this CPU, lowest first (empty without AVX2 + FMA).
inline std::vector<cpu::Isa> fp32_kernel_levels() {
  std::vector<cpu::Isa> levels;
  for (cpu::Isa isa : {cpu::Isa::avx2, cpu::Isa::avx512})
    if (int(isa) <= int(cpu::best_isa())) levels.push_back(isa);
  return levels;
}

// The bf16 kernels this CPU has, lowest first (each test forces them in turn with set_bf16_kernel_cap,
// then restores the cap to AMX).
inline std::vector<ops::cpu::Bf16Kernel> bf16_kernels() {
  std::vector<ops::cpu::Bf16Kernel> kernels;
  for (ops::cpu::Bf16Kernel k : {ops::cpu::Bf16Kernel::avx512_bf16, ops::cpu::Bf16Kernel::amx}) {
    ops::cpu::set_bf16_kernel_cap(k);
    if (ops::cpu::bf16_kernel() == k) kernels.push_back(k);
  }
  ops::cpu::set_bf16_kernel_cap(ops::cpu::Bf16Kernel::amx);
  return kernels;
}

inline bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// conv2d_residual_forward on fresh random inputs (weights prepared, or null) against conv2d_forward then
// Darknet's shortcut, a + b: whether the bits are the same. The output is poisoned first.
inline bool conv2d_residual_gives_conv_then_shortcut(Rng& rng, const ops::Conv2dShape& s, bool bias,
                                                     ops::ConvActivation act, bool prepared) {
  const auto in = random_vector<float>(rng, size_t(s.B * s.C * s.H * s.W));
  const auto w = random_vector<float>(rng, size_t(s.O * s.C * s.K * s.K));
  const auto b = random_vector<float>(rng, size_t(s.O));
  const auto residual = random_vector<float>(rng, size_t(s.B * s.O * s.out_h() * s.out_w()));
  const ops::Conv2dPackedWeights packed = ops::pack_conv2d_weights(w.data(), s);
  const ops::Conv2dPackedWeights* weights = prepared ? &packed : nullptr;
  REQUIRE(ops::conv2d_residual_fusable(s, act, weights));
  std::vector<float> want(residual.size()), got(residual.size());
  ops::conv2d_forward(want.data(), in.data(), w.data(), bias ? b.data() : nullptr, s, act, static_cast<float*>(nullptr),
                      weights);
  for (size_t k = 0; k < want.size(); ++k) want[k] = want[k] + residual[k];  // Darknet's shortcut: a + b
  poison(std::span<float>(got));
  ops::conv2d_residual_forward(got.data(), in.data(), w.data(), bias ? b.data() : nullptr, residual.data(), s, act,
                               weights);
  return same_bits(got, want);
}

// n integers in [-bound, bound] as floats: with inputs in [-8, 8] and weights in [-4, 4] every product and
// partial sum of a convolution is exact in bf16 inputs and fp32 sums, so a bf16 kernel that rounds nothing
// must give the exact convolution (exact_conv) bit for bit.
inline std::vector<float> small_integers(Rng& rng, size_t n, int64_t bound) {
  std::vector<float> v(n);
  for (float& x : v) x = float(int64_t(rng.next_uniform() * double(2 * bound + 1)) - bound);
  return v;
}

// The convolution of shape s in double (ops::reference::conv2d_forward: exact for the integers above), bias
// (or null) added, then the leaky ReLU in fp32 as the kernels apply it.
inline std::vector<float> exact_conv(const ops::Conv2dShape& s, const std::vector<float>& in,
                                     const std::vector<float>& w, const float* bias, bool leaky) {
  const std::vector<double> in_d(in.begin(), in.end()), w_d(w.begin(), w.end());
  const std::vector<double> bias_d = bias ? std::vector<double>(bias, bias + s.O) : std::vector<double>();
  std::vector<double> sum(static_cast<size_t>(s.B * s.O * s.out_h() * s.out_w()));
  ops::reference::conv2d_forward(sum.data(), in_d.data(), w_d.data(), bias ? bias_d.data() : nullptr, s,
                                 ops::ConvActivation::linear);
  std::vector<float> out(sum.size());
  for (size_t k = 0; k < sum.size(); ++k) {
    const float v = float(sum[k]);
    out[k] = leaky && v <= 0.0f ? 0.1f * v : v;
  }
  return out;
}

}  // namespace simad::testing
