// simad/ops/reference/attention.hpp: the readable specification of ops/attention.hpp (same names, same
// arguments, same semantics), in plain loops with double accumulators, one thread: the explicit score
// row and softmax, no streaming, no tiles. Used by the tests; never by the library itself.
// Multi-head scaled dot-product self-attention with a key padding mask ("Attention Is All You Need"
// eq. 1), per sequence b and head h (hs = C / NH, scale = 1 / sqrt(hs)):
//   s_ij = scale q_i . k_j  over the kept keys j,   p_ij = softmax_j(s_ij),   o_i = sum_j p_ij v_j
// qkv (B, N, 3C): row (b, i) holds q_i | k_i | v_i, head h owns columns [h hs, (h + 1) hs) of each third;
// out (B, N, C) puts head h in the same columns. mask (B, N): 1 = real token, 0 = padding (nullptr =
// none); padded KEYS get no weight, every query row gets an output. A sequence whose keys are all
// padded outputs zeros and gets zero gradient. The forward OVERWRITES out and saves
// lse_i = log sum_j exp(s_ij) (B, NH, N) (+infinity where every key is padded). Backward ACCUMULATES
// into dqkv (nullptr: skipped), from the saved out and lse:
//   p_ij = exp(s_ij - lse_i),  D_i = dO_i . O_i,  ds_ij = p_ij (dO_i . v_j - D_i)
//   dv_j += sum_i p_ij dO_i,   dq_i += scale sum_j ds_ij k_j,   dk_j += scale sum_i ds_ij q_i
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace simad::ops::reference {

template <typename T>
void attention_forward(T* out,               // (B, N, C)
                       T* lse,               // (B, NH, N) log-sum-exp of each score row
                       const T* qkv,         // (B, N, 3C) q | k | v
                       const uint8_t* mask,  // (B, N) 1 = token, 0 = padding; or nullptr
                       int64_t B, int64_t N, int64_t C, int64_t NH) {
  const int64_t hs = C / NH;
  const double scale = 1.0 / std::sqrt(double(hs));
  std::vector<double> s(static_cast<size_t>(N));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < NH; ++h)
      for (int64_t i = 0; i < N; ++i) {
        const T* q = qkv + (b * N + i) * 3 * C + h * hs;
        T* o = out + (b * N + i) * C + h * hs;
        bool any = false;
        double row_max = 0;
        for (int64_t j = 0; j < N; ++j) {
          if (mask && !mask[b * N + j]) continue;
          const T* k = qkv + (b * N + j) * 3 * C + C + h * hs;
          double dot = 0;
          for (int64_t d = 0; d < hs; ++d) dot += double(q[d]) * double(k[d]);
          s[size_t(j)] = scale * dot;
          row_max = any ? std::fmax(row_max, s[size_t(j)]) : s[size_t(j)];
          any = true;
        }
        if (!any) {  // every key padded: zeros
          for (int64_t d = 0; d < hs; ++d) o[d] = T(0);
          lse[(b * NH + h) * N + i] = std::numeric_limits<T>::infinity();
          continue;
        }
        double sum = 0;
        for (int64_t j = 0; j < N; ++j)
          if (!mask || mask[b * N + j]) sum += std::exp(s[size_t(j)] - row_max);
        for (int64_t d = 0; d < hs; ++d) {
          double acc = 0;
          for (int64_t j = 0; j < N; ++j)
            if (!mask || mask[b * N + j])
              acc += std::exp(s[size_t(j)] - row_max) / sum * double(qkv[(b * N + j) * 3 * C + 2 * C + h * hs + d]);
          o[d] = T(acc);
        }
        lse[(b * NH + h) * N + i] = T(row_max + std::log(sum));
      }
}

template <typename T>
void attention_backward(T* dqkv,              // (B, N, 3C) or nullptr
                        const T* dout,        // (B, N, C)
                        const T* qkv,         // (B, N, 3C) the forward input
                        const T* out,         // (B, N, C) the forward output
                        const T* lse,         // (B, NH, N) saved by the forward
                        const uint8_t* mask,  // (B, N) the forward's, or nullptr
                        int64_t B, int64_t N, int64_t C, int64_t NH) {
  if (!dqkv) return;
  const int64_t hs = C / NH;
  const double scale = 1.0 / std::sqrt(double(hs));
  std::vector<double> g(static_cast<size_t>(B * N * 3 * C), 0.0);  // the gradient, summed in double
  auto at = [&](int64_t b, int64_t i, int64_t part, int64_t h) { return (b * N + i) * 3 * C + part * C + h * hs; };
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < NH; ++h)
      for (int64_t i = 0; i < N; ++i) {
        const double L = double(lse[(b * NH + h) * N + i]);
        if (std::isinf(L)) continue;  // every key padded: no gradient
        const T* dO = dout + (b * N + i) * C + h * hs;
        const T* O = out + (b * N + i) * C + h * hs;
        double D = 0;
        for (int64_t d = 0; d < hs; ++d) D += double(dO[d]) * double(O[d]);
        for (int64_t j = 0; j < N; ++j) {
          if (mask && !mask[b * N + j]) continue;
          const T* q = qkv + at(b, i, 0, h);
          const T* k = qkv + at(b, j, 1, h);
          const T* v = qkv + at(b, j, 2, h);
          double qk = 0, dp = 0;
          for (int64_t d = 0; d < hs; ++d) {
            qk += double(q[d]) * double(k[d]);
            dp += double(dO[d]) * double(v[d]);
          }
          const double p = std::exp(scale * qk - L);
          const double ds = p * (dp - D);
          for (int64_t d = 0; d < hs; ++d) {
            g[size_t(at(b, i, 0, h) + d)] += scale * ds * double(k[d]);  // dq_i
            g[size_t(at(b, j, 1, h) + d)] += scale * ds * double(q[d]);  // dk_j
            g[size_t(at(b, j, 2, h) + d)] += p * double(dO[d]);          // dv_j
          }
        }
      }
  for (int64_t x = 0; x < B * N * 3 * C; ++x) dqkv[x] = T(double(dqkv[x]) + g[size_t(x)]);
}

}  // namespace simad::ops::reference
