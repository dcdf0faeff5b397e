// simad/ops/conv2d.hpp: 2-D convolution fused with its bias and activation (inference), NCHW.
//   out[b, o, y, x] = act(bias[o] + sum_{c, i, j} weight[o, c, i, j] * inp[b, c, y*S - P + i, x*S - P + j])
// (zero outside the input). This is Darknet's convolutional layer after batch-norm folding
// (nn/darknet.hpp folds the BN into weight and bias), computed as one GEMM per image:
// weight (O, C*K*K) x columns (C*K*K, Ho*Wo). A 1x1 stride-1 unpadded convolution is a GEMM on the
// input as it is (no im2col); others unfold the input first (im2col, parallel over rows). Small
// maps (Ho*Wo < 1024: YOLOv3's 13x13 and 26x26 layers) of a batch are unfolded side by side into one
// wider GEMM, which keeps OpenBLAS efficient at batch 8 (simad's fp32 GEMM runs them image by image:
// conv2d_joins_images). The bias and a linear or leaky activation are
// applied as the GEMM stores its results (ops::gemm_bias_activation), not in a pass over the output.
// In float on simad's fp32 kernels no convolution runs im2col (conv2d_float_path picks the way):
// 3x3 stride-1 layers of 64+ channels with prepared weights run as Winograd F(2x2, 3x3)
// (ops/cpu/conv2d_winograd.hpp: within rounding of the others, not their bits); shallow convolutions
// over wide maps (conv2d_direct_suits) as an implicit GEMM that reads the input in place
// (ops/cpu/conv2d_direct.hpp); the others as the GEMM with its B panels unfolded from the image as
// they are packed (ops/cpu/conv2d_implicit.hpp). These two give the bits of im2col + GEMM. On the bf16
// kernels (SIMAD_GEMM=bf16) the same layers take the same ways in bf16: the ring over pairs of channels
// (AVX512-BF16; within rounding of im2col + gemm_bf16, not its bits; on AMX the shallowest keep the fp32
// ring: conv2d_ring), the Winograd layers' 16 GEMMs, and the unfolding GEMM (the bits of im2col +
// gemm_bf16).
//
// Backward (training, conv2d_backward) is unfused: it takes the gradient with respect to the
// convolution's pre-activation output (the caller runs the activation's and the batch norm's
// backward first) and ADDS to dinp, dweight and dbias, per image:
//   dweight += dout (O, Ho*Wo) x columns^T,   dbias[o] += sum of dout[o, :],
//   dinp    += col2im(weight^T (C*K*K, O) x dout)   (col2im: each column entry added back to the
//              input element it was copied from; padding entries are dropped).
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstdint>
#include <string_view>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/core/parallel.hpp"
#include "simad/ops/conv2d_shape.hpp"
#include "simad/ops/maxpool2d_shape.hpp"
#include "simad/ops/cpu/conv2d_direct.hpp"
#include "simad/ops/cpu/conv2d_implicit.hpp"
#include "simad/ops/cpu/conv2d_winograd.hpp"
#include "simad/ops/gemm.hpp"

