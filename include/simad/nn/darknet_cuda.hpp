// simad/nn/darknet_cuda.hpp: a Darknet network's forward on the GPU (needs the CUDA kernels: link
// simad::kernels). Built from a DarknetNetwork (nn/darknet.hpp), whose batch-norm-folded weights it copies to
// the device once; forward() then runs every layer on the device, an image batch in and the [yolo] outputs
// and hidden maps out (Device::cuda tensors, the layout of DarknetNetwork::Output), with no copy to the host
// on the way:
//   const nn::DarknetNetwork net(cfg, weights);
//   const nn::CudaDarknetNetwork gpu(net);
//   auto out = gpu.forward(cuda::to_device(images));   // out.yolo[s], out.hidden[s] on the GPU
// Layers: convolution + bias + activation as one implicit GEMM (cuda/kernels/conv2d.hpp), with a [shortcut]
// that is the only reader of the convolution before it fused into that convolution's stores (the sum is
// written once, the convolution's own output never); shortcut, upsample, maxpool and yolo by their kernels;
// a [route] of one layer is that layer's buffer (no copy), of several a copy per part (concat_part_forward).
// The results match the CPU forward within float rounding (the convolutions' sums run in another order).
// Kernels run in order on `stream`. Each layer's buffer is a Device::cuda tensor (cudaMalloc), freed after its
// last reader as on the CPU; cudaFree waits for the device, so forward() does not run ahead of the GPU by
// more than a few layers (a stream-ordered pool would remove those waits).
#pragma once

#if !defined(SIMAD_HAVE_CUDA_KERNELS)
#error "simad/nn/darknet_cuda.hpp needs simad's CUDA kernels (link simad::kernels)"
#endif

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/core/tensor.hpp"
#include "simad/cuda/kernels/concat.hpp"
#include "simad/cuda/kernels/conv2d.hpp"
#include "simad/cuda/kernels/maxpool2d.hpp"
#include "simad/cuda/kernels/shortcut.hpp"
#include "simad/cuda/kernels/upsample.hpp"
#include "simad/cuda/kernels/yolo_activate.hpp"
#include "simad/cuda/kernels/yolo_decode.hpp"
#include "simad/cuda/runtime.hpp"
#include "simad/nn/darknet.hpp"
#include "simad/nn/yolo.hpp"

namespace simad::nn {

class CudaDarknetNetwork {
 public:
  // math: the convolutions' arithmetic (fp32, or bf16 on tensor cores: see cuda/kernels/conv2d.hpp).
  explicit CudaDarknetNetwork(const DarknetNetwork& net,
                              cuda::kernels::ConvMath math = cuda::kernels::ConvMath::fp32)
      : cfg_(net.cfg_), plan_(net.plan_), math_(math) {
    const size_t n = cfg_.layers.size();
    convs_.resize(n);
    for (size_t i = 0; i < n; ++i) {
      const FoldedConv& f = net.convs_[i];
      if (!cfg_.layers[i].as<io::darknet::Convolutional>()) continue;
      convs_[i].shape = f.shape;
      convs_[i].activation = f.activation;
      // const_cast: borrow() takes a mutable pointer; to_device only reads it.
      convs_[i].weight = cuda::to_device(Tensor<float>::borrow(const_cast<float*>(f.weight.data()),
                                                               {int64_t(f.weight.size())}));
      convs_[i].bias = cuda::to_device(Tensor<float>::borrow(const_cast<float*>(f.bias.data()),
                                                             {int64_t(f.bias.size())}));
    }
  }

  const io::darknet::Config& config() const { return cfg_; }

