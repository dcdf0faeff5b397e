// simad/train/sampler.hpp: which examples go into which batch, one epoch at a time.
//
//   BatchSampler s = BatchSampler::plain(n, 32, seed);             // ToTYEmb: shuffled, cut in 32s
//   BatchSampler s = BatchSampler::pk(labels, 8, 4, seed);         // ION: P = 8 classes x K = 4 ads
//   for (const std::vector<int64_t>& batch : s.epoch(e)) ...       // indices into the example list
//
// The batches of epoch e are a pure function of (seed, e) (a Philox substream per epoch), so the
// sampler's whole state for a resume is (epoch, batch index): the trainer regenerates the epoch and
// skips the batches already done.
//
// Plain: Fisher-Yates over all examples, cut into batches of batch_size; the last partial batch is
// kept (every example is seen exactly once per epoch).
// P x K (batch-hard triplet loss needs positives and negatives in every batch): examples grouped by
// label (label -1 excluded); a class with a single example has no positive, so it is skipped and
// counted. Each epoch shuffles the members of each class and cuts them into chunks of K (a last
// chunk of one ad, which would have no positive, joins the class' previous chunk), shuffles all
// chunks, and puts P chunks in each batch. An epoch is one pass over every labelled example (as a
// plain epoch is), so "30 epochs" means what it means for the papers. A last batch of a single chunk
// would have no negative: it joins the previous batch; a smaller last batch of >= 2 chunks is kept.
// Two chunks of one class may share a batch (more positives; the loss takes the hardest anyway).
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <span>
#include <utility>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/core/rng.hpp"

namespace simad::train {

class BatchSampler {
 public:
  // The Philox stream of the shuffles (epoch e uses its substream e), apart from the trainer's
  // other streams of the same seed.
  static constexpr uint64_t kStream = 0x5A3B1E5u;

  // Shuffled batches of batch_size over num_examples examples.
  static BatchSampler plain(int64_t num_examples, int64_t batch_size, uint64_t seed) {
    SIMAD_CHECK(num_examples >= 0, "BatchSampler: negative example count ", num_examples);
    SIMAD_CHECK(batch_size >= 1, "BatchSampler: batch_size must be >= 1, got ", batch_size);
    check_shufflable(num_examples);
    BatchSampler s;
    s.seed_ = seed, s.n_ = num_examples, s.batch_size_ = batch_size;
    return s;
  }

  // P x K batches over examples with these labels (one per example; -1 = no class).
  static BatchSampler pk(std::span<const int32_t> labels, int64_t classes_per_batch, int64_t ads_per_class,
                         uint64_t seed) {
    SIMAD_CHECK(classes_per_batch >= 1 && ads_per_class >= 1, "BatchSampler: P x K sampling needs P >= 1 and K >= 1, got P=",
                classes_per_batch, " K=", ads_per_class);
    check_shufflable(int64_t(labels.size()));
    BatchSampler s;
    s.pk_ = true, s.seed_ = seed, s.n_ = int64_t(labels.size());
    s.P_ = classes_per_batch, s.K_ = ads_per_class;
    std::map<int32_t, std::vector<int64_t>> by_label;  // ordered: the class list does not depend on input order
    for (size_t i = 0; i < labels.size(); ++i) {
      if (labels[i] < 0) {
        ++s.unlabelled_;
        continue;
      }
      by_label[labels[i]].push_back(int64_t(i));
    }
    for (auto& [label, members] : by_label) {
      if (members.size() < 2) {
        ++s.singletons_;
        continue;
      }
      s.class_labels_.push_back(label);
      s.members_.push_back(std::move(members));
    }
    return s;
  }

  bool is_pk() const { return pk_; }
  uint64_t seed() const { return seed_; }
  int64_t num_examples() const { return n_; }
  int64_t batch_size() const { return batch_size_; }        // plain
  int64_t classes_per_batch() const { return P_; }          // P x K
  int64_t ads_per_class() const { return K_; }
  int64_t num_classes() const { return int64_t(members_.size()); }  // P x K: classes used (>= 2 examples)
  int64_t skipped_classes() const { return singletons_; }   // P x K: classes of a single example
  int64_t unlabelled() const { return unlabelled_; }        // P x K: examples with label -1
  const std::vector<int32_t>& class_labels() const { return class_labels_; }

