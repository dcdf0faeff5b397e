// examples/index_and_query.cpp: build an exact L2 index over ad embeddings (an .npy from
// `simad embed`) and find each of the first few ads' nearest neighbours, excluding the ad itself.
//   index_and_query EMB.npy [K]
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <vector>

#include <simad/simad.hpp>

int main(int argc, char** argv) try {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s EMB.npy [K]\n", argv[0]);
    return 2;
  }
  const int64_t k = argc > 2 ? std::atoll(argv[2]) : 5;
  const simad::io::Matrix<float> emb = simad::io::read_npy(argv[1]);  // (n, d) float32

  simad::search::FlatIndex<float> index(emb.cols);  // exact squared L2
  index.add_sequential(emb.data.data(), emb.rows, 0);  // id = row

  const int64_t nq = std::min<int64_t>(emb.rows, 5);
  std::vector<int64_t> self(static_cast<size_t>(nq));
  std::iota(self.begin(), self.end(), 0);
  // Batch-invariant: each query gets bit-identical results alone or in this batch.
  const auto result = index.search(emb.data.data(), nq, k, self.data());
  for (int64_t q = 0; q < nq; ++q) {
    std::printf("ad %lld:", static_cast<long long>(q));
    for (int64_t j = 0; j < k; ++j)
      std::printf(" %lld (%.4f)", static_cast<long long>(result.labels[size_t(q * k + j)]),
                  double(result.distances[size_t(q * k + j)]));
    std::printf("\n");
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "index_and_query: %s\n", e.what());
  return 1;
}