namespace simad::ops {

namespace detail {

template <typename T>
inline T conv_activate(T v, ConvActivation act) {
  switch (act) {
    case ConvActivation::linear: return v;
    case ConvActivation::leaky: return v > T(0) ? v : T(0.1) * v;
    case ConvActivation::logistic: return T(1) / (T(1) + std::exp(-v));
  }
  return v;
}

// Unfolds image `inp` (C, H, W) into cols rows (c, i, j), each of Ho*Wo values, placed at
// cols + row * ld + col0 (so several images can sit side by side in one matrix).
template <typename T>
void im2col(T* cols, int64_t ld, int64_t col0, const T* inp, const Conv2dShape& s) {
  const int64_t Ho = s.out_h(), Wo = s.out_w(), K = s.K, rows = s.C * K * K;
  parallel_for(rows, 8, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t c = r / (K * K), i = (r / K) % K, j = r % K;
      const T* plane = inp + c * s.H * s.W;
      T* dst = cols + r * ld + col0;
      // ix = x * stride - pad + j is inside [0, W) for x in [x_lo, x_hi): a copy between zeros
      const auto [x_lo, x_hi] = cpu::inside_columns(j - s.pad, s.stride, s.W, Wo);
      for (int64_t y = 0; y < Ho; ++y) {
        const int64_t iy = y * s.stride - s.pad + i;
        T* row = dst + y * Wo;
        if (iy < 0 || iy >= s.H) {
          std::fill_n(row, Wo, T(0));
          continue;
        }
        const T* from = plane + iy * s.W - s.pad + j;
        std::fill_n(row, x_lo, T(0));
        if (s.stride == 1)
          std::copy(from + x_lo, from + x_hi, row + x_lo);
        else
          for (int64_t x = x_lo; x < x_hi; ++x) row[x] = from[x * s.stride];
        std::fill(row + x_hi, row + Wo, T(0));
      }
    }
  });
}

// The adjoint of im2col for one image: inp (C, H, W) += the entries of cols (C*K*K, Ho*Wo, row
// stride ld) at the positions im2col read them from. Parallel over channels (a channel's rows
// write only its own plane, so there is no race).
template <typename T>
void col2im_add(T* inp, const T* cols, int64_t ld, const Conv2dShape& s) {
  const int64_t Ho = s.out_h(), Wo = s.out_w(), K = s.K;
  parallel_for(s.C, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      T* plane = inp + c * s.H * s.W;
      for (int64_t i = 0; i < K; ++i)
        for (int64_t j = 0; j < K; ++j) {
          const T* src = cols + ((c * K + i) * K + j) * ld;
          for (int64_t y = 0; y < Ho; ++y) {
            const int64_t iy = y * s.stride - s.pad + i;
            if (iy < 0 || iy >= s.H) continue;
            T* row = plane + iy * s.W;
            const T* srow = src + y * Wo;
            for (int64_t x = 0; x < Wo; ++x) {
              const int64_t ix = x * s.stride - s.pad + j;
              if (ix >= 0 && ix < s.W) row[ix] += srow[x];
            }
          }
        }
    }
  });
}

// The columns of every image of the batch side by side: cols (C*K*K, B*Ho*Wo), image b's at column
// b*Ho*Wo (a 1x1 stride-1 unpadded convolution's columns are its input planes, copied).
template <typename T>
void joint_columns(T* cols, const T* inp, const Conv2dShape& s) {
  const int64_t HWo = s.out_h() * s.out_w(), ld = s.B * HWo;
  const bool direct = s.K == 1 && s.stride == 1 && s.pad == 0;
  for (int64_t b = 0; b < s.B; ++b) {
    const T* img = inp + b * s.C * s.H * s.W;
    if (direct) {
      parallel_for(s.C, 16, [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c) std::copy_n(img + c * HWo, HWo, cols + c * ld + b * HWo);
      });
    } else {
      im2col(cols, ld, b * HWo, img, s);
    }
  }
}

}  // namespace detail

// Whether a batch's small maps (Ho*Wo < 1024) go through one joint GEMM, images side by side:
// per image, their GEMMs would be too narrow to run well (YOLOv3-tiny's 13x13 and 8x8 layers).
// conv2d_workspace_size makes room for it wherever it may run.
inline bool conv2d_joint_images(const Conv2dShape& s) { return s.out_h() * s.out_w() < 1024 && s.B > 1; }

// Whether conv2d_forward<T> joins them under the current settings: not on simad's fp32 or bf16 kernels,
// where the per-image GEMMs (169 or more columns, weights packed once) lose nothing to the joint one and
// save its copies in and out (`simad bench darknet`'s batch-8 rows).
template <typename T>
bool conv2d_joins_images(const Conv2dShape& s) {
  if constexpr (std::is_same_v<T, float>) {
    if (cpu_gemm() == CpuGemm::simad && cpu::sgemm_available()) return false;
    if (cpu_gemm() == CpuGemm::bf16 && cpu::gemm_bf16_available()) return false;
  }
  return conv2d_joint_images(s);
}

