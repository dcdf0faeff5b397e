// simad/search/topk.hpp: exact k-selection of (key, id) pairs, the selection half of a top-k search.
// Order: smaller key first, and among equal keys the smaller id first. Because this order is total
// (ids are unique), the k best of a set do not depend on the order the candidates arrive in, how
// they were split between threads, or how partial lists are merged: that is what makes FlatIndex
// results independent of the thread count and of the batch a query is searched in.
//
// KSelect keeps the k best candidates seen so far in a max-heap on that order (the worst kept
// candidate on top, so a new one is compared with the top and most candidates stop there, as in
// FAISS' heaps). finish() sorts them ascending and pads to k with (fill_key, -1).
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

namespace simad::search {

template <typename T>
struct Candidate {
  T key;
  int64_t id;
};

// The selection order: (key, id) lexicographic. Keys are never NaN here (inputs are validated).
template <typename T>
inline bool better(T key_a, int64_t id_a, T key_b, int64_t id_b) {
  return key_a < key_b || (key_a == key_b && id_a < id_b);
}
template <typename T>
inline bool better(const Candidate<T>& a, const Candidate<T>& b) {
  return better(a.key, a.id, b.key, b.id);
}

// The k best candidates pushed into it, in caller-owned storage of k entries.
template <typename T>
class KSelect {
 public:
  KSelect() = default;
  // ceiling: keys above it are known not to be among the k best (a bound from elsewhere, e.g. the
  // search's prefilter) and are never kept.
  KSelect(Candidate<T>* storage, int64_t k, T ceiling = std::numeric_limits<T>::infinity())
      : heap_(storage), k_(k), ceiling_(ceiling) {}

  int64_t size() const { return size_; }
  int64_t capacity() const { return k_; }
  bool full() const { return size_ == k_; }
  // Candidates with key > threshold() can be skipped without calling push(): the ceiling until full.
  T threshold() const { return full() ? std::min(heap_[0].key, ceiling_) : ceiling_; }

  void push(T key, int64_t id) {
    if (k_ == 0 || key > ceiling_) return;
    if (!full()) {
      heap_[size_++] = {key, id};
      std::push_heap(heap_, heap_ + size_, less);
    } else if (better(key, id, heap_[0].key, heap_[0].id)) {
      std::pop_heap(heap_, heap_ + size_, less);
      heap_[size_ - 1] = {key, id};
      std::push_heap(heap_, heap_ + size_, less);
    }
  }

  std::span<const Candidate<T>> items() const { return {heap_, size_t(size_)}; }

 private:
  static bool less(const Candidate<T>& a, const Candidate<T>& b) { return better(a, b); }
  Candidate<T>* heap_ = nullptr;
  int64_t k_ = 0, size_ = 0;
  T ceiling_ = std::numeric_limits<T>::infinity();
};

// The k best of `candidates` (any order; reordered in place), ascending, written to keys/ids; slots
// beyond the candidates' count get (fill_key, -1).
template <typename T, typename K>
void select_sorted(std::span<Candidate<T>> candidates, int64_t k, K* keys, int64_t* ids, K fill_key) {
  const int64_t n = std::min<int64_t>(k, int64_t(candidates.size()));
  std::partial_sort(candidates.begin(), candidates.begin() + n, candidates.end(),
                    [](const Candidate<T>& a, const Candidate<T>& b) { return better(a, b); });
  for (int64_t j = 0; j < n; ++j) {
    keys[j] = K(candidates[size_t(j)].key);
    ids[j] = candidates[size_t(j)].id;
  }
  for (int64_t j = n; j < k; ++j) {
    keys[j] = fill_key;
    ids[j] = -1;
  }
}

}  // namespace simad::search
