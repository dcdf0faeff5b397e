// tests/cuda/kernels/test_runtime.cpp: simad/cuda/runtime.hpp: SIMAD_CUDA_CHECK's message, Device::cuda
// tensors (the registered cudaMalloc allocator), to_device / to_host / copy, Stream and Event.
// Runs under the SIMT emulator (tests/cuda) and natively with a GPU (tests/cuda/native).
#include <cuda_runtime.h>

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/core/tensor.hpp"
#include "simad/cuda/runtime.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {
using simad::testing::error_of;

using simad::Device;
using simad::Tensor;
namespace cuda = simad::cuda;

}  // namespace

TEST_CASE("cuda/runtime: SIMAD_CUDA_CHECK names the call the CUDA error and the source line") {
  const int line = __LINE__ + 1;
  const std::string message = error_of([] { SIMAD_CUDA_CHECK(cudaSetDevice(12345)); });
  INFO(message);
  CHECK(message.find("cudaSetDevice(12345)") != std::string::npos);
  CHECK(message.find("cudaErrorInvalidDevice") != std::string::npos);
  CHECK(message.find(cudaGetErrorString(cudaErrorInvalidDevice)) != std::string::npos);
  CHECK(message.find("tests/cuda/kernels/test_runtime.cpp:" + std::to_string(line)) != std::string::npos);
  CHECK(cudaGetLastError() == cudaSuccess);  // the check cleared the error
  CHECK_NOTHROW(SIMAD_CUDA_CHECK(cudaDeviceSynchronize()));
}

TEST_CASE("cuda/runtime: has_cuda_device is true where the kernel tests run") {
  // Natively these tests only run with a device (tests/cuda/native's main skips them otherwise);
  // the emulator always has its one device.
  CHECK(cuda::has_cuda_device());
}

TEST_CASE("cuda/runtime: Device::cuda tensors round-trip through to_device and to_host") {
  auto rng = simad::testing::test_rng();
  const Tensor<float> h = simad::testing::random_tensor<float>(rng, {3, 5, 7});
  const Tensor<float> d = cuda::to_device(h);
  CHECK(d.device() == Device::cuda);
  CHECK(d.shape() == h.shape());
  CHECK(d.data() != h.data());
  const Tensor<float> back = cuda::to_host(d);
  CHECK(back.device() == Device::cpu);
  CHECK(back.shape() == h.shape());
  CHECK(std::vector<float>(back.data(), back.data() + back.numel()) ==
        std::vector<float>(h.data(), h.data() + h.numel()));

  // device -> device, into a view of a larger device tensor, and back
  const Tensor<float> big = Tensor<float>::empty({2 * 105}, Device::cuda);
  const Tensor<float> second = big.view(105, {105});
  cuda::copy(second, d);
  const Tensor<float> back2 = cuda::to_host(second.reshape({3, 5, 7}));
  CHECK(std::vector<float>(back2.data(), back2.data() + back2.numel()) ==
        std::vector<float>(h.data(), h.data() + h.numel()));

  // doubles, an empty tensor, host -> host
  const Tensor<double> hd = Tensor<double>::full({4}, 2.5);
  CHECK(cuda::to_host(cuda::to_device(hd))(3) == 2.5);
  const Tensor<float> empty = Tensor<float>::empty({0, 4}, Device::cuda);
  CHECK(cuda::to_host(empty).numel() == 0);
  const Tensor<float> h2 = Tensor<float>::empty({3, 5, 7});
  cuda::copy(h2, h);
  CHECK(h2(2, 4, 6) == h(2, 4, 6));
}

TEST_CASE("cuda/runtime: copy between tensors of different sizes throws") {
  const Tensor<float> a = Tensor<float>::empty({4}, Device::cuda), b = Tensor<float>::empty({5}, Device::cuda);
  CHECK_THROWS_WITH_AS(cuda::copy(a, b), doctest::Contains("element counts differ"), simad::Error);
  CHECK_THROWS_AS(cuda::to_device(Tensor<float>()), simad::Error);
}

TEST_CASE("cuda/runtime: Stream and Event order work and time it") {
  cuda::Stream stream;
  CHECK(stream.get() != nullptr);
  cuda::Event start, stop;
  const Tensor<float> h = Tensor<float>::full({1000}, 1.5f);
  start.record(stream);
  const Tensor<float> d = cuda::to_device(h, stream);
  const Tensor<float> back = cuda::to_host(d, stream);
  stop.record(stream);
  const float ms = cuda::elapsed_ms(start, stop);
  CHECK(ms >= 0.0f);
  CHECK(back(999) == 1.5f);
  stream.synchronize();

  cuda::Stream moved = std::move(stream);
  CHECK(moved.get() != nullptr);
  CHECK(stream.get() == nullptr);  // NOLINT(bugprone-use-after-move): a moved-from Stream is empty
}

}  // namespace SIMAD_TEST_FILE_ID