// Whether conv2d_forward runs shape s as the ring-buffer implicit GEMM (ops/cpu/conv2d_direct.hpp)
// rather than the packed GEMM, for float on simad's fp32 or AVX512-BF16 kernels: where the GEMM is
// shallow and the maps wide: YOLOv3's 3- to 64-channel layers with 104-416 px out, where the ring beat
// both im2col + GEMM (Intel Xeon) and the GEMM that unfolds as it packs (AMD Zen 4, fp32 and bf16)
// when timed in development (docs/cpu-kernels.md; `simad bench darknet` times the chosen paths against
// oneDNN).
inline bool conv2d_direct_suits(const Conv2dShape& s) {
  return (s.K > 1 || s.stride > 1) && s.C * s.K * s.K <= 576 && s.out_w() >= 64;
}

// With SIMAD_GEMM=bf16 on the AMX kernel: the shallowest wide layers, which run as the fp32 ring there. It
// beat im2col + the AMX GEMM on them (Intel Xeon: YOLOv3's 3- to 32-channel layers at 208-416 px,
// 1.1-1.6x); the other ring shapes take the AMX GEMM.
inline bool conv2d_direct_suits_amx(const Conv2dShape& s) {
  return conv2d_direct_suits(s) && s.C * s.K * s.K <= 288 && s.out_w() >= 128;
}

// Which ring conv2d_forward runs shape s as, under the current settings: none; fp32 (SIMAD_GEMM=simad, and
// the conv2d_direct_suits_amx shapes on the AMX kernel); or bf16, over pairs of channels, on the
// AVX512-BF16 kernel (AMD Zen 4): every conv2d_direct_suits shape, 1.4-1.6x oneDNN fp32 on YOLOv3's 16- to
// 64-channel layers where the fp32 ring read 0.8-0.9x (`simad bench darknet`). The bf16 ring has not been
// timed on a CPU with AMX, where vdpbf16ps did not beat the fp32 FMA in gemm_bf16, so AMX keeps its ways.
enum class Conv2dRing { none, fp32, bf16 };
inline Conv2dRing conv2d_ring(const Conv2dShape& s) {
  if (!conv2d_direct_suits(s) || !cpu::conv2d_direct_available()) return Conv2dRing::none;
  if (cpu_gemm() == CpuGemm::simad) return Conv2dRing::fp32;
  if (cpu_gemm() != CpuGemm::bf16) return Conv2dRing::none;
  switch (cpu::bf16_kernel()) {
    case cpu::Bf16Kernel::avx512_bf16: return Conv2dRing::bf16;
    case cpu::Bf16Kernel::amx: return conv2d_direct_suits_amx(s) ? Conv2dRing::fp32 : Conv2dRing::none;
    case cpu::Bf16Kernel::none: break;
  }
  return Conv2dRing::fp32;  // no bf16 kernel: the fp32 paths
}

// Whether conv2d_forward runs shape s as the GEMM that unfolds the image as it packs B
// (ops/cpu/conv2d_implicit.hpp), for float on simad's fp32 or bf16 kernels: every convolution that needs
// an unfolding (not 1x1 stride 1 unpadded) and is not joined with the batch's other images: it saves
// the im2col matrix's trip through memory (README: `simad bench darknet` before and after).
inline bool conv2d_implicit_suits(const Conv2dShape& s) {
  return (s.K > 1 || s.stride > 1 || s.pad > 0) && !conv2d_joins_images<float>(s);
}