  // input: (B, channels, height, width) on the GPU or the CPU (then copied), values as Darknet feeds them.
  // keep_all: Output::layers holds every layer's output, except a convolution whose [shortcut] was fused
  // into it (undefined there: it never existed).
  DarknetOutput forward(const Tensor<float>& input_any, bool keep_all = false,
                                 cudaStream_t stream = nullptr) const {
    SIMAD_CHECK(input_any.defined() && input_any.rank() == 4 && input_any.dim(1) == cfg_.net.channels &&
                    input_any.dim(2) == cfg_.net.height && input_any.dim(3) == cfg_.net.width && input_any.dim(0) >= 1,
                "cuda darknet forward: input ", input_any.shape(), " does not match the network's (B, ",
                cfg_.net.channels, ", ", cfg_.net.height, ", ", cfg_.net.width, ")");
    const Tensor<float> input = input_any.device() == Device::cuda ? input_any : cuda::to_device(input_any, stream);
    const int64_t B = input.dim(0);
    const size_t n = cfg_.layers.size();
    std::vector<Tensor<float>> out(n);
    for (size_t i = 0; i < n; ++i) {
      const io::darknet::Layer& l = cfg_.layers[i];
      const Tensor<float>& prev = i == 0 ? input : out[i - 1];
      auto fresh = [&] { return Tensor<float>::empty({B, l.out.c, l.out.h, l.out.w}, Device::cuda); };
      if (l.as<io::darknet::Convolutional>()) {
        const DeviceConv& c = convs_[i];
        ops::Conv2dShape s = c.shape;
        s.B = B, s.H = l.in.h, s.W = l.in.w;
        if (const io::darknet::Shortcut* sc = fusable_shortcut(i, keep_all)) {
          const io::darknet::Layer& next = cfg_.layers[i + 1];
          Tensor<float> y = Tensor<float>::empty({B, next.out.c, next.out.h, next.out.w}, Device::cuda);
          cuda::kernels::conv2d_forward(y.data(), prev.data(), c.weight.data(), c.bias.data(), s, c.activation,
                                        out[size_t(sc->from)].data(),
                                        sc->activation == io::darknet::Activation::leaky, math_, stream);
          out[i + 1] = std::move(y);
          plan_.release(out, i + 1, keep_all);
          ++i;  // the shortcut is done
          continue;
        }
        Tensor<float> y = fresh();
        cuda::kernels::conv2d_forward(y.data(), prev.data(), c.weight.data(), c.bias.data(), s, c.activation,
                                      nullptr, false, math_, stream);
        out[i] = std::move(y);
      } else if (const auto* sc = l.as<io::darknet::Shortcut>()) {
        Tensor<float> y = fresh();
        cuda::kernels::shortcut_forward(y.data(), prev.data(), out[size_t(sc->from)].data(), y.numel(),
                                        sc->activation == io::darknet::Activation::leaky, stream);
        out[i] = std::move(y);
      } else if (const auto* r = l.as<io::darknet::Route>()) {
        if (r->layers.size() == 1) {
          out[i] = out[size_t(r->layers[0])];  // the same buffer: a route of one layer copies nothing
        } else {
          Tensor<float> y = fresh();
          const int64_t per_image = l.out.numel();
          int64_t offset = 0;
          for (int j : r->layers) {
            const int64_t part = cfg_.layers[size_t(j)].out.numel();
            cuda::kernels::concat_part_forward(y.data(), out[size_t(j)].data(), B, per_image, offset, part, stream);
            offset += part;
          }
          out[i] = std::move(y);
        }
      } else if (const auto* u = l.as<io::darknet::Upsample>()) {
        Tensor<float> y = fresh();
        cuda::kernels::upsample_nearest_forward(y.data(), prev.data(), B, l.in.c, l.in.h, l.in.w,
                                                int64_t(u->stride), u->scale, stream);
        out[i] = std::move(y);
      } else if (const auto* m = l.as<io::darknet::Maxpool>()) {
        Tensor<float> y = fresh();
        cuda::kernels::maxpool2d_forward(y.data(), prev.data(), B, l.in.c, l.in.h, l.in.w, int64_t(m->size),
                                         int64_t(m->stride), int64_t(m->padding), nullptr, stream);
        out[i] = std::move(y);
      } else if (const auto* yl = l.as<io::darknet::Yolo>()) {
        Tensor<float> y = fresh();
        cuda::kernels::yolo_activate(y.data(), prev.data(), B, int64_t(yl->anchor_count()), int64_t(yl->classes),
                                     int64_t(l.out.h) * l.out.w, stream);
        out[i] = std::move(y);
      } else {
        SIMAD_CHECK(false, "cuda darknet forward: layer ", i, " of '", cfg_.source, "' has a type without a GPU form");
      }
      plan_.release(out, i, keep_all);  // cudaFree waits for the kernels that read what goes
    }
    return plan_.collect(std::move(out), input, keep_all);
  }

 private:
  struct DeviceConv {
    ops::Conv2dShape shape;
    ops::ConvActivation activation = ops::ConvActivation::linear;
    Tensor<float> weight, bias;  // Device::cuda, (O, C, K, K) and (O), batch norm folded in
  };

  // The [shortcut] at i + 1 when the convolution at i can write it: the convolution's output is read by
  // nothing else (its last reader is the shortcut, it is not handed back, keep_all is off) and the
  // shortcut adds another layer's output.
  const io::darknet::Shortcut* fusable_shortcut(size_t i, bool keep_all) const {
    if (!plan_.only_next_reads(i, keep_all)) return nullptr;
    const auto* sc = cfg_.layers[i + 1].as<io::darknet::Shortcut>();
    return sc && size_t(sc->from) != i ? sc : nullptr;
  }

