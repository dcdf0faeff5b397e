// benchmarks/cuda/bench_darknet_cuda.cpp: simad's CUDA convolution (kernels/conv2d.cu) beside cuDNN on every
// distinct convolution of yolov3-416 and yolov3-tiny-416, and whole networks on the GPU (nn/darknet_cuda.hpp).
//   simad_bench_darknet_cuda [--trials N] [--quick]
// Layer rows, batch 1 and 8: simad's implicit GEMM with its fused bias + leaky, in fp32 and in bf16 on tensor
// cores, against cuDNN's cudnnConvolutionForward with the fastest algorithm cudnnFindConvolutionForwardAlgorithm
// measures, plus cudnnAddTensor for the bias (cuDNN's legacy API has no leaky activation: the peer does
// slightly less work), in two math modes: FMA (fp32 throughout, simad fp32's arithmetic: the first ratio)
// and DEFAULT (cuDNN may use TF32 tensor cores: the second ratio, against simad bf16; TF32 keeps 10 mantissa
// bits, bf16 7, so the peer is the more precise there). Before timing, each row checks simad fp32's output
// against cuDNN FMA's (the leaky applied on the host) and prints the largest relative difference. Trials are
// interleaved (simad fp32, cuDNN FMA, simad bf16, cuDNN DEFAULT, ...); each is 10 launches between CUDA
// events; the median trial is reported.
// Network rows: CudaDarknetNetwork::forward (random weights), fp32 and bf16 convolutions, at batch 1, 8, 64
// (--quick: 1 and 8), images/s.
// Without a CUDA device it says so and exits 0: nothing is measured.
#include <cuda_runtime.h>

#if defined(SIMAD_HAVE_CUDNN)
#include <cudnn.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "simad/core/rng.hpp"
#include "simad/core/tensor.hpp"
#include "simad/cuda/kernels/conv2d.hpp"
#include "gpu_bench.hpp"
#include "simad/cuda/runtime.hpp"
#include "simad/io/darknet.hpp"
#include "simad/nn/darknet.hpp"
#include "simad/nn/darknet_cuda.hpp"
#include "simad/nn/yolov3_configs.hpp"

namespace {

using simad::bench::median;
using simad::bench::time_ms;

using simad::ops::Conv2dShape;

#if defined(SIMAD_HAVE_CUDNN)
#define CUDNN_OK(call)                                                                                     \
  do {                                                                                                     \
    const cudnnStatus_t s_ = (call);                                                                       \
    if (s_ != CUDNN_STATUS_SUCCESS) {                                                                      \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudnnGetErrorString(s_));        \
      std::exit(1);                                                                                        \
    }                                                                                                      \
  } while (0)
#endif


std::vector<Conv2dShape> distinct_convs(int64_t B) {
  std::map<std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t>, Conv2dShape> rows;
  for (const auto& cfg : {simad::nn::yolov3_config(416, 416, 80), simad::nn::yolov3_tiny_config(416, 416, 80)})
    for (const auto& l : cfg.layers)
      if (const auto* c = l.as<simad::io::darknet::Convolutional>())
        rows[{l.in.c, l.in.h, c->filters, c->size, c->stride, c->padding}] =
            Conv2dShape{B, l.in.c, l.in.h, l.in.w, c->filters, c->size, c->stride, c->padding};
  std::vector<Conv2dShape> out;
  for (const auto& [key, s] : rows) out.push_back(s);
  return out;
}

simad::Tensor<float> device_random(const simad::Shape& shape, double lo, double hi, uint64_t seed) {
  simad::Rng rng(seed);
  simad::Tensor<float> h = simad::Tensor<float>::empty(shape);
  rng.fill_uniform(h.span(), lo, hi);
  return simad::cuda::to_device(h);
}



#if defined(SIMAD_HAVE_CUDNN)
// One convolution on cuDNN in one math mode: descriptors, the fastest algorithm found, its workspace.
struct CudnnConv {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, b = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnConvolutionFwdAlgo_t algo{};
  void* workspace = nullptr;
  size_t workspace_bytes = 0;