// Whether float 3x3 stride-1 pad-1 convolutions may run as Winograd F(2x2, 3x3) (ops/cpu/conv2d_winograd.hpp)
// on simad's fp32 kernels: 2.25x fewer FMAs, results within rounding of the direct sum but not its bits.
// SIMAD_WINOGRAD=0 in the environment or set_cpu_winograd(false) keeps every convolution on the GEMM paths,
// whose results are the bits of im2col + GEMM. Read where weights are prepared (pack_conv2d_weights) and at
// each forward.
namespace detail {
inline std::atomic<bool>& cpu_winograd_setting() {
  static std::atomic<bool> setting{[] {
    const char* env = std::getenv("SIMAD_WINOGRAD");
    if (!env || !*env || std::string_view(env) == "1") return true;
    SIMAD_CHECK(std::string_view(env) == "0", "SIMAD_WINOGRAD='", env, "': expected 0 or 1");
    return false;
  }()};
  return setting;
}
}  // namespace detail
inline bool cpu_winograd() { return detail::cpu_winograd_setting().load(std::memory_order_relaxed); }
inline void set_cpu_winograd(bool on) { detail::cpu_winograd_setting().store(on); }

// Whether conv2d_forward runs shape s as Winograd F(2x2, 3x3) (given prepared weights, on simad's fp32
// or bf16 kernels, with cpu_winograd()): 3x3 stride-1 pad-1 layers of at least 64 input channels. Timed in
// development on the 2-core Zen 4 against the paths they would take otherwise: 1.3-1.8x on YOLOv3's
// 64- to 512-channel layers, a tie at 32 channels (104 px) and slower at 16-32 channels on 208 px maps,
// where the GEMMs are too shallow (`simad bench darknet` has the measured rows).
inline bool conv2d_winograd_suits(const Conv2dShape& s) {
  return cpu::winograd_shape(cpu::DirectConvShape{s.C, s.H, s.W, s.O, s.K, s.stride, s.pad}) && s.C >= 64;
}

// A convolution's float weights prepared once for the CPU kernel that will run them (as oneDNN reorders its
// weights once): the Winograd transform where conv2d_winograd_suits (any map size) and it is on, else the
// GEMM's packed panels: the bf16 kernel's under SIMAD_GEMM=bf16 (but for the fp32 ring's layers there, and
// none for the bf16 ring's: it orders its steps by pairs of channels and packs per call), the fp32
// kernel's otherwise. Empty where the CPU has no simad fp32 kernel or SIMAD_GEMM=openblas.
struct Conv2dPackedWeights {
  cpu::SgemmPackedA gemm;         // (O, C*K*K) as the GEMM's A panels
  cpu::WinogradWeights winograd;  // U = G g G^T per transform position
};

inline Conv2dPackedWeights pack_conv2d_weights(const float* weight, const Conv2dShape& s) {
  Conv2dPackedWeights p;
  if (!cpu::sgemm_available() || cpu_gemm() == CpuGemm::openblas) return p;
  const bool bf16 = cpu_gemm() == CpuGemm::bf16 && cpu::gemm_bf16_available();
  if (cpu_winograd() && conv2d_winograd_suits(s) && (bf16 || cpu_gemm() == CpuGemm::simad)) {
    p.winograd = bf16 ? cpu::WinogradWeights::for_bf16(weight, s.O, s.C) : cpu::WinogradWeights(weight, s.O, s.C);
    return p;
  }
  const int64_t depth = s.C * s.K * s.K;
  const Conv2dRing ring = conv2d_ring(s);
  if (!bf16 || ring == Conv2dRing::fp32)
    p.gemm = cpu::SgemmPackedA(weight, depth, s.O, depth);
  else if (ring == Conv2dRing::none)
    p.gemm = cpu::SgemmPackedA::for_bf16(weight, depth, s.O, depth);
  return p;
}

// Scratch elements conv2d_forward needs for shape s (0 for a 1x1 stride-1 unpadded convolution at
// batch 1).
inline int64_t conv2d_workspace_size(const Conv2dShape& s) {
  const int64_t HWo = s.out_h() * s.out_w(), rows = s.C * s.K * s.K;
  const bool direct = s.K == 1 && s.stride == 1 && s.pad == 0;
  if (conv2d_joint_images(s)) return rows * HWo * s.B + s.O * HWo * s.B;  // joint columns + joint output
  return direct ? 0 : rows * HWo;
}