  // Batches per epoch (the same for every epoch).
  int64_t batches_per_epoch() const {
    if (!pk_) return (n_ + batch_size_ - 1) / batch_size_;
    const int64_t G = num_chunks(), full = G / P_, rest = G % P_;
    return full + (rest >= 2 || (rest == 1 && full == 0) ? 1 : 0);
  }
  // Examples per epoch: all of them (plain), every member of a class of >= 2 (P x K).
  int64_t examples_per_epoch() const {
    if (!pk_) return n_;
    int64_t n = 0;
    for (const auto& m : members_) n += int64_t(m.size());
    return n;
  }
  // P x K: chunks of K per epoch (a class of m members gives m / K chunks, one more for a remainder >= 2).
  int64_t num_chunks() const {
    int64_t g = 0;
    for (const auto& m : members_) g += chunks_of(int64_t(m.size()));
    return g;
  }

  // The batches of epoch e (e >= 0): example indices.
  std::vector<std::vector<int64_t>> epoch(int64_t e) const {
    SIMAD_CHECK(e >= 0, "BatchSampler: negative epoch ", e);
    Rng rng = Rng(seed_, kStream).substream(uint64_t(e));
    std::vector<std::vector<int64_t>> batches;
    batches.reserve(size_t(batches_per_epoch()));
    if (!pk_) {
      std::vector<int64_t> order(static_cast<size_t>(n_));
      for (int64_t i = 0; i < n_; ++i) order[size_t(i)] = i;
      shuffle(order, rng);
      for (int64_t b = 0; b < n_; b += batch_size_)
        batches.emplace_back(order.begin() + b, order.begin() + std::min(n_, b + batch_size_));
      return batches;
    }
    // Members shuffled in class-index order (not batch order), so each class' draw is fixed by
    // the epoch alone; then cut into chunks of K.
    std::vector<std::vector<int64_t>> chunks;
    for (std::vector<int64_t> m : members_) {
      shuffle(m, rng);
      const int64_t size = int64_t(m.size()), count = chunks_of(size);
      for (int64_t g = 0; g < count; ++g) {
        const int64_t begin = g * K_, end = g + 1 == count ? size : begin + K_;  // the last takes a lone one
        chunks.emplace_back(m.begin() + begin, m.begin() + end);
      }
    }
    std::vector<int64_t> order(chunks.size());
    for (size_t g = 0; g < order.size(); ++g) order[g] = int64_t(g);
    shuffle(order, rng);
    const int64_t G = int64_t(chunks.size()), nb = batches_per_epoch();
    for (int64_t b = 0; b < nb; ++b) {
      const int64_t begin = b * P_;
      const int64_t end = b + 1 == nb ? G : begin + P_;  // the last batch takes a lone last chunk
      std::vector<int64_t> batch;
      for (int64_t g = begin; g < end; ++g) {
        const auto& c = chunks[size_t(order[size_t(g)])];
        batch.insert(batch.end(), c.begin(), c.end());
      }
      batches.push_back(std::move(batch));
    }
    return batches;
  }

 private:
  BatchSampler() = default;

  // Chunks of K from m >= 2 members: a remainder of 1 joins the last full chunk.
  int64_t chunks_of(int64_t m) const { return std::max<int64_t>(1, m / K_ + (m % K_ >= 2 ? 1 : 0)); }

  static void check_shufflable(int64_t n) {
    SIMAD_CHECK(n <= int64_t(std::numeric_limits<uint32_t>::max()), "BatchSampler: ", n,
                " examples exceed the shuffle's limit of 2^32 - 1");
  }
  // Fisher-Yates from the back: position i swaps with a uniform j in [0, i].
  static void shuffle(std::vector<int64_t>& v, Rng& rng) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.next_below(uint32_t(i))]);
  }

  bool pk_ = false;
  uint64_t seed_ = 0;
  int64_t n_ = 0, batch_size_ = 0, P_ = 0, K_ = 0;
  int64_t singletons_ = 0, unlabelled_ = 0;
  std::vector<int32_t> class_labels_;          // label of class c (ascending)
  std::vector<std::vector<int64_t>> members_;  // example indices of class c (ascending)
};

}  // namespace simad::train
