// simad/text/encode.hpp: a batch of tokenized texts -> the padded tensors a text encoder takes.
//
//   ids      (B, L) int32   word ids (Vocab; [UNK] for unknown words, [PAD] = 0 after the end)
//   pos      (B, L) int32   POS-tag ids (a second Vocab over tags, same specials)
//   keyword  (B, L) int32   1 keyword, 0 other, -1 where there is no word ([CLS], padding): the
//                           ignore index of the keyword loss
//   mask     (B, L) uint8   1 for real positions ([CLS] included), 0 for padding
// L = max_len. With add_cls, position 0 is [CLS] (id and POS id kCls) and the words follow. Texts
// longer than L (counting [CLS]) are truncated at the end; `truncated` counts them.
#pragma once

#include <cstdint>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/core/tensor.hpp"
#include "simad/text/tokenizer.hpp"
#include "simad/text/vocab.hpp"

namespace simad::text {

struct EncodedBatch {
  Tensor<int32_t> ids;      // (B, L)
  Tensor<int32_t> pos;      // (B, L)
  Tensor<int32_t> keyword;  // (B, L), -1 = ignore
  Tensor<uint8_t> mask;     // (B, L)
  std::vector<int64_t> lengths;  // real positions per text (<= L)
  size_t truncated = 0;
};

inline constexpr int32_t kKeywordIgnore = -1;

inline EncodedBatch encode_batch(const std::vector<std::vector<Word>>& texts, const Vocab& words,
                                 const Vocab& tags, int64_t max_len, bool add_cls = true) {
  SIMAD_CHECK(max_len >= (add_cls ? 2 : 1), "encode_batch: max_len ", max_len, " too small");
  SIMAD_CHECK(!texts.empty(), "encode_batch: empty batch");
  const auto B = int64_t(texts.size()), L = max_len;
  EncodedBatch e;
  e.ids = Tensor<int32_t>::full({B, L}, Vocab::kPad);
  e.pos = Tensor<int32_t>::full({B, L}, Vocab::kPad);
  e.keyword = Tensor<int32_t>::full({B, L}, kKeywordIgnore);
  e.mask = Tensor<uint8_t>::full({B, L}, 0);
  e.lengths.assign(size_t(B), 0);
  int32_t* ids = e.ids.data();
  int32_t* pos = e.pos.data();
  int32_t* kw = e.keyword.data();
  uint8_t* mask = e.mask.data();
  for (int64_t b = 0; b < B; ++b) {
    const std::vector<Word>& t = texts[size_t(b)];
    int64_t l = 0;
    const int64_t row = b * L;
    if (add_cls) {
      ids[row] = Vocab::kCls;
      pos[row] = Vocab::kCls;
      mask[row] = 1;
      l = 1;
    }
    if (int64_t(t.size()) > L - l) ++e.truncated;
    for (size_t i = 0; i < t.size() && l < L; ++i, ++l) {
      ids[row + l] = words.id(t[i].text);
      pos[row + l] = tags.id(t[i].tag);
      kw[row + l] = t[i].keyword;
      mask[row + l] = 1;
    }
    e.lengths[size_t(b)] = l;
  }
  return e;
}

}  // namespace simad::text
