// tools/simad/cmd_bench_darknet.cpp: `simad bench darknet`, the YOLOv3 convolutions timed beside
// oneDNN (libdnnl-dev 2.6, fp32) in the same run, then whole networks.
//
// Rows: every distinct convolution shape of yolov3-416 and yolov3-tiny-416 (input channels, size,
// filters, kernel, stride), at batch 1 and 8. simad runs ops::conv2d_forward (NCHW, fused bias +
// leaky); oneDNN runs convolution_forward (forward_inference) with a leaky-ReLU post-op, on the
// layouts it picks itself (format_tag::any: its blocked layouts), with the reorders into those
// layouts done once, outside the timing: only execution is timed, which favours oneDNN. oneDNN picks its
// algorithm (convolution_auto); simad's 3x3 stride-1 layers of 64+ channels run Winograd F(2x2, 3x3). Before
// timing, both outputs are compared (max relative error printed). Sides alternate in short trials
// (bench_timing.hpp: noisy shared machines); each side's rate is its median trial, and simad's rate is also
// printed as a share of the fp32 FMA peak measured before the rows (machine.hpp: measured again after them,
// with a warning if the two readings differ). The table ends with the geometric mean of simad/oneDNN. Then
// whole networks (batch 1 and 8): simad's forward interleaved with oneDNN running the same network's
// convolutions in order (DnnlNetworkConvs), beside the sum of the conv rows' times of each side (the conv
// share of a forward, each row timed alone).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <tuple>
#include <vector>

#include "bench_timing.hpp"
#include "commands.hpp"
#include "machine.hpp"
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

namespace simad::cli {
namespace {


struct BenchDarknetOptions {
  bool quick = false;
  double min_time = 0.0;
  std::string filter, json_path;
  std::vector<int> batches{1, 8};
  bool no_network = false, networks_only = false;
};

// A distinct conv shape and how often each network uses it.
struct ConvRow {
  ops::Conv2dShape shape;  // B = 1
  int uses_v3 = 0, uses_tiny = 0;
  std::string name() const {
    char buf[96];
    std::snprintf(buf, sizeof buf, "%lldx%lldx%lld k%lld/%lld o%lld", (long long)shape.C, (long long)shape.H,
                  (long long)shape.W, (long long)shape.K, (long long)shape.stride, (long long)shape.O);
    return buf;
  }
};

std::vector<ConvRow> distinct_convs() {
  std::map<std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t>, ConvRow> rows;
  for (int net = 0; net < 2; ++net) {
    const io::darknet::Config cfg = net == 0 ? nn::yolov3_config(416, 416, 80) : nn::yolov3_tiny_config(416, 416, 80);
    for (const auto& l : cfg.layers)
      if (const auto* c = l.as<io::darknet::Convolutional>()) {
        ops::Conv2dShape s{1, l.in.c, l.in.h, l.in.w, c->filters, c->size, c->stride, c->padding};
        ConvRow& r = rows[{s.C, s.H, s.W, s.O, s.K, s.stride, s.pad}];
        r.shape = s;
        (net == 0 ? r.uses_v3 : r.uses_tiny) += 1;
      }
  }
  std::vector<ConvRow> out;
  for (auto& [k, r] : rows) out.push_back(r);
  std::sort(out.begin(), out.end(), [](const ConvRow& a, const ConvRow& b) { return a.shape.flops() > b.shape.flops(); });
  return out;
}

#if defined(SIMAD_HAVE_DNNL)
// One oneDNN convolution (leaky ReLU post-op) on its preferred layouts, inputs reordered once. Its algorithm
// is convolution_auto: oneDNN picks the one it expects to be fastest (its Winograd where it has one and
// judges it better; see dnnl_winograd_available).
class DnnlConv {
 public:
  DnnlConv(const ops::Conv2dShape& s, const float* src, const float* weight, const float* bias,
           dnnl::algorithm algorithm = dnnl::algorithm::convolution_auto, bool leaky = true)
      : eng_(dnnl::engine::kind::cpu, 0), stream_(eng_) {
    using tag = dnnl::memory::format_tag;
    using dt = dnnl::memory::data_type;
    const dnnl::memory::dims src_dims{s.B, s.C, s.H, s.W}, wei_dims{s.O, s.C, s.K, s.K}, bias_dims{s.O},
        dst_dims{s.B, s.O, s.out_h(), s.out_w()}, strides{s.stride, s.stride}, pad{s.pad, s.pad};
    const auto any = [&](const dnnl::memory::dims& d) { return dnnl::memory::desc(d, dt::f32, tag::any); };
    const dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, algorithm,
                                               any(src_dims), any(wei_dims), dnnl::memory::desc(bias_dims, dt::f32, tag::x),
                                               any(dst_dims), strides, pad, pad);
    dnnl::post_ops post;
    if (leaky) post.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.1f, 0.0f);  // relu, slope 0.1 = leaky
    dnnl::primitive_attr attr;
    attr.set_post_ops(post);
    pd_ = dnnl::convolution_forward::primitive_desc(desc, attr, eng_);
    conv_ = dnnl::convolution_forward(pd_);
    user_dst_desc_ = dnnl::memory::desc(dst_dims, dt::f32, tag::nchw);
    src_ = to_layout(pd_.src_desc(), {src_dims, dt::f32, tag::nchw}, src);
    wei_ = to_layout(pd_.weights_desc(), {wei_dims, dt::f32, tag::oihw}, weight);
    bias_ = dnnl::memory(pd_.bias_desc(), eng_);
    std::copy_n(bias, s.O, static_cast<float*>(bias_.get_data_handle()));
    dst_ = dnnl::memory(pd_.dst_desc(), eng_);
  }
  void run() {
    conv_.execute(stream_, {{DNNL_ARG_SRC, src_}, {DNNL_ARG_WEIGHTS, wei_}, {DNNL_ARG_BIAS, bias_}, {DNNL_ARG_DST, dst_}});
    stream_.wait();
  }
  // The output in NCHW (after run()).
  const float* output_nchw() {
    if (!user_dst_) user_dst_ = dnnl::memory(user_dst_desc_, eng_);
    dnnl::reorder(dst_, user_dst_).execute(stream_, dst_, user_dst_);
    stream_.wait();
    return static_cast<const float*>(user_dst_.get_data_handle());
  }
  std::string implementation() const { return pd_.impl_info_str(); }
  dnnl::memory::desc src_desc() const { return pd_.src_desc(); }
  dnnl::memory::desc dst_desc() const { return pd_.dst_desc(); }
  // In a chain of layers: read another layer's output (same layout: src_desc()), write into memory
  // held elsewhere (at least dst_desc().get_size() bytes).
  void read_from(void* src) { src_ = dnnl::memory(pd_.src_desc(), eng_, src); }
  void write_to(void* dst) { dst_ = dnnl::memory(pd_.dst_desc(), eng_, dst); }