// The ways conv2d_forward computes a float convolution:
//   winograd  Winograd F(2x2, 3x3) on prepared weights (ops/cpu/conv2d_winograd.hpp)
//   ring      the ring-buffer implicit GEMM, shallow wide layers (ops/cpu/conv2d_direct.hpp)
//   implicit  the GEMM whose B panels are unfolded from the image as it packs (ops/cpu/conv2d_implicit.hpp)
//   gemm      a GEMM on the input as it is (1x1) or on im2col's matrix (every other case, and double)
enum class Conv2dPath { winograd, ring, implicit, gemm };
inline const char* conv2d_path_name(Conv2dPath p) {
  switch (p) {
    case Conv2dPath::winograd: return "winograd";
    case Conv2dPath::ring: return "ring";
    case Conv2dPath::implicit: return "implicit";
    case Conv2dPath::gemm: break;
  }
  return "gemm";
}

// The path conv2d_forward<float> takes for shape s, activation act and prepared weights `packed` (or null),
// under the current settings (cpu_gemm(), cpu_winograd(), the ISA level). A logistic activation is a pass
// after a plain GEMM.
inline Conv2dPath conv2d_float_path(const Conv2dShape& s, ConvActivation act, const Conv2dPackedWeights* packed) {
  if (act == ConvActivation::logistic) return Conv2dPath::gemm;
  if (packed && cpu_winograd() && conv2d_winograd_suits(s) &&
      (cpu_gemm() == CpuGemm::simad ? packed->winograd.usable_for(s.O, s.C)
                                    : cpu_gemm() == CpuGemm::bf16 && packed->winograd.usable_for_bf16(s.O, s.C)))
    return Conv2dPath::winograd;
  if (conv2d_ring(s) != Conv2dRing::none) return Conv2dPath::ring;
  if (conv2d_implicit_suits(s) && (cpu_gemm() == CpuGemm::simad  ? cpu::sgemm_available()
                                    : cpu_gemm() == CpuGemm::bf16 ? cpu::gemm_bf16_available()
                                                                  : false))
    return Conv2dPath::implicit;
  return Conv2dPath::gemm;
}

