// simad/ops/reference/fusion_attention.hpp: the readable specification of ops/fusion_attention.hpp (same
// names, same arguments, same semantics), in plain loops with double accumulators, one thread: the
// explicit score matrix S = H W_f V^T summed over both feature indices, no U, no compaction, no tiles.
// Used by the tests; never by the library itself.
// The dual-softmax co-attention of words and image regions (ION's DFA, eq. 7-9; ToTYEmb's fusion,
// eq. 12-14, is W_f = I), per ad b with H (N, D) words, V (K, D) regions, W_f (D, D) or nullptr (I):
//   s_ij = sum_de h_id W_de v_je
//   A_ij = softmax over the real regions j of s_ij   (rows of S)      H~ = A V     h~_i = sum_j A_ij v_j
//   P_ij = softmax over the real words i of s_ij     (columns of S)   V~ = P^T H   v~_j = sum_i P_ij h_i
// Masks (B, N) and (B, K), 1 = real, 0 = padding (nullptr = none). A padded region has weight 0 in A,
// a padded word 0 in P; a padded word's row of A and a padded region's column of P are 0, so their
// outputs are 0 (and an ad with no region, or no word, outputs zeros on that side). The forward
// OVERWRITES h_out, v_out and saves A, P. The backward ACCUMULATES into dH, dV, dW_f (each nullptr:
// skipped; dW_f also when W_f is nullptr), from the saved A and P:
//   dA_ij = dh~_i . v_j                 dv_j += sum_i A_ij dh~_i
//   dP_ij = h_i . dv~_j                 dh_i += sum_j P_ij dv~_j
//   ds_ij = A_ij (dA_ij - sum_j' A_ij' dA_ij') + P_ij (dP_ij - sum_i' P_i'j dP_i'j)
//   dh_id += sum_j ds_ij sum_e W_de v_je,  dv_je += sum_i ds_ij sum_d h_id W_de,  dW_de += sum_ij ds_ij h_id v_je
// Padding needs no mask in the backward: A and P are zero there, so ds and every term are.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace simad::ops::reference {

template <typename T>
void fusion_attention_forward(T* h_out,               // (B, N, D) H~ = A V
                              T* v_out,               // (B, K, D) V~ = P^T H
                              T* probs_text,          // (B, N, K) A, saved for backward
                              T* probs_image,         // (B, N, K) P, saved for backward
                              const T* H,             // (B, N, D) word vectors
                              const T* V,             // (B, K, D) region vectors
                              const T* Wf,            // (D, D) bilinear weight, or nullptr (identity)
                              const uint8_t* h_mask,  // (B, N) 1 = word, 0 = padding; or nullptr
                              const uint8_t* v_mask,  // (B, K) 1 = region, 0 = padding; or nullptr
                              int64_t B, int64_t N, int64_t K, int64_t D) {
  std::vector<double> s(size_t(N * K));
  for (int64_t b = 0; b < B; ++b) {
    const T* h = H + b * N * D;
    const T* v = V + b * K * D;
    T* A = probs_text + b * N * K;
    T* P = probs_image + b * N * K;
    const auto word = [&](int64_t i) { return !h_mask || h_mask[b * N + i] != 0; };
    const auto region = [&](int64_t j) { return !v_mask || v_mask[b * K + j] != 0; };
    for (int64_t i = 0; i < N; ++i)
      for (int64_t j = 0; j < K; ++j) {
        double sum = 0;
        for (int64_t d = 0; d < D; ++d)
          for (int64_t e = 0; e < D; ++e)
            sum += double(h[i * D + d]) * (Wf ? double(Wf[d * D + e]) : double(d == e)) * double(v[j * D + e]);
        s[size_t(i * K + j)] = sum;
      }
    for (int64_t i = 0; i < N; ++i) {  // A: softmax of row i over the real regions
      double mx = -INFINITY, z = 0;
      for (int64_t j = 0; j < K; ++j)
        if (word(i) && region(j)) mx = std::max(mx, s[size_t(i * K + j)]);
      for (int64_t j = 0; j < K; ++j)
        if (word(i) && region(j)) z += std::exp(s[size_t(i * K + j)] - mx);
      for (int64_t j = 0; j < K; ++j)
        A[i * K + j] = word(i) && region(j) ? T(std::exp(s[size_t(i * K + j)] - mx) / z) : T(0);
    }
    for (int64_t j = 0; j < K; ++j) {  // P: softmax of column j over the real words
      double mx = -INFINITY, z = 0;
      for (int64_t i = 0; i < N; ++i)
        if (word(i) && region(j)) mx = std::max(mx, s[size_t(i * K + j)]);
      for (int64_t i = 0; i < N; ++i)
        if (word(i) && region(j)) z += std::exp(s[size_t(i * K + j)] - mx);
      for (int64_t i = 0; i < N; ++i)
        P[i * K + j] = word(i) && region(j) ? T(std::exp(s[size_t(i * K + j)] - mx) / z) : T(0);
    }
    for (int64_t i = 0; i < N; ++i)
      for (int64_t d = 0; d < D; ++d) {
        double sum = 0;
        for (int64_t j = 0; j < K; ++j) sum += double(A[i * K + j]) * double(v[j * D + d]);
        h_out[(b * N + i) * D + d] = T(sum);
      }
    for (int64_t j = 0; j < K; ++j)
      for (int64_t d = 0; d < D; ++d) {
        double sum = 0;
        for (int64_t i = 0; i < N; ++i) sum += double(P[i * K + j]) * double(h[i * D + d]);
        v_out[(b * K + j) * D + d] = T(sum);
      }
  }
}