  CudnnConv(cudnnHandle_t h, const Conv2dShape& s, cudnnMathType_t math) {
    CUDNN_OK(cudnnCreateTensorDescriptor(&x));
    CUDNN_OK(cudnnCreateTensorDescriptor(&y));
    CUDNN_OK(cudnnCreateTensorDescriptor(&b));
    CUDNN_OK(cudnnCreateFilterDescriptor(&w));
    CUDNN_OK(cudnnCreateConvolutionDescriptor(&conv));
    CUDNN_OK(
        cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, int(s.B), int(s.C), int(s.H), int(s.W)));
    CUDNN_OK(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, int(s.B), int(s.O), int(s.out_h()),
                                        int(s.out_w())));
    CUDNN_OK(cudnnSetTensor4dDescriptor(b, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, int(s.O), 1, 1));
    CUDNN_OK(
        cudnnSetFilter4dDescriptor(w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, int(s.O), int(s.C), int(s.K), int(s.K)));
    CUDNN_OK(cudnnSetConvolution2dDescriptor(conv, int(s.pad), int(s.pad), int(s.stride), int(s.stride), 1, 1,
                                             CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    CUDNN_OK(cudnnSetConvolutionMathType(conv, math));
    cudnnConvolutionFwdAlgoPerf_t perf[16];
    int found = 0;
    CUDNN_OK(cudnnFindConvolutionForwardAlgorithm(h, x, w, conv, y, 16, &found, perf));
    int best = -1;
    for (int i = 0; i < found && best < 0; ++i)  // sorted fastest first
      if (perf[i].status == CUDNN_STATUS_SUCCESS && (math != CUDNN_FMA_MATH || perf[i].mathType == CUDNN_FMA_MATH))
        best = i;
    if (best < 0) {
      std::fprintf(stderr, "cuDNN found no algorithm for this convolution\n");
      std::exit(1);
    }
    algo = perf[best].algo;
    CUDNN_OK(cudnnGetConvolutionForwardWorkspaceSize(h, x, w, conv, y, algo, &workspace_bytes));
    if (workspace_bytes) SIMAD_CUDA_CHECK(cudaMalloc(&workspace, workspace_bytes));
  }
  ~CudnnConv() {
    cudaFree(workspace);
    cudnnDestroyConvolutionDescriptor(conv);
    cudnnDestroyFilterDescriptor(w);
    cudnnDestroyTensorDescriptor(b);
    cudnnDestroyTensorDescriptor(y);
    cudnnDestroyTensorDescriptor(x);
  }
  CudnnConv(const CudnnConv&) = delete;
  CudnnConv& operator=(const CudnnConv&) = delete;

  void run(cudnnHandle_t h, const float* in, const float* weight, const float* bias, float* out) const {
    const float one = 1.0f, zero = 0.0f;
    CUDNN_OK(cudnnConvolutionForward(h, &one, x, in, w, weight, conv, algo, workspace, workspace_bytes, &zero, y, out));
    CUDNN_OK(cudnnAddTensor(h, &one, b, bias, &one, y, out));
  }
};
#endif

void layer_rows(int64_t B, int trials) {
  std::printf("\n%-28s %8s %10s %8s", "conv (C x H x W, k, s, O)", "GFLOP", "simad ms", "TFLOP/s");
#if defined(SIMAD_HAVE_CUDNN)
  std::printf(" %12s %7s %10s %12s %7s %9s", "cuDNN fp32", "ratio", "simad bf16", "cuDNN tf32", "ratio", "max rel");
  cudnnHandle_t h = nullptr;
  CUDNN_OK(cudnnCreate(&h));
#endif
  std::printf("   [batch %lld; ratio = cuDNN time / simad time (fp32 / fp32, tf32 / bf16), > 1: simad faster]\n",
              static_cast<long long>(B));
  for (const Conv2dShape& s : distinct_convs(B)) {
    const auto x = device_random({s.B, s.C, s.H, s.W}, 0.0, 1.0, 1);
    const auto w = device_random({s.O, s.C, s.K, s.K}, -0.1, 0.1, 2);
    const auto bias = device_random({s.O}, -0.1, 0.1, 3);
    const simad::Shape out_shape{s.B, s.O, s.out_h(), s.out_w()};
    auto y = simad::Tensor<float>::empty(out_shape, simad::Device::cuda);
    auto ours = [&] {
      simad::cuda::kernels::conv2d_forward(y.data(), x.data(), w.data(), bias.data(), s,
                                           simad::ops::ConvActivation::leaky);
    };
    auto ours_bf16 = [&] {
      simad::cuda::kernels::conv2d_forward(y.data(), x.data(), w.data(), bias.data(), s,
                                           simad::ops::ConvActivation::leaky, nullptr, false,
                                           simad::cuda::kernels::ConvMath::bf16_tensor_cores);
    };
    char name[64];
    std::snprintf(name, sizeof name, "%lldx%lldx%lld k%lld s%lld o%lld", static_cast<long long>(s.C),
                  static_cast<long long>(s.H), static_cast<long long>(s.W), static_cast<long long>(s.K),
                  static_cast<long long>(s.stride), static_cast<long long>(s.O));
#if defined(SIMAD_HAVE_CUDNN)
    const CudnnConv fma(h, s, CUDNN_FMA_MATH), tf32(h, s, CUDNN_DEFAULT_MATH);
    auto y_peer = simad::Tensor<float>::empty(out_shape, simad::Device::cuda);
    // Correctness first: simad against cuDNN FMA with the leaky applied here.
    ours();
    fma.run(h, x.data(), w.data(), bias.data(), y_peer.data());
    const auto a = simad::cuda::to_host(y), p = simad::cuda::to_host(y_peer);
    double worst = 0;
    for (int64_t i = 0; i < a.numel(); ++i) {
      const double want = p.data()[i] > 0 ? double(p.data()[i]) : 0.1 * double(p.data()[i]);
      worst = std::max(worst, std::fabs(double(a.data()[i]) - want) / std::max(1e-3, std::fabs(want)));
    }
    std::vector<float> t_ours, t_bf16, t_fma, t_tf32;
    for (int r = 0; r < trials; ++r) {
      t_ours.push_back(time_ms(ours, 10));
      t_fma.push_back(time_ms([&] { fma.run(h, x.data(), w.data(), bias.data(), y_peer.data()); }, 10));
      t_bf16.push_back(time_ms(ours_bf16, 10));
      t_tf32.push_back(time_ms([&] { tf32.run(h, x.data(), w.data(), bias.data(), y_peer.data()); }, 10));
    }
    const float mo = median(t_ours), mb = median(t_bf16), mf = median(t_fma), mt = median(t_tf32);
    std::printf("%-28s %8.2f %10.3f %8.2f %12.3f %7.2f %10.3f %12.3f %7.2f %9.1e\n", name, s.flops() * 1e-9, double(mo),
                s.flops() / (double(mo) * 1e-3) * 1e-12, double(mf), double(mf / mo), double(mb), double(mt),
                double(mt / mb), worst);
#else
    std::vector<float> t_ours;
    for (int r = 0; r < trials; ++r) t_ours.push_back(time_ms(ours, 10));
    const float mo = median(t_ours);
    std::printf("%-28s %8.2f %10.3f %8.2f   (cuDNN not found at build time: no peer)\n", name, s.flops() * 1e-9,
                double(mo), s.flops() / (double(mo) * 1e-3) * 1e-12);
#endif
  }
#if defined(SIMAD_HAVE_CUDNN)
  cudnnDestroy(h);
#endif
}