 private:
  dnnl::memory to_layout(const dnnl::memory::desc& want, const dnnl::memory::desc& user_desc, const float* data) {
    dnnl::memory user(user_desc, eng_, const_cast<float*>(data));
    if (want == user_desc) {
      dnnl::memory copy(want, eng_);
      std::copy_n(data, user_desc.get_size() / sizeof(float), static_cast<float*>(copy.get_data_handle()));
      return copy;
    }
    dnnl::memory m(want, eng_);
    dnnl::reorder(user, m).execute(stream_, user, m);
    stream_.wait();
    return m;
  }
  dnnl::engine eng_;
  dnnl::stream stream_;
  dnnl::convolution_forward::primitive_desc pd_;
  dnnl::convolution_forward conv_;
  dnnl::memory src_, wei_, bias_, dst_, user_dst_;
  dnnl::memory::desc user_dst_desc_;
};

// A network's convolutions on oneDNN, in the network's order, each once per run: the peer of a whole
// forward. A convolution that reads the previous layer's output reads the previous convolution's
// output buffer when that layer is a convolution with the same layout (so it is as warm in cache as
// simad's); outputs alternate between two buffers. The other layers (max-pool, route, upsample,
// shortcut, yolo) are not run: the peer does less work than simad's whole forward.
class DnnlNetworkConvs {
 public:
  DnnlNetworkConvs(const io::darknet::Config& cfg, const io::darknet::Weights& weights, int64_t B) {
    std::vector<float> src;  // the input of each convolution: any values (speed does not depend on them)
    Rng rng(7);
    size_t dst_bytes = 0;
    for (const io::darknet::ConvWeights& w : weights.convs) {
      const io::darknet::Layer& l = cfg.layers[size_t(w.layer)];
      const auto* c = l.as<io::darknet::Convolutional>();
      const ops::Conv2dShape s{B, l.in.c, l.in.h, l.in.w, c->filters, c->size, c->stride, c->padding};
      if (src.size() < size_t(s.B * s.C * s.H * s.W)) {
        src.resize(size_t(s.B * s.C * s.H * s.W));
        rng.fill_uniform(std::span<float>(src), 0.0, 1.0);
      }
      convs_.push_back(std::make_unique<DnnlConv>(s, src.data(), w.weights.data(), w.biases.data(),
                                                  dnnl::algorithm::convolution_auto,
                                                  c->activation == io::darknet::Activation::leaky));
      layers_.push_back(w.layer);
      dst_bytes = std::max(dst_bytes, convs_.back()->dst_desc().get_size());
    }
    for (auto& b : buffers_) b.reset(static_cast<float*>(::operator new(dst_bytes, std::align_val_t{64})));
    for (size_t k = 0; k < convs_.size(); ++k) {
      convs_[k]->write_to(buffers_[k % 2].get());
      if (k > 0 && layers_[k] == layers_[k - 1] + 1 && convs_[k]->src_desc() == convs_[k - 1]->dst_desc()) {
        convs_[k]->read_from(buffers_[(k - 1) % 2].get());
        ++chained_;
      }
    }
  }
  void run() {
    for (auto& c : convs_) c->run();
  }
  size_t convolutions() const { return convs_.size(); }
  int64_t chained() const { return chained_; }

