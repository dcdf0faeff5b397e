// simad/text/text.hpp: the text pipeline, one include.
//   utf8.hpp           UTF-8 decode/validate/repair (U+FFFD, counted), NFKC + case folding (utf8proc)
//   jieba_dict.hpp     jieba's dict.txt as a prefix trie (locating jieba: $SIMAD_JIEBA_DIR)
//   hmm_segmenter.hpp  jieba's finalseg HMM (its prob_*.py files parsed at run time)
//   segmenter.hpp      jieba.cut, byte-identical, HMM on or off
//   pos.hpp            POS tags of words, keyword labels (WordNet for English)
//   tokenizer.hpp      text -> words with tags and keyword labels (normalised)
//   vocab.hpp          word / POS-tag vocabularies with [PAD] [UNK] [CLS] [MASK]
//   encode.hpp         a batch of texts -> padded id / POS / keyword / mask tensors
#pragma once

#include "simad/text/encode.hpp"
#include "simad/text/hmm_segmenter.hpp"
#include "simad/text/jieba_dict.hpp"
#include "simad/text/pos.hpp"
#include "simad/text/segmenter.hpp"
#include "simad/text/tokenizer.hpp"
#include "simad/text/utf8.hpp"
#include "simad/text/vocab.hpp"
