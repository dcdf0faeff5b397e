// simad/ops/topk_gather.hpp: keep the k best members of each set and gather them, scaled, into a
// dense (B, k, C) block: the hard top-k of both models (ToTYEmb's pointer, eq. 8, and text-guided
// region ranking, eq. 11; ION's SCA, eq. 6) made differentiable by the scale (MODELS.md [choice]:
// the kept members are multiplied by a weight computed from their scores, so the scorer gets a
// gradient through the weight; the selection itself is piecewise constant and passes none).
//
//   topk_select(idx, scores, mask, B, S, k)                 idx[b, t] = t-th best member of set b, or -1
//   topk_gather_forward(out, inp, weight, idx, B, S, k, C)  out[b, t] = weight[b, t] * inp[b, idx[b, t]]
//   topk_gather_backward(dinp, dweight, dout, inp, weight, idx, B, S, k, C)   (accumulates)
//
// Selection: the k largest scores among the real members (mask 1), in descending order; ties go to
// the smaller index (a stable order, so results never depend on the sort's implementation). A set
// with fewer than k real members fills the remaining slots with -1: those slots output zeros and
// must be masked by the caller (topk_slot_mask).
#pragma once

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <type_traits>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/core/parallel.hpp"

namespace simad::ops {

template <typename T>
void topk_select(int32_t* idx,          // (B, k) out: member indices, -1 for empty slots
                 const T* scores,       // (B, S)
                 const uint8_t* mask,   // (B, S) 1 = real, or nullptr (all real)
                 int64_t B, int64_t S, int64_t k) {
  SIMAD_CHECK(B >= 0 && S >= 0 && k >= 0, "topk_select: negative size B=", B, " S=", S, " k=", k);
  SIMAD_CHECK(S < (int64_t(1) << 31), "topk_select: S=", S, " does not fit int32 indices");
  parallel_for(B, 64, [&](int64_t b0, int64_t b1) {
    std::vector<int32_t> order;
    for (int64_t b = b0; b < b1; ++b) {
      order.clear();
      for (int64_t s = 0; s < S; ++s)
        if (!mask || mask[b * S + s]) order.push_back(int32_t(s));
      const T* x = scores + b * S;
      const auto better = [x](int32_t a, int32_t c) { return x[a] > x[c] || (x[a] == x[c] && a < c); };
      const size_t keep = size_t(std::min<int64_t>(k, int64_t(order.size())));
      std::partial_sort(order.begin(), order.begin() + ptrdiff_t(keep), order.end(), better);
      for (int64_t t = 0; t < k; ++t) idx[b * k + t] = size_t(t) < keep ? order[size_t(t)] : -1;
    }
  });
}

// mask (B, k): 1 where the slot holds a member.
inline void topk_slot_mask(uint8_t* mask, const int32_t* idx, int64_t B, int64_t k) {
  for (int64_t i = 0; i < B * k; ++i) mask[i] = idx[i] >= 0 ? 1 : 0;
}

template <typename T>
void topk_gather_forward(T* out,              // (B, k, C)
                         const T* inp,        // (B, S, C)
                         const T* weight,     // (B, k) per-slot scale, or nullptr (1)
                         const int32_t* idx,  // (B, k) from topk_select
                         int64_t B, int64_t S, int64_t k, int64_t C) {
  static_assert(std::is_floating_point_v<T>, "topk_gather: floating-point element type");
  parallel_for(B, 16, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b)
      for (int64_t t = 0; t < k; ++t) {
        const int32_t s = idx[b * k + t];
        T* y = out + (b * k + t) * C;
        if (s < 0) {
          std::fill(y, y + C, T(0));
          continue;
        }
        SIMAD_CHECK(s < S, "topk_gather_forward: index ", s, " at (", b, ", ", t, ") is outside [0, S=", S, ")");
        const T w = weight ? weight[b * k + t] : T(1);
        const T* x = inp + (b * S + s) * C;
        for (int64_t c = 0; c < C; ++c) y[c] = w * x[c];
      }
  });
}

// dinp[b, idx] += weight * dout[b, t]; dweight[b, t] += dout[b, t] . inp[b, idx]. Either may be nullptr.
template <typename T>
void topk_gather_backward(T* dinp,             // (B, S, C) accumulated, or nullptr
                          T* dweight,          // (B, k) accumulated, or nullptr
                          const T* dout,       // (B, k, C)
                          const T* inp,        // (B, S, C) the forward's
                          const T* weight,     // (B, k) the forward's, or nullptr
                          const int32_t* idx,  // (B, k)
                          int64_t B, int64_t S, int64_t k, int64_t C) {
  static_assert(std::is_floating_point_v<T>, "topk_gather: floating-point element type");
  // One set per task: each set's slots hold distinct members, so dinp rows are written by one task.
  parallel_for(B, 16, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b)
      for (int64_t t = 0; t < k; ++t) {
        const int32_t s = idx[b * k + t];
        if (s < 0) continue;
        SIMAD_CHECK(s < S, "topk_gather_backward: index ", s, " at (", b, ", ", t, ") is outside [0, S=", S, ")");
        const T* g = dout + (b * k + t) * C;
        const T* x = inp + (b * S + s) * C;
        if (dinp) {
          const T w = weight ? weight[b * k + t] : T(1);
          T* dx = dinp + (b * S + s) * C;
          for (int64_t c = 0; c < C; ++c) dx[c] += w * g[c];
        }
        if (dweight) {
          T dot = 0;
          for (int64_t c = 0; c < C; ++c) dot += g[c] * x[c];
          dweight[b * k + t] += dot;
        }
      }
  });
}

}  // namespace simad::ops
