// The install test's simad::kernels consumer: a program that only links simad::kernels runs the row
// softmax on Device::cuda tensors (kernels/softmax.cu: on a GPU, or on the CPU under the emulator, as
// simad was built) and checks it against a double-precision softmax computed here on random inputs.
// Exit code 0 = correct, 1 = wrong, 77 = no CUDA device (a real-CUDA build on a machine without a GPU).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#include <simad/cuda/runtime.hpp>
#include <simad/ops/dispatch/softmax.hpp>

#if !defined(SIMAD_HAVE_CUDA_KERNELS)
#error "simad::kernels should define SIMAD_HAVE_CUDA_KERNELS for its consumers"
#endif

namespace {

// Softmax of (N, C) on the device against a double reference; true when every element is close.
bool check_softmax(std::mt19937& gen, int64_t N, int64_t C) {
  std::uniform_real_distribution<float> dist(-8.0f, 8.0f);
  std::vector<float> x(std::size_t(N * C));
  for (float& v : x) v = dist(gen);

  const auto host = simad::Tensor<float>::from({N, C}, x);
  const auto inp = simad::cuda::to_device(host);
  const auto out = simad::Tensor<float>::empty({N, C}, simad::Device::cuda);
  simad::ops::softmax_forward(out, inp);  // Device::cuda tensors: the simad::kernels launcher
  const auto got = simad::cuda::to_host(out);

  int bad = 0;
  for (int64_t i = 0; i < N; ++i) {
    const float* row = x.data() + i * C;
    double max = row[0], sum = 0;
    for (int64_t j = 1; j < C; ++j) max = std::fmax(max, double(row[j]));
    for (int64_t j = 0; j < C; ++j) sum += std::exp(double(row[j]) - max);
    for (int64_t j = 0; j < C; ++j) {
      const double want = std::exp(double(row[j]) - max) / sum;
      const double g = got.data()[i * C + j];
      if (!(std::fabs(g - want) <= 1e-6 + 1e-5 * std::fabs(want)) && bad++ < 5)
        std::printf("kernels consumer: softmax (%lld x %lld) [%lld, %lld] = %.9g, expected %.9g\n", (long long)N,
                    (long long)C, (long long)i, (long long)j, g, want);
    }
  }
  return bad == 0;
}

}  // namespace

int main() {
  if (!simad::cuda::has_cuda_device()) {
    std::printf("kernels consumer: skipped: no CUDA device\n");
    return 77;
  }
  const unsigned seed = std::random_device{}();
  std::mt19937 gen(seed);
  // C <= 1024 runs one warp per row, longer rows one block per row: one shape for each kernel.
  const bool ok = check_softmax(gen, 37, 300) && check_softmax(gen, 3, 1500);
  if (!ok) {
    std::printf("kernels consumer: FAILED (seed %u)\n", seed);
    return 1;
  }
  std::printf("kernels consumer: ok\n");
  return 0;
}