// out = act(conv(inp, weight) + bias). bias may be null (no bias). workspace: at least
// conv2d_workspace_size(s) elements, or null to allocate it here (the implicit GEMM, where it runs,
// does not use it). packed: for float, the weights prepared once (pack_conv2d_weights), used where
// their kernel runs, or null. With Winograd weights a conv2d_winograd_suits shape runs as Winograd
// (results within rounding of the other paths); otherwise the results are the same with or without them.
template <typename T>
void conv2d_forward(T* out,           // (B, O, Ho, Wo)
                    const T* inp,     // (B, C, H, W)
                    const T* weight,  // (O, C, K, K)
                    const T* bias,    // (O) or null
                    const Conv2dShape& s, ConvActivation act, T* workspace = nullptr,
                    const Conv2dPackedWeights* packed = nullptr) {
  s.check();
  const int64_t Ho = s.out_h(), Wo = s.out_w(), HWo = Ho * Wo, rows = s.C * s.K * s.K;
  const bool direct = s.K == 1 && s.stride == 1 && s.pad == 0;
  // Bias and a linear or leaky activation ride in the GEMM's stores (gemm_bias_activation); the
  // logistic (rare in Darknet cfgs) is a pass after it.
  const bool fused = act != ConvActivation::logistic;
  const cpu::SgemmPackedA* packed_weight = packed ? &packed->gemm : nullptr;
  // The images of a batch that run one GEMM each without scratch (the unfolding GEMM, a 1x1 layer): split
  // between the threads, each GEMM on one thread, where every thread gets as many. One fork per batch, not
  // per image: at 13x13 an image's GEMM is a few tens of microseconds, of which the fork took a share
  // (`simad bench darknet`'s batch-8 rows). A GEMM's results do not depend on its thread count. Only on
  // simad's own kernels (float): OpenBLAS and double keep the loop.
  auto each_image = [&](auto&& run) {
    const int64_t threads = num_threads();
    const bool own_kernels = std::is_same_v<T, float> && cpu_gemm() != CpuGemm::openblas && cpu::sgemm_available();
    if (own_kernels && s.B > 1 && threads > 1 && s.B % threads == 0 && !simad::detail::in_parallel_region) {
      ThreadPool::global().run(threads, [&](int64_t t) {
        for (int64_t b = t * s.B / threads; b < (t + 1) * s.B / threads; ++b) run(b);
      });
      return;
    }
    for (int64_t b = 0; b < s.B; ++b) run(b);
  };
  if constexpr (std::is_same_v<T, float>) {
    const cpu::DirectConvShape ds{s.C, s.H, s.W, s.O, s.K, s.stride, s.pad};
    switch (conv2d_float_path(s, act, packed)) {
      case Conv2dPath::winograd:
        cpu::conv2d_winograd(out, inp, s.B, bias, act == ConvActivation::leaky, ds, packed->winograd);
        return;
      case Conv2dPath::ring:
        cpu::conv2d_direct(out, inp, s.B, weight, bias, act == ConvActivation::leaky, ds, packed_weight, nullptr,
                           nullptr, conv2d_ring(s) == Conv2dRing::bf16);
        return;
      case Conv2dPath::implicit:
        each_image([&](int64_t b) {
          cpu::conv2d_implicit(out + b * s.O * HWo, inp + b * s.C * s.H * s.W, weight, bias,
                               act == ConvActivation::leaky, ds, packed_weight, cpu_gemm() == CpuGemm::bf16);
        });
        return;
      case Conv2dPath::gemm: break;
    }
  }
  std::vector<T> own;
  if (!workspace && conv2d_workspace_size(s) > 0) {
    own.resize(size_t(conv2d_workspace_size(s)));
    workspace = own.data();
  }
  auto conv_gemm = [&](const T* cols, int64_t ld, T* dst) {
    if (fused)
      gemm_bias_activation(false, false, s.O, ld, rows, weight, rows, cols, ld, dst, ld, bias,
                           act == ConvActivation::leaky, packed_weight);
    else
      gemm(false, false, s.O, ld, rows, T(1), weight, rows, cols, ld, T(0), dst, ld);
  };
  // Rows o0..o1 of one image's output from the GEMM's result (src, row stride src_ld): copied where
  // the epilogue ran in the GEMM, else with the bias and activation.
  auto finish_rows = [&](T* dst, const T* src, int64_t src_ld, int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o) {
      const T* in_row = src + o * src_ld;
      T* out_row = dst + o * HWo;
      if (fused) {
        if (in_row != out_row) std::copy_n(in_row, HWo, out_row);
        continue;
      }
      const T b = bias ? bias[o] : T(0);
      for (int64_t i = 0; i < HWo; ++i) out_row[i] = detail::conv_activate(in_row[i] + b, act);
    }
  };
  if (conv2d_joins_images<T>(s)) {
    // Small maps: all images' columns side by side, one GEMM (O, B*HWo), then scatter to NCHW.
    const int64_t ld = s.B * HWo;
    T* cols = workspace;
    T* joint = workspace + rows * ld;
    detail::joint_columns(cols, inp, s);
    conv_gemm(cols, ld, joint);
    parallel_for(s.O * s.B, 8, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t b = i / s.O, o = i % s.O;
        finish_rows(out + b * s.O * HWo, joint + b * HWo, ld, o, o + 1);
      }
    });
    return;
  }
  if (direct && fused) {  // a 1x1 layer: each image's GEMM on the input as it is
    each_image([&](int64_t b) { conv_gemm(inp + b * s.C * s.H * s.W, HWo, out + b * s.O * HWo); });
    return;
  }
  for (int64_t b = 0; b < s.B; ++b) {
    const T* img = inp + b * s.C * s.H * s.W;
    T* dst = out + b * s.O * HWo;
    const T* cols = img;
    if (!direct) {
      detail::im2col(workspace, HWo, 0, img, s);
      cols = workspace;
    }
    conv_gemm(cols, HWo, dst);
    if (!fused) parallel_for(s.O, 8, [&](int64_t o0, int64_t o1) { finish_rows(dst, dst, HWo, o0, o1); });
  }
}