template <typename T>
void fusion_attention_backward(T* dH,                // (B, N, D) accumulated, or nullptr
                               T* dV,                // (B, K, D) accumulated, or nullptr
                               T* dWf,               // (D, D) accumulated, or nullptr (also when Wf is)
                               const T* dh_out,      // (B, N, D) gradient of H~
                               const T* dv_out,      // (B, K, D) gradient of V~
                               const T* H,           // (B, N, D) the forward's
                               const T* V,           // (B, K, D) the forward's
                               const T* Wf,          // (D, D) the forward's, or nullptr
                               const T* probs_text,  // (B, N, K) A saved by the forward
                               const T* probs_image, // (B, N, K) P saved by the forward
                               int64_t B, int64_t N, int64_t K, int64_t D) {
  if (!Wf) dWf = nullptr;
  const auto w = [&](int64_t d, int64_t e) { return Wf ? double(Wf[d * D + e]) : double(d == e); };
  std::vector<double> dA(size_t(N * K)), dP(size_t(N * K)), ds(size_t(N * K));
  std::vector<double> gH(size_t(N * D)), gV(size_t(K * D)), gW(size_t(D * D), 0.0);
  for (int64_t b = 0; b < B; ++b) {
    const T* h = H + b * N * D;
    const T* v = V + b * K * D;
    const T* gh = dh_out + b * N * D;
    const T* gv = dv_out + b * K * D;
    const T* A = probs_text + b * N * K;
    const T* P = probs_image + b * N * K;
    std::fill(gH.begin(), gH.end(), 0.0);
    std::fill(gV.begin(), gV.end(), 0.0);
    for (int64_t i = 0; i < N; ++i)
      for (int64_t j = 0; j < K; ++j) {
        double a = 0, p = 0;
        for (int64_t d = 0; d < D; ++d) a += double(gh[i * D + d]) * double(v[j * D + d]);
        for (int64_t d = 0; d < D; ++d) p += double(h[i * D + d]) * double(gv[j * D + d]);
        dA[size_t(i * K + j)] = a;
        dP[size_t(i * K + j)] = p;
        for (int64_t d = 0; d < D; ++d) gV[size_t(j * D + d)] += double(A[i * K + j]) * double(gh[i * D + d]);
        for (int64_t d = 0; d < D; ++d) gH[size_t(i * D + d)] += double(P[i * K + j]) * double(gv[j * D + d]);
      }
    for (int64_t i = 0; i < N; ++i) {  // the row softmax's Jacobian
      double dot = 0;
      for (int64_t j = 0; j < K; ++j) dot += double(A[i * K + j]) * dA[size_t(i * K + j)];
      for (int64_t j = 0; j < K; ++j) ds[size_t(i * K + j)] = double(A[i * K + j]) * (dA[size_t(i * K + j)] - dot);
    }
    for (int64_t j = 0; j < K; ++j) {  // the column softmax's Jacobian
      double dot = 0;
      for (int64_t i = 0; i < N; ++i) dot += double(P[i * K + j]) * dP[size_t(i * K + j)];
      for (int64_t i = 0; i < N; ++i) ds[size_t(i * K + j)] += double(P[i * K + j]) * (dP[size_t(i * K + j)] - dot);
    }
    for (int64_t i = 0; i < N; ++i)
      for (int64_t j = 0; j < K; ++j) {
        const double g = ds[size_t(i * K + j)];
        for (int64_t d = 0; d < D; ++d)
          for (int64_t e = 0; e < D; ++e) {
            gH[size_t(i * D + d)] += g * w(d, e) * double(v[j * D + e]);
            gV[size_t(j * D + e)] += g * double(h[i * D + d]) * w(d, e);
            gW[size_t(d * D + e)] += g * double(h[i * D + d]) * double(v[j * D + e]);
          }
      }
    if (dH)
      for (int64_t k = 0; k < N * D; ++k) dH[b * N * D + k] = T(double(dH[b * N * D + k]) + gH[size_t(k)]);
    if (dV)
      for (int64_t k = 0; k < K * D; ++k) dV[b * K * D + k] = T(double(dV[b * K * D + k]) + gV[size_t(k)]);
  }
  if (dWf)
    for (int64_t k = 0; k < D * D; ++k) dWf[k] = T(double(dWf[k]) + gW[size_t(k)]);
}

}  // namespace simad::ops::reference