 private:
  struct Free {
    void operator()(float* p) const { ::operator delete(p, std::align_val_t{64}); }
  };
  std::vector<std::unique_ptr<DnnlConv>> convs_;
  std::vector<int> layers_;
  std::unique_ptr<float, Free> buffers_[2];
  int64_t chained_ = 0;
};

// Whether this oneDNN has an fp32 Winograd convolution for this CPU (oneDNN 2.6 on AVX-512 CPUs says "could
// not create a primitive descriptor"): simad's 3x3 stride-1 rows may run Winograd, and the header says
// whether the peer could have.
bool dnnl_winograd_available() {
  try {
    const ops::Conv2dShape s{1, 64, 26, 26, 64, 3, 1, 1};
    std::vector<float> src(size_t(s.B * s.C * s.H * s.W), 0.5f), w(size_t(s.O * s.C * 9), 0.01f), b(size_t(s.O));
    DnnlConv probe(s, src.data(), w.data(), b.data(), dnnl::algorithm::convolution_winograd);
    return true;
  } catch (const dnnl::error&) {
    return false;
  }
}
#endif

void run_bench_darknet(const BenchDarknetOptions& o) {
  const double min_time = o.min_time > 0 ? o.min_time : (o.quick ? 0.2 : 0.6);
  const Machine machine = read_machine();
  const char* omp_wait = std::getenv("OMP_WAIT_POLICY");
  const char* gemm_env = std::getenv("SIMAD_GEMM");
  // The GEMM simad's side runs, and the variable that chose it (SIMAD_GEMM=bf16 selects the bf16 kernels).
  std::printf("simad bench darknet: %s, %d threads, GEMM %s (SIMAD_GEMM %s), peer %s, OMP_WAIT_POLICY %s\n",
              machine_summary(machine).c_str(), simad::num_threads(), ops::cpu_gemm_name().c_str(),
              gemm_env && *gemm_env ? gemm_env : "unset",
#if defined(SIMAD_HAVE_DNNL)
              (bench::dnnl_build_facts() +
               (dnnl_winograd_available()
                    ? " (fp32, convolution_auto, format_tag::any, execution only; has an fp32 Winograd here)"
                    : " (fp32, convolution_auto, format_tag::any, execution only; no fp32 Winograd on this CPU)"))
                  .c_str(),
#else
              "oneDNN not built (libdnnl-dev missing)",
#endif
              omp_wait ? omp_wait : "unset");
  FmaPeak fma_peak = FmaPeak::measure_before(simad::num_threads(), simad::cpu::isa());
  if (fma_peak.measured()) std::printf("peak: %s\n", fma_peak.text().c_str());
  const bool peak_column = !o.networks_only && fma_peak.measured();
  if (!o.networks_only) {
    std::printf("GFLOP/s: the direct convolution's 2 C K^2 O Ho Wo per image over the time, on both sides (simad's\n"
                "winograd rows multiply 2.25x less); path: how simad computed the row (ops::Conv2dPath)\n");
    if (peak_column)
      std::printf("of peak: simad's GFLOP/s over the fp32 FMA peak above (winograd rows and bf16 can pass 100%%)\n");
    std::printf("%-28s %5s %4s %9s %9s %7s %9s %8s %9s  %s\n", "conv (CxHxW kK/S oO)", "batch", "uses", "GFLOP",
                "simad", "of", "oneDNN", "ratio", "max err", "simad");
    std::printf("%-28s %5s %4s %9s %9s %7s %9s %8s %9s  %s\n", "", "", "v3/t", "", "GFLOP/s", "peak", "GFLOP/s",
                "s/1DNN", "", "path");
  }
  nlohmann::json rows_json = nlohmann::json::array();
  double log_sum = 0;
  int ratios = 0;
  std::map<int, std::pair<double, double>> conv_time_v3, conv_time_tiny;  // batch -> (simad, oneDNN) seconds
  const std::regex filter(o.filter.empty() ? ".*" : o.filter);
  Rng rng(2026);
  for (const ConvRow& row : o.networks_only ? std::vector<ConvRow>{} : distinct_convs()) {
    for (int B : o.batches) {
      ops::Conv2dShape s = row.shape;
      s.B = B;
      const std::string label = row.name();
      if (!std::regex_search(label + " b" + std::to_string(B), filter)) continue;
      if (o.quick && B > 1 && s.flops() / B > 2e9) continue;
      std::vector<float> in(size_t(s.B * s.C * s.H * s.W)), w(size_t(s.O * s.C * s.K * s.K)), bias(size_t(s.O)),
          ws(size_t(ops::conv2d_workspace_size(s)));
      // The output 64-byte aligned, as a network's layer outputs are (Tensor storage) and oneDNN's.
      Tensor<float> out_tensor = Tensor<float>::empty({s.B * s.O * s.out_h() * s.out_w()});
      const std::span<float> out(out_tensor.data(), size_t(out_tensor.numel()));
      rng.fill_uniform(std::span<float>(in), 0.0, 1.0);
      rng.fill_uniform(std::span<float>(w), -0.1, 0.1);
      rng.fill_uniform(std::span<float>(bias), -0.1, 0.1);
      // Weights packed once before timing, as a network does (nn::FoldedConv) and as oneDNN's are
      // reordered outside its execution.
      const ops::Conv2dPackedWeights packed = ops::pack_conv2d_weights(w.data(), s);
      const char* path = ops::conv2d_path_name(ops::conv2d_float_path(s, ops::ConvActivation::leaky, &packed));
      auto simad_run = [&] {
        ops::conv2d_forward(out.data(), in.data(), w.data(), bias.data(), s, ops::ConvActivation::leaky, ws.data(),
                            &packed);
      };
      double t_simad = 0, t_dnnl = 0, err = 0;
#if defined(SIMAD_HAVE_DNNL)
      DnnlConv peer(s, in.data(), w.data(), bias.data());
      simad_run();
      peer.run();
      const float* ref = peer.output_nchw();
      for (size_t i = 0; i < out.size(); ++i)
        err = std::max(err, double(std::fabs(out[i] - ref[i])) / (1.0 + std::fabs(double(ref[i]))));
      const PairTiming t = time_pair(simad_run, [&] { peer.run(); }, min_time, 3, 0.03, 3.0 * min_time);
      t_simad = t.simad.median_s(), t_dnnl = t.peer.median_s();
#else
      const Trial t = run_trial(simad_run, min_time);
      t_simad = t.seconds / double(t.calls);
#endif
      const double gf = s.flops() * 1e-9;
      const double ratio = t_dnnl > 0 ? t_dnnl / t_simad : 0;
      if (ratio > 0) log_sum += std::log(ratio), ++ratios;
      conv_time_v3[B].first += row.uses_v3 * t_simad, conv_time_v3[B].second += row.uses_v3 * t_dnnl;
      conv_time_tiny[B].first += row.uses_tiny * t_simad, conv_time_tiny[B].second += row.uses_tiny * t_dnnl;
      const std::string share =
          peak_column ? std::to_string(int(std::lround(100.0 * fma_peak.share(gf / t_simad)))) + "%" : "-";
      std::printf("%-28s %5d %2d/%-2d %8.3f %9.1f %7s %9.1f %8.2f %9.1e  %s\n", label.c_str(), B, row.uses_v3,
                  row.uses_tiny, gf, gf / t_simad, share.c_str(), t_dnnl > 0 ? gf / t_dnnl : 0.0, ratio, err, path);
      std::fflush(stdout);
      rows_json.push_back({{"conv", label}, {"batch", B}, {"gflop", gf}, {"simad_gflops", gf / t_simad},
                           {"simad_share_of_fma_peak", peak_column ? nlohmann::json(fma_peak.share(gf / t_simad))
                                                                   : nlohmann::json()},
                           {"onednn_gflops", t_dnnl > 0 ? gf / t_dnnl : 0.0}, {"ratio", ratio}, {"max_rel_err", err},
                           {"uses_yolov3", row.uses_v3}, {"uses_tiny", row.uses_tiny}, {"simad_path", path}});
    }
  }
  const double geo = ratios ? std::exp(log_sum / ratios) : 0.0;
  if (!o.networks_only) std::printf("geometric mean simad/oneDNN over %d rows: %.3f\n", ratios, geo);
  nlohmann::json nets = nlohmann::json::array();
  if (!o.no_network && o.filter.empty()) {
    std::printf("\nwhole networks: simad's forward (every layer) against oneDNN's convolutions of the network in its\n"
                "order (max-pool, route, upsample, shortcut and yolo layers not run), trials interleaved; then the\n"
                "conv rows above summed over the network's layers (each row timed alone, caches warm)\n");
    std::printf("%-16s %5s %11s %11s %11s %9s %11s %11s\n", "network", "batch", "simad", "oneDNN", "ratio", "", "conv rows",
                "conv rows");
    std::printf("%-16s %5s %11s %11s %11s %9s %11s %11s\n", "", "", "img/s", "convs img/s", "s/1DNN", "+-95%",
                "simad img/s", "1DNN img/s");
    std::string chains;  // how many of oneDNN's convolutions read the previous one's buffer, per network
    for (int net = 0; net < 2; ++net) {
      const io::darknet::Config cfg = net == 0 ? nn::yolov3_config(416, 416, 80) : nn::yolov3_tiny_config(416, 416, 80);
      const char* name = net == 0 ? "yolov3-416" : "yolov3-tiny-416";
      const io::darknet::Weights weights = io::darknet::random_weights(cfg, 1);
      const nn::DarknetNetwork dn(cfg, weights);
      for (int B : o.batches) {
        if (o.quick && net == 0 && B > 1) continue;
        Tensor<float> x = Tensor<float>::empty({B, 3, 416, 416});
        rng.fill_uniform(x.span(), 0.0, 1.0);
        auto simad_run = [&] { (void)dn.forward(x); };
        double simad_s = 0, peer_s = 0, ratio = 0, ratio_ci = 0;
        int64_t peer_convs = 0, peer_chained = 0;
#if defined(SIMAD_HAVE_DNNL)
        DnnlNetworkConvs peer(cfg, weights, B);
        const PairTiming t = time_pair(simad_run, [&] { peer.run(); }, 2 * min_time, 3, 0.03, 6 * min_time);
        simad_s = t.simad.median_s(), peer_s = t.peer.median_s(), ratio = t.ratio, ratio_ci = t.ratio_ci;
        peer_convs = int64_t(peer.convolutions()), peer_chained = peer.chained();
        if (B == o.batches.front())
          chains += std::string(chains.empty() ? "" : "; ") + name + " " + std::to_string(peer_convs) +
                    " convolutions, " + std::to_string(peer_chained) + " reading the previous one's output buffer";
#else
        simad_run();  // warm up
        const Trial t = run_trial(simad_run, 2 * min_time);
        simad_s = t.seconds / double(t.calls);
#endif
        const auto& ct = net == 0 ? conv_time_v3[B] : conv_time_tiny[B];
        const double rows_simad = ct.first > 0 ? B / ct.first : 0.0, rows_peer = ct.second > 0 ? B / ct.second : 0.0;
        // "-" where a side was not measured (no oneDNN in this build; no conv rows with --networks-only).
        auto cell = [](double v, int width, bool measured) {
          char buf[32];
          if (measured) std::snprintf(buf, sizeof buf, "%*.2f", width, v);
          else std::snprintf(buf, sizeof buf, "%*s", width, "-");
          return std::string(buf);
        };
        const bool peer_ran = peer_s > 0;
        std::printf("%-16s %5d %11.2f %s %s %s %s %s\n", name, B, B / simad_s,
                    cell(peer_ran ? B / peer_s : 0.0, 11, peer_ran).c_str(), cell(ratio, 11, peer_ran).c_str(),
                    cell(ratio_ci, 9, peer_ran).c_str(), cell(rows_simad, 11, rows_simad > 0).c_str(),
                    cell(rows_peer, 11, rows_peer > 0).c_str());
        std::fflush(stdout);
        nets.push_back({{"network", name},
                        {"batch", B},
                        {"simad_images_per_s", B / simad_s},
                        {"onednn_convs_images_per_s", peer_s > 0 ? B / peer_s : 0.0},
                        {"ratio", ratio},
                        {"ratio_ci95", ratio_ci},
                        {"conv_rows_simad_images_per_s", rows_simad},
                        {"conv_rows_onednn_images_per_s", rows_peer},
                        {"onednn_convolutions", peer_convs},
                        {"onednn_chained", peer_chained}});
      }
    }
    if (!chains.empty()) std::printf("oneDNN's side: %s\n", chains.c_str());
  }
  if (fma_peak.measured()) {
    fma_peak.measure_after();
    std::printf("peak: %s\n", fma_peak.after_text().c_str());
  }
  if (!o.json_path.empty()) {
    std::ofstream f(o.json_path);
    SIMAD_CHECK(f, "cannot create '", o.json_path, "'");
    f << nlohmann::json{{"threads", simad::num_threads()},
                        {"cpu", machine.cpu},
                        {"openblas_core", blas::core_name()},
#if defined(SIMAD_HAVE_DNNL)
                        {"onednn", bench::dnnl_build_facts()},
#else
                        {"onednn", nullptr},
#endif
                        {"fma_peak_gflops", fma_peak.before},
                        {"fma_peak_gflops_after_rows", fma_peak.after},
                        {"rows", rows_json},
                        {"geomean_ratio", geo}, {"networks", nets}}
             .dump(2)
      << "\n";
  }
}

}  // namespace