// A convolution followed by Darknet's [shortcut] with a linear activation (the sum of the convolution's
// output and an earlier layer's, the residual) in one pass, where the convolution runs as Winograd
// (ops/cpu/conv2d_winograd.hpp: the residual is added as the output transform stores each row) or as the
// ring (ops/cpu/conv2d_direct.hpp: added to each output row once it is finished, still in cache), so the
// convolution's output is not written and read back. conv2d_residual_fusable says where;
// conv2d_residual_forward gives the bits of conv2d_forward then the shortcut's a + b.
inline bool conv2d_residual_fusable(const Conv2dShape& s, ConvActivation act, const Conv2dPackedWeights* packed) {
  const Conv2dPath path = conv2d_float_path(s, act, packed);  // logistic: gemm
  return path == Conv2dPath::winograd || path == Conv2dPath::ring;
}

inline void conv2d_residual_forward(float* out,             // (B, O, Ho, Wo): act(conv + bias) + residual
                                    const float* inp,       // (B, C, H, W)
                                    const float* weight,    // (O, C, K, K)
                                    const float* bias,      // (O) or null
                                    const float* residual,  // (B, O, Ho, Wo), not aliasing out
                                    const Conv2dShape& s, ConvActivation act, const Conv2dPackedWeights* packed) {
  s.check();
  const Conv2dPath path = conv2d_float_path(s, act, packed);
  SIMAD_CHECK(path == Conv2dPath::winograd || path == Conv2dPath::ring,
              "conv2d_residual_forward: this convolution runs neither as Winograd nor as the ring here, so it "
              "cannot take the residual along (check conv2d_residual_fusable first)");
  SIMAD_CHECK(residual != nullptr && residual != out, "conv2d_residual_forward: the residual must be another buffer");
  const cpu::DirectConvShape ds{s.C, s.H, s.W, s.O, s.K, s.stride, s.pad};
  const bool leaky = act == ConvActivation::leaky;
  if (path == Conv2dPath::winograd)
    cpu::conv2d_winograd(out, inp, s.B, bias, leaky, ds, packed->winograd, residual);
  else
    cpu::conv2d_direct(out, inp, s.B, weight, bias, leaky, ds, packed ? &packed->gemm : nullptr, nullptr, residual,
                       conv2d_ring(s) == Conv2dRing::bf16);
}

// A convolution followed by Darknet's [maxpool] size=2 stride=2 (padding 0 or 1) in one pass, where the
// convolution runs as the ring (ops/cpu/conv2d_direct.hpp, DirectMaxPool2): the convolution's output is
// pooled from cache as it is computed and never written whole. conv2d_maxpool_fusable says where;
// conv2d_maxpool_forward gives the same bits as conv2d_forward then maxpool2d_forward.
inline bool conv2d_maxpool_fusable(const Conv2dShape& s, ConvActivation act, const Conv2dPackedWeights* packed,
                                   int64_t size, int64_t stride, int64_t padding) {
  return size == 2 && stride == 2 && (padding == 0 || padding == 1) && s.out_h() + padding >= 2 &&
         s.out_w() + padding >= 2 && act != ConvActivation::logistic &&
         conv2d_float_path(s, act, packed) == Conv2dPath::ring;
}

