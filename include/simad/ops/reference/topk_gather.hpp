// simad/ops/reference/topk_gather.hpp: the readable specification of ops/topk_gather.hpp (same names,
// same arguments, same semantics), in plain loops, one thread. Used by the tests; never by the library.
// Keep the k best members of each set and gather them, scaled, into a dense (B, k, C) block (ToTYEmb's
// pointer, eq. 8; text-guided region ranking, eq. 11; ION's SCA, eq. 6; the scale is MODELS.md [choice]):
//   topk_select(idx, scores, mask, B, S, k)                 idx[b, t] = t-th best member of set b, or -1
//   topk_gather_forward(out, inp, weight, idx, B, S, k, C)  out[b, t] = weight[b, t] * inp[b, idx[b, t]]
//   topk_gather_backward(dinp, dweight, dout, inp, weight, idx, B, S, k, C)   (ACCUMULATES)
//     dinp[b, idx[b, t]] += weight[b, t] dout[b, t],   dweight[b, t] += dout[b, t] . inp[b, idx[b, t]]
// Selection: the k largest scores among the real members (mask 1; nullptr = all real), in descending
// order, ties to the smaller index. Slots beyond the real members hold -1 and output zeros. weight
// nullptr = 1; dinp or dweight nullptr = skipped.
#pragma once

#include <cstdint>

namespace simad::ops::reference {

template <typename T>
void topk_select(int32_t* idx,         // (B, k) out: member indices, -1 for empty slots
                 const T* scores,      // (B, S)
                 const uint8_t* mask,  // (B, S) 1 = real, or nullptr (all real)
                 int64_t B, int64_t S, int64_t k) {
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < k; ++t) {
      // The best real member not already taken by slots 0..t-1 (strict >: the smaller index wins ties).
      int32_t best = -1;
      for (int64_t s = 0; s < S; ++s) {
        if (mask && !mask[b * S + s]) continue;
        bool taken = false;
        for (int64_t u = 0; u < t; ++u) taken = taken || idx[b * k + u] == s;
        if (taken) continue;
        if (best == -1 || scores[b * S + s] > scores[b * S + best]) best = int32_t(s);
      }
      idx[b * k + t] = best;
    }
}

// mask (B, k): 1 where the slot holds a member.
inline void topk_slot_mask(uint8_t* mask, const int32_t* idx, int64_t B, int64_t k) {
  for (int64_t i = 0; i < B * k; ++i) mask[i] = idx[i] >= 0 ? 1 : 0;
}

template <typename T>
void topk_gather_forward(T* out,              // (B, k, C)
                         const T* inp,        // (B, S, C)
                         const T* weight,     // (B, k) or nullptr (1)
                         const int32_t* idx,  // (B, k) from topk_select
                         int64_t B, int64_t S, int64_t k, int64_t C) {
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < k; ++t) {
      const int32_t s = idx[b * k + t];
      const double w = weight ? double(weight[b * k + t]) : 1.0;
      for (int64_t c = 0; c < C; ++c) out[(b * k + t) * C + c] = s < 0 ? T(0) : T(w * double(inp[(b * S + s) * C + c]));
    }
}

template <typename T>
void topk_gather_backward(T* dinp,             // (B, S, C) or nullptr
                          T* dweight,          // (B, k) or nullptr
                          const T* dout,       // (B, k, C)
                          const T* inp,        // (B, S, C) the forward's
                          const T* weight,     // (B, k) the forward's, or nullptr
                          const int32_t* idx,  // (B, k)
                          int64_t B, int64_t S, int64_t k, int64_t C) {
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < k; ++t) {
      const int32_t s = idx[b * k + t];
      if (s < 0) continue;
      const T* g = dout + (b * k + t) * C;
      const T* x = inp + (b * S + s) * C;
      if (dinp) {
        const double w = weight ? double(weight[b * k + t]) : 1.0;
        T* dx = dinp + (b * S + s) * C;
        for (int64_t c = 0; c < C; ++c) dx[c] = T(double(dx[c]) + w * double(g[c]));
      }
      if (dweight) {
        double dot = 0;
        for (int64_t c = 0; c < C; ++c) dot += double(g[c]) * double(x[c]);
        dweight[b * k + t] = T(double(dweight[b * k + t]) + dot);
      }
    }
}

}  // namespace simad::ops::reference