void network_rows(const std::vector<int64_t>& batches, int trials) {
  std::printf("\n%-18s %5s %6s %12s %10s\n", "network (416x416)", "math", "batch", "ms/batch", "images/s");
  for (const bool full : {false, true})
    for (const auto math : {simad::cuda::kernels::ConvMath::fp32, simad::cuda::kernels::ConvMath::bf16_tensor_cores}) {
    const auto cfg = full ? simad::nn::yolov3_config(416, 416, 80) : simad::nn::yolov3_tiny_config(416, 416, 80);
    const simad::nn::DarknetNetwork cpu(cfg, simad::io::darknet::random_weights(cfg, 1));
    const simad::nn::CudaDarknetNetwork gpu(cpu, math);
    for (const int64_t B : batches) {
      const auto x = device_random({B, 3, 416, 416}, 0.0, 1.0, 4);
      gpu.forward(x);  // warm-up
      SIMAD_CUDA_CHECK(cudaDeviceSynchronize());
      std::vector<float> t;
      for (int r = 0; r < std::max(3, trials / 4); ++r) t.push_back(time_ms([&] { gpu.forward(x); }, 1));
      const float m = median(t);
      std::printf("%-18s %5s %6lld %12.2f %10.1f\n", full ? "yolov3" : "yolov3-tiny",
                  math == simad::cuda::kernels::ConvMath::fp32 ? "fp32" : "bf16", static_cast<long long>(B), double(m),
                  double(B) / (double(m) * 1e-3));
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  int trials = 20;
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--trials") && i + 1 < argc) {
      trials = std::max(1, std::atoi(argv[++i]));
    } else if (!std::strcmp(argv[i], "--quick")) {
      quick = true;
    } else {
      std::printf("usage: %s [--trials N] [--quick]\n"
                  "  simad's CUDA convolution beside cuDNN on every distinct yolov3 / yolov3-tiny (416) layer at\n"
                  "  batch 1 and 8 (--quick: batch 1), and whole networks at batch 1, 8, 64 (--quick: 1, 8).\n",
                  argv[0]);
      return std::strcmp(argv[i], "--help") == 0 ? 0 : 2;
    }
  }
  if (!simad::bench::print_machine()) return 0;
#if defined(SIMAD_HAVE_CUDNN)
  std::printf(", cuDNN %zu", cudnnGetVersion());
#endif
  std::printf("\n");
  for (const int64_t B : quick ? std::vector<int64_t>{1} : std::vector<int64_t>{1, 8}) layer_rows(B, trials);
  network_rows(quick ? std::vector<int64_t>{1, 8} : std::vector<int64_t>{1, 8, 64}, trials);
  return 0;
}