inline void conv2d_maxpool_forward(float* pooled,       // (B, O, Hp, Wp), Hp = maxpool2d_out_size(Ho, 2, 2, padding)
                                   const float* inp,    // (B, C, H, W)
                                   const float* weight,  // (O, C, K, K)
                                   const float* bias,    // (O) or null
                                   const Conv2dShape& s, ConvActivation act, const Conv2dPackedWeights* packed,
                                   int64_t padding) {
  s.check();
  SIMAD_CHECK(conv2d_maxpool_fusable(s, act, packed, 2, 2, padding),
              "conv2d_maxpool_forward: this convolution and 2x2 pool (padding ", padding,
              ") do not run as one pass here (check conv2d_maxpool_fusable first)");
  const cpu::DirectConvShape ds{s.C, s.H, s.W, s.O, s.K, s.stride, s.pad};
  const cpu::DirectMaxPool2 pool{pooled, maxpool2d_out_size(s.out_h(), 2, 2, padding),
                                 maxpool2d_out_size(s.out_w(), 2, 2, padding)};
  cpu::conv2d_direct(nullptr, inp, s.B, weight, bias, act == ConvActivation::leaky, ds,
                     packed ? &packed->gemm : nullptr, &pool, nullptr, conv2d_ring(s) == Conv2dRing::bf16);
}

// Scratch elements conv2d_backward needs for shape s: one image's columns (0 for a 1x1 stride-1
// unpadded convolution, which uses the input and dinp as they are). The backward stays per image:
// the joint form of the forward, tried for the backward's small maps, measured no faster in
// `simad bench detector` (conv backward 165 ms per iteration against 162).
inline int64_t conv2d_backward_workspace_size(const Conv2dShape& s) {
  const bool direct = s.K == 1 && s.stride == 1 && s.pad == 0;
  return direct ? 0 : s.C * s.K * s.K * s.out_h() * s.out_w();
}

// Gradients of out = conv(inp, weight) + bias (no activation: dout is the gradient with respect to
// the pre-activation output). Adds to dinp, dweight and dbias; any of them may be null (not
// computed). workspace: at least conv2d_backward_workspace_size(s) elements, or null to allocate
// it here.
template <typename T>
void conv2d_backward(T* dinp,          // (B, C, H, W) or null
                     T* dweight,       // (O, C, K, K) or null
                     T* dbias,         // (O) or null
                     const T* dout,    // (B, O, Ho, Wo)
                     const T* inp,     // (B, C, H, W) the forward input
                     const T* weight,  // (O, C, K, K)
                     const Conv2dShape& s, T* workspace = nullptr) {
  s.check();
  const int64_t HWo = s.out_h() * s.out_w(), rows = s.C * s.K * s.K;
  const bool direct = s.K == 1 && s.stride == 1 && s.pad == 0;
  std::vector<T> own;
  if (!workspace && conv2d_backward_workspace_size(s) > 0) {
    own.resize(size_t(conv2d_backward_workspace_size(s)));
    workspace = own.data();
  }
  if (dbias) {
    parallel_for(s.O, 8, [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o) {
        T acc = T(0);
        for (int64_t b = 0; b < s.B; ++b) {
          const T* g = dout + (b * s.O + o) * HWo;
          for (int64_t i = 0; i < HWo; ++i) acc += g[i];
        }
        dbias[o] += acc;
      }
    });
  }
  if (!dinp && !dweight) return;
  for (int64_t b = 0; b < s.B; ++b) {
    const T* img = inp + b * s.C * s.H * s.W;
    const T* g = dout + b * s.O * HWo;
    if (direct) {
      if (dweight) gemm(false, true, s.O, rows, HWo, T(1), g, HWo, img, HWo, T(1), dweight, rows);
      if (dinp) gemm(true, false, rows, HWo, s.O, T(1), weight, rows, g, HWo, T(1), dinp + b * s.C * s.H * s.W, HWo);
      continue;
    }
    if (dweight) {
      detail::im2col(workspace, HWo, 0, img, s);
      gemm(false, true, s.O, rows, HWo, T(1), g, HWo, workspace, HWo, T(1), dweight, rows);
    }
    if (dinp) {  // the columns are no longer needed: the buffer takes their gradient
      gemm(true, false, rows, HWo, s.O, T(1), weight, rows, g, HWo, T(0), workspace, HWo);
      detail::col2im_add(dinp + b * s.C * s.H * s.W, workspace, HWo, s);
    }
  }
}

}  // namespace simad::ops
