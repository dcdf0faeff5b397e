// The consumer program of the install test: uses the library as an outside project would and
// checks a result it can verify by hand (exit code 0 = correct).
#include <cmath>
#include <cstdio>

#include <simad/simad.hpp>

int main() {
  // C = A B with A = [[1,2],[3,4]], B = [[5,6],[7,8]] -> [[19,22],[43,50]].
  auto A = simad::Tensor<float>::from({2, 2}, {1, 2, 3, 4});
  auto B = simad::Tensor<float>::from({2, 2}, {5, 6, 7, 8});
  auto C = simad::Tensor<float>::full({2, 2}, NAN);
  simad::ops::matmul(C, A, B);
  const float expected[4] = {19, 22, 43, 50};
  for (int i = 0; i < 4; ++i)
    if (C.data()[i] != expected[i]) {
      std::printf("consumer: C[%d] = %g, expected %g\n", i, double(C.data()[i]), double(expected[i]));
      return 1;
    }
  try {
    simad::ops::matmul(C, A, simad::Tensor<float>::zeros({3, 2}));
    std::printf("consumer: a shape mismatch did not throw\n");
    return 1;
  } catch (const simad::Error& e) {
    std::printf("consumer: shape mismatch reported: %s\n", e.what());
  }
  std::printf("consumer: ok\n");
  return 0;
}
