// benchmarks/bench_darknet.cpp: Google Benchmark for the YOLOv3 convolutions and networks.
//   conv/<shape>/b<B>/simad: ops::conv2d_forward (NCHW, fused bias + leaky), every distinct conv
//       shape of yolov3-416 and yolov3-tiny-416, batch 1 and 8; counter GFLOP/s.
//   conv/<shape>/b<B>/onednn: oneDNN 2.6 fp32 convolution_forward with a leaky-ReLU post-op, on the
//       layouts it picks (format_tag::any), inputs reordered once outside the timing (when
//       libdnnl-dev was found: SIMAD_HAVE_DNNL).
//   network/<name>/b<B>: a whole forward of yolov3-416 / yolov3-tiny-416 with random weights;
//       counter images/s.
// `simad bench darknet` prints the same comparison as one interleaved table with ratios.
//   ./simad_bench_darknet --benchmark_filter='conv/.*b1' --benchmark_format=json
#include <benchmark/benchmark.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "simad/core/parallel.hpp"
#include "simad/core/rng.hpp"
#include "simad/core/tensor.hpp"
#include "simad/io/darknet.hpp"
#include "simad/nn/darknet.hpp"
#include "simad/nn/yolov3_configs.hpp"
#include "simad/ops/blas.hpp"
#include "simad/ops/conv2d.hpp"

#if defined(SIMAD_HAVE_DNNL)
#include <oneapi/dnnl/dnnl.hpp>

#include "dnnl_facts.hpp"
#endif

namespace {

using simad::ops::Conv2dShape;

std::vector<Conv2dShape> distinct_convs() {
  std::map<std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t>, Conv2dShape> rows;
  for (const auto& cfg : {simad::nn::yolov3_config(416, 416, 80), simad::nn::yolov3_tiny_config(416, 416, 80)})
    for (const auto& l : cfg.layers)
      if (const auto* c = l.as<simad::io::darknet::Convolutional>())
        rows[{l.in.c, l.in.h, c->filters, c->size, c->stride, c->padding}] =
            Conv2dShape{1, l.in.c, l.in.h, l.in.w, c->filters, c->size, c->stride, c->padding};
  std::vector<Conv2dShape> out;
  for (auto& [k, s] : rows) out.push_back(s);
  return out;
}

std::string shape_name(const Conv2dShape& s) {
  return std::to_string(s.C) + "x" + std::to_string(s.H) + "x" + std::to_string(s.W) + "_k" + std::to_string(s.K) +
         "s" + std::to_string(s.stride) + "_o" + std::to_string(s.O) + "/b" + std::to_string(s.B);
}

struct Buffers {
  std::vector<float> in, w, bias, out, ws;
  explicit Buffers(const Conv2dShape& s)
      : in(size_t(s.B * s.C * s.H * s.W)), w(size_t(s.O * s.C * s.K * s.K)), bias(size_t(s.O)),
        out(size_t(s.B * s.O * s.out_h() * s.out_w())), ws(size_t(simad::ops::conv2d_workspace_size(s))) {
    simad::Rng rng(1234);
    rng.fill_uniform(std::span<float>(in), 0.0, 1.0);
    rng.fill_uniform(std::span<float>(w), -0.1, 0.1);
    rng.fill_uniform(std::span<float>(bias), -0.1, 0.1);
  }
};

void set_gflops(benchmark::State& state, double flops) {
  state.counters["GFLOP"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void conv_simad(benchmark::State& state, Conv2dShape s) {
  Buffers b(s);
  for (auto _ : state) {
    simad::ops::conv2d_forward(b.out.data(), b.in.data(), b.w.data(), b.bias.data(), s,
                               simad::ops::ConvActivation::leaky, b.ws.data());
    benchmark::DoNotOptimize(b.out.data());
  }
  set_gflops(state, s.flops());
}

#if defined(SIMAD_HAVE_DNNL)
void conv_onednn(benchmark::State& state, Conv2dShape s) {
  Buffers b(s);
  using tag = dnnl::memory::format_tag;
  using dt = dnnl::memory::data_type;
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(eng);
  const dnnl::memory::dims src_dims{s.B, s.C, s.H, s.W}, wei_dims{s.O, s.C, s.K, s.K}, bias_dims{s.O},
      dst_dims{s.B, s.O, s.out_h(), s.out_w()}, strides{s.stride, s.stride}, pad{s.pad, s.pad};
  auto any = [&](const dnnl::memory::dims& d) { return dnnl::memory::desc(d, dt::f32, tag::any); };
  const dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                             any(src_dims), any(wei_dims), dnnl::memory::desc(bias_dims, dt::f32, tag::x),
                                             any(dst_dims), strides, pad, pad);
  dnnl::post_ops post;
  post.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.1f, 0.0f);
  dnnl::primitive_attr attr;
  attr.set_post_ops(post);
  const dnnl::convolution_forward::primitive_desc pd(desc, attr, eng);
  auto reordered = [&](const dnnl::memory::desc& want, dnnl::memory::desc user_desc, float* data) {
    dnnl::memory user(user_desc, eng, data), m(want, eng);
    dnnl::reorder(user, m).execute(stream, user, m);
    stream.wait();
    return m;
  };
  dnnl::memory src = reordered(pd.src_desc(), {src_dims, dt::f32, tag::nchw}, b.in.data());
  dnnl::memory wei = reordered(pd.weights_desc(), {wei_dims, dt::f32, tag::oihw}, b.w.data());
  dnnl::memory bias(pd.bias_desc(), eng, b.bias.data()), dst(pd.dst_desc(), eng);
  dnnl::convolution_forward conv(pd);
  for (auto _ : state) {
    conv.execute(stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_BIAS, bias}, {DNNL_ARG_DST, dst}});
    stream.wait();
  }
  set_gflops(state, s.flops());
  state.SetLabel(pd.impl_info_str());
}
#endif