void register_bench_darknet(CLI::App& bench) {
  auto opt = std::make_shared<BenchDarknetOptions>();
  CLI::App* cmd = bench.add_subcommand("darknet", "YOLOv3 convolutions: simad vs oneDNN fp32, and whole networks");
  cmd->footer(
      "Every distinct conv shape of yolov3-416 and yolov3-tiny-416 at batch 1 and 8 (GFLOP/s, ratio = oneDNN time /\n"
      "simad time, geometric mean), then images/s of the whole networks. Example:\n"
      "  simad bench darknet --quick --filter 'k3/1' --json darknet.json");
  cmd->add_flag("--quick", opt->quick, "Shorter trials; skips batch-8 rows above 2 GFLOP per image");
  cmd->add_option("--min-time", opt->min_time, "Least seconds per side per row")->check(CLI::PositiveNumber);
  cmd->add_option("--filter", opt->filter, "Only rows whose 'CxHxW kK/S oO bB' matches REGEX (skips networks)")
      ->type_name("REGEX");
  cmd->add_option("--batch", opt->batches, "Batch sizes (default 1 8)")->check(CLI::Range(1, 64));
  cmd->add_flag("--no-network", opt->no_network, "Skip the whole-network rows");
  cmd->add_flag("--networks-only", opt->networks_only, "Only the whole-network rows (no conv rows to sum)")
      ->excludes("--no-network")
      ->excludes("--filter");
  cmd->add_option("--json", opt->json_path, "Also write the rows as JSON to FILE")->type_name("FILE");
  cmd->callback([opt] { run_bench_darknet(*opt); });
}

static const RegisterBenchSuite kBenchDarknet{20, "darknet", &register_bench_darknet};

}  // namespace simad::cli