  io::darknet::Config cfg_;
  DarknetBufferPlan plan_;
  cuda::kernels::ConvMath math_;
  std::vector<DeviceConv> convs_;  // per layer (empty for non-convolutions)
};

// Every image's candidate boxes (nn/yolo.hpp's, before NMS), all scales in [yolo] order, decoded on the GPU
// from a CudaDarknetNetwork forward's outputs (cuda/kernels/yolo_decode.hpp): only the kept candidates come
// back to the host, not the [yolo] maps. The same candidates as nn::yolo_candidates on the CPU forward's
// outputs, the boxes' sizes within a few ulp (expf). Then nn::correct_boxes, nms_per_class and
// best_class_detections as nn::detect does. Waits for the device (it copies the candidates back).
inline std::vector<std::vector<Candidate>> cuda_yolo_candidates(const DarknetOutput& out,
                                                                const io::darknet::Config& cfg, float threshold,
                                                                cudaStream_t stream = nullptr) {
  SIMAD_CHECK(out.yolo.size() == out.yolo_layers.size() && !out.yolo.empty(),
              "cuda_yolo_candidates: an output with ", out.yolo.size(), " [yolo] maps for ", out.yolo_layers.size(),
              " layers");
  const int64_t B = out.yolo[0].dim(0);
  std::vector<std::vector<Candidate>> result(static_cast<size_t>(B));
  for (size_t s = 0; s < out.yolo.size(); ++s) {
    const io::darknet::Layer& l = cfg.layers[size_t(out.yolo_layers[s])];
    const auto* y = l.as<io::darknet::Yolo>();
    SIMAD_CHECK(y != nullptr && out.yolo[s].device() == Device::cuda && out.yolo[s].dim(0) == B,
                "cuda_yolo_candidates: output ", s, " is not a [yolo] map on the GPU for the batch");
    const int64_t A = y->anchor_count(), C = y->classes, lw = l.out.w, lh = l.out.h, cap = A * lw * lh;
    Tensor<float> anchors = Tensor<float>::empty({A, 2});
    for (int64_t n = 0; n < A; ++n) {
      const int a = y->mask[size_t(n)];
      anchors.data()[2 * n] = y->anchors[size_t(2 * a)], anchors.data()[2 * n + 1] = y->anchors[size_t(2 * a + 1)];
    }
    const Tensor<float> anchors_gpu = cuda::to_device(anchors, stream);
    auto box = Tensor<float>::empty({B, cap, 4}, Device::cuda), obj = Tensor<float>::empty({B, cap}, Device::cuda);
    auto prob = Tensor<float>::empty({B, std::max<int64_t>(cap * C, 1)}, Device::cuda);
    auto where = Tensor<int32_t>::empty({B, cap}, Device::cuda), count = Tensor<int32_t>::empty({B}, Device::cuda);
    cuda::kernels::yolo_decode(box.data(), obj.data(), prob.data(), where.data(), count.data(), out.yolo[s].data(),
                               anchors_gpu.data(), B, A, C, lw, lh, cfg.net.width, cfg.net.height, threshold, stream);
    const Tensor<int32_t> counts = cuda::to_host(count, stream);
    for (int64_t b = 0; b < B; ++b) {
      const int64_t n = counts.data()[b];
      if (n == 0) continue;
      // The image's first n slots of each output.
      std::vector<float> hb(static_cast<size_t>(n * 4)), ho(static_cast<size_t>(n)), hp(static_cast<size_t>(n * C));
      std::vector<int32_t> hw(static_cast<size_t>(n));
      auto fetch = [&](void* dst, const void* src, size_t bytes) {
        SIMAD_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream));
      };
      fetch(hb.data(), box.data() + b * cap * 4, hb.size() * sizeof(float));
      fetch(ho.data(), obj.data() + b * cap, ho.size() * sizeof(float));
      if (C > 0) fetch(hp.data(), prob.data() + b * cap * C, hp.size() * sizeof(float));
      fetch(hw.data(), where.data() + b * cap, hw.size() * sizeof(int32_t));
      SIMAD_CUDA_CHECK(cudaStreamSynchronize(stream));
      append_decoded_candidates(result[size_t(b)], hb.data(), ho.data(), hp.data(), hw.data(), n, *y, int(lw), int(s));
    }
  }
  return result;
}

}  // namespace simad::nn