void network(benchmark::State& state, bool full, int64_t B) {
  const auto cfg = full ? simad::nn::yolov3_config(416, 416, 80) : simad::nn::yolov3_tiny_config(416, 416, 80);
  const simad::nn::DarknetNetwork net(cfg, simad::io::darknet::random_weights(cfg, 1));
  simad::Tensor<float> x = simad::Tensor<float>::empty({B, 3, 416, 416});
  simad::Rng(7).fill_uniform(x.span(), 0.0, 1.0);
  for (auto _ : state) benchmark::DoNotOptimize(net.forward(x).yolo[0].data());
  state.counters["images"] = benchmark::Counter(double(B), benchmark::Counter::kIsIterationInvariantRate);
}

const bool kRegistered = [] {
  for (int64_t B : {1, 8})
    for (Conv2dShape s : distinct_convs()) {
      s.B = B;
      benchmark::RegisterBenchmark(("conv/" + shape_name(s) + "/simad").c_str(), conv_simad, s)->UseRealTime();
#if defined(SIMAD_HAVE_DNNL)
      benchmark::RegisterBenchmark(("conv/" + shape_name(s) + "/onednn").c_str(), conv_onednn, s)->UseRealTime();
#endif
    }
  for (int64_t B : {1, 8}) {
    benchmark::RegisterBenchmark(("network/yolov3-416/b" + std::to_string(B)).c_str(), network, true, B)->UseRealTime();
    benchmark::RegisterBenchmark(("network/yolov3-tiny-416/b" + std::to_string(B)).c_str(), network, false, B)
        ->UseRealTime();
  }
  benchmark::AddCustomContext("simad_threads", std::to_string(simad::num_threads()));
  benchmark::AddCustomContext("openblas_core", simad::blas::core_name());
#if defined(SIMAD_HAVE_DNNL)
  benchmark::AddCustomContext("onednn", simad::bench::dnnl_build_facts());
#endif
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
