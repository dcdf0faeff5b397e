// tests/op_cases/cases_darknet_layers.cpp: rows of the op harness (op_harness.hpp) for the ops of the
// Darknet layers (ops/conv2d, maxpool2d, upsample, shortcut, batchnorm, yolo_activate, yolo_decode) and of the
// regions pooled from the detector's maps (ops/region_pool). Every row runs
// the CUDA launchers of the same name (kernels/<op>.cu) against the float CPU op: at zero tolerance where
// the kernel does the CPU's arithmetic in the CPU's order (maxpool2d, upsample, shortcut), within float
// rounding where its sums run in another order (conv2d, batchnorm) or expf replaces std::exp. Shapes are
// YOLOv3's at reduced spatial size, plus odd ones.
#include <algorithm>
#include <cstdint>
#include <span>

#include "op_harness.hpp"
#include "simad/ops/batchnorm.hpp"
#include "simad/ops/conv2d.hpp"
#include "simad/ops/maxpool2d.hpp"
#include "simad/ops/region_pool.hpp"
#include "simad/ops/reference/batchnorm.hpp"
#include "simad/ops/reference/conv2d.hpp"
#include "simad/ops/reference/maxpool2d.hpp"
#include "simad/ops/reference/region_pool.hpp"
#include "simad/ops/reference/shortcut.hpp"
#include "simad/ops/reference/upsample.hpp"
#include "simad/ops/reference/yolo_activate.hpp"
#include "simad/ops/reference/yolo_decode.hpp"
#include "simad/ops/shortcut.hpp"
#include "simad/ops/upsample.hpp"
#include "simad/ops/yolo_activate.hpp"
#include "simad/ops/yolo_decode.hpp"

#if defined(SIMAD_HAVE_CUDA_KERNELS)
#include "simad/cuda/kernels/batchnorm.hpp"
#include "simad/cuda/kernels/conv2d.hpp"
#include "simad/cuda/kernels/maxpool2d.hpp"
#include "simad/cuda/kernels/region_pool.hpp"
#include "simad/cuda/kernels/shortcut.hpp"
#include "simad/cuda/kernels/upsample.hpp"
#include "simad/cuda/kernels/yolo_activate.hpp"
#include "simad/cuda/kernels/yolo_decode.hpp"
#endif

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

using namespace simad::testing::op_cases;
using simad::ops::BatchNormVariant;
using simad::ops::Conv2dShape;
using simad::ops::ConvActivation;

Conv2dShape conv_shape(const auto& io) {
  return Conv2dShape{io.n("B"), io.n("C"), io.n("H"), io.n("W"), io.n("O"), io.n("K"), io.n("S"), io.n("P")};
}
ConvActivation activation_of(const auto& io) { return ConvActivation(io.n("act")); }

// 3x3 same and stride 2 (YOLOv3's downsampling), 1x1 as a plain GEMM and with stride 2, padding above
// K / 2, depth past a GEMM block, a map of 1056 cells at batch 2 (image by image) and batch 3 of small
// maps (the joint GEMM); filters past one CUDA tile (64) with depths that are not multiples of its slice (16).
const std::vector<Sizes> kConvShapes =
    sizes_of({"B", "C", "H", "W", "O", "K", "S", "P"}, {{2, 3, 7, 6, 4, 3, 1, 1},
                                                        {2, 3, 9, 7, 5, 3, 2, 1},
                                                        {1, 4, 5, 5, 3, 1, 1, 0},
                                                        {3, 4, 5, 3, 2, 1, 2, 0},
                                                        {1, 2, 4, 5, 2, 3, 1, 2},
                                                        {1, 40, 6, 6, 7, 3, 1, 1},
                                                        {2, 2, 33, 32, 3, 3, 1, 1},
                                                        {1, 20, 9, 11, 70, 3, 2, 1},
                                                        {2, 33, 13, 13, 65, 1, 1, 0}});

Specs conv_tensors(const Sizes& s) {
  const int64_t B = s.at("B"), C = s.at("C"), H = s.at("H"), W = s.at("W"), O = s.at("O"), K = s.at("K");
  const Conv2dShape cs{B, C, H, W, O, K, s.at("S"), s.at("P")};
  const simad::Shape out_shape{B, O, cs.out_h(), cs.out_w()};
  Specs v{real("inp", {B, C, H, W}), real("weight", {O, C, K, K}, -0.5, 0.5)};
  if (s.count("act")) {
    v.push_back(out("out", out_shape));
    if (s.at("bias")) v.push_back(real("bias", {O}));
  } else {
    v.push_back(real("dout", out_shape));
    if (s.at("grads") & 1) v.push_back(acc("dinp", {B, C, H, W}));
    if (s.at("grads") & 2) v.push_back(acc("dweight", {O, C, K, K}));
    if (s.at("grads") & 4) v.push_back(acc("dbias", {O}));
  }
  return v;
}

int64_t pooled(int64_t in, const Sizes& s) {
  return simad::ops::maxpool2d_out_size(in, s.at("size"), s.at("stride"), s.at("padding"));
}

BatchNormVariant variant_of(const auto& io) { return BatchNormVariant(io.n("variant")); }

const OpCase kCases[] = {
    {.name = "conv2d forward (act 0 linear, 1 leaky, 2 logistic)",
     .sizes = times(times(kConvShapes, "act", {0, 1, 2}), "bias", {0, 1}),
     .tensors = conv_tensors,
     .call = SIMAD_OP_CALL(kDouble | kCuda,
                           op_::conv2d_forward(io.p("out"), io.p("inp"), io.p("weight"), io.p_or_null("bias"),
                                               conv_shape(io), activation_of(io))),
     .tensor_call = {},
     .cpu = {1e-5, 1e-4},
     .cuda = {1e-5, 1e-4}},  // another order of the same float sums
    {.name = "conv2d backward (grads: 1 dinp, 2 dweight, 4 dbias)",
     .sizes = times(kConvShapes, "grads", {7, 1, 6}),
     .tensors = conv_tensors,
     .call = SIMAD_OP_CALL(kDouble | kCuda,
                           op_::conv2d_backward(io.p_or_null("dinp"), io.p_or_null("dweight"), io.p_or_null("dbias"),
                                                io.p("dout"), io.p("inp"), io.p("weight"), conv_shape(io))),
     .tensor_call = {},
     .cpu = {1e-5, 1e-4},
     .cuda = {1e-5, 1e-4}},
    // Darknet's 2/1 with padding 1 (yolov3-tiny's last pool), 2/2, 3/2 with padding, a window past the
    // edge, 1x1 maps; with and without argmax; the backward from the forward's argmax.
    {.name = "maxpool2d forward (with and without argmax), backward",
     .sizes = sizes_of({"B", "C", "H", "W", "size", "stride", "padding"}, {{1, 1, 1, 1, 2, 1, 1},
                                                                           {2, 3, 13, 13, 2, 1, 1},
                                                                           {2, 3, 8, 9, 2, 2, 0},
                                                                           {1, 2, 7, 7, 3, 2, 1},
                                                                           {3, 2, 5, 6, 5, 1, 4},
                                                                           {1, 4, 26, 26, 2, 2, 1},
                                                                           {2, 3, 27, 31, 2, 1, 1}}),
     .tensors =
         [](const Sizes& s) {
           const int64_t B = s.at("B"), C = s.at("C"), H = s.at("H"), W = s.at("W");
           const simad::Shape o{B, C, pooled(H, s), pooled(W, s)};
           // Tied inputs: the first in window order wins.
           return Specs{tied("inp", {B, C, H, W}), out("out", o), out("out_noarg", o), out("argmax", o, Kind::index),
                        real("dout", o), acc("dinp", {B, C, H, W})};
         },
     .call = SIMAD_OP_CALL(kDouble | kCuda, const int64_t B = io.n("B"), C = io.n("C"), H = io.n("H"),
                           W = io.n("W");
                           const int64_t size = io.n("size"), stride = io.n("stride"), padding = io.n("padding");
                           maxpool2d_forward(io.p("out"), io.p("inp"), B, C, H, W, size, stride, padding,
                                             io.i("argmax"));
                           maxpool2d_forward(io.p("out_noarg"), io.p("inp"), B, C, H, W, size, stride, padding);
                           maxpool2d_backward(io.p("dinp"), io.p("dout"), io.i("argmax"), B, C, H, W, size, stride,
                                              padding)),
     .tensor_call = {},
     .cpu = {1e-6, 1e-6},  // maxima exact; dinp's float additions round where the reference's do not
     .cuda = {0, 0},       // the CPU op's comparisons and order of additions: its bits
     .dbl = {0, 0}},
    {.name = "upsample_nearest forward, backward (scale 1 and 0.5)",
     .sizes = times(sizes_of({"B", "C", "H", "W", "S"}, {{1, 1, 1, 1, 2}, {2, 3, 13, 13, 2}, {1, 2, 5, 7, 3}}),
                    "half", {0, 1}),
     .tensors =
         [](const Sizes& s) {
           const int64_t B = s.at("B"), C = s.at("C"), H = s.at("H"), W = s.at("W"), S = s.at("S");
           const simad::Shape up{B, C, H * S, W * S};
           return Specs{real("inp", {B, C, H, W}), out("out", up), real("dout", up), acc("dinp", {B, C, H, W})};
         },
     .call = SIMAD_OP_CALL(kDouble | kCuda, const T_ scale = io.n("half") ? T_(0.5) : T_(1);
                           const int64_t B = io.n("B"), C = io.n("C"), H = io.n("H"), W = io.n("W"), S = io.n("S");
                           upsample_nearest_forward(io.p("out"), io.p("inp"), B, C, H, W, S, scale);
                           upsample_nearest_backward(io.p("dinp"), io.p("dout"), B, C, H, W, S, scale)),
     .tensor_call = {},
     .cuda = {0, 0}},  // the CPU op's products and order of additions
    {.name = "shortcut forward, backward (linear and leaky)",
     .sizes = times(sizes_of({"n"}, {{1}, {37}, {20000}}), "leaky", {0, 1}),
     .tensors =
         [](const Sizes& s) {
           const int64_t n = s.at("n");
           return Specs{real("a", {n}), real("b", {n}), out("out", {n}), real("dout", {n}), acc("da", {n}),
                        acc("db", {n})};
         },
     .call = SIMAD_OP_CALL(kDouble | kCuda, const bool leaky = io.n("leaky") != 0;
                           shortcut_forward(io.p("out"), io.p("a"), io.p("b"), io.n("n"), leaky);
                           shortcut_backward(io.p("da"), io.p("db"), io.p("dout"), io.p("out"), io.n("n"), leaky)),
     .tensor_call = {},
     .cuda = {0, 0}},  // elementwise: the CPU op's bits
    // Batch statistics (training: the running statistics updated), the inference form from them, the
    // backward through the batch statistics; both Darknet denominators.
    {.name = "batchnorm forward (train, inference), backward",
     .sizes = times(sizes_of({"B", "C", "HW"}, {{1, 1, 2}, {2, 3, 49}, {4, 5, 1}, {2, 16, 169}}), "variant", {0, 1}),
     .tensors =
         [](const Sizes& s) {
           const int64_t B = s.at("B"), C = s.at("C"), HW = s.at("HW");
           return Specs{real("inp", {B, C, HW}),
                        real("scale", {C}, 0.5, 1.5),
                        real("bias", {C}),
                        out("out", {B, C, HW}),
                        out("mean", {C}),
                        out("var", {C}),
                        acc("running_mean", {C}),
                        spec("running_var", {C}, Role::accumulated, Kind::real, 0.5, 2.0),  // updated, positive
                        out("out_inference", {B, C, HW}),
                        real("dout", {B, C, HW}),
                        acc("dinp", {B, C, HW}),
                        acc("dscale", {C}),
                        acc("dbias", {C})};
         },
     .call = SIMAD_OP_CALL(kDouble | kCuda, const int64_t B = io.n("B"), C = io.n("C"), HW = io.n("HW");
                           const BatchNormVariant v = variant_of(io);
                           op_::batchnorm_forward_train(io.p("out"), io.p("mean"), io.p("var"), io.p("running_mean"),
                                                        io.p("running_var"), io.p("inp"), io.p("scale"),
                                                        io.p("bias"), B, C, HW, v);
                           op_::batchnorm_forward_inference(io.p("out_inference"), io.p("inp"), io.p("scale"),
                                                            io.p("bias"), io.p("running_mean"), io.p("running_var"),
                                                            B, C, HW, v);
                           op_::batchnorm_backward(io.p("dinp"), io.p("dscale"), io.p("dbias"), io.p("dout"),
                                                   io.p("inp"), io.p("mean"), io.p("var"), io.p("scale"), B, C, HW,
                                                   v)),
     .tensor_call = {},
     .cpu = {1e-4, 1e-4},
     .cuda = {1e-4, 1e-4}},  // per-channel sums in a tree, not the CPU's serial order
    // Regions of a detector's map (nn/region_features.hpp): windows of one cell (detections), the whole map
    // (no detection), blocks (grid cells) and unset windows (another scale's regions: rows left as they were);
    // D above C (zero padding) and equal to it; ties (5 levels) so the max's rule is seen.
    {.name = "region_max_pool",
     .sizes = sizes_of({"B", "K", "D", "C", "H", "W"}, {{1, 1, 1, 1, 1, 1}, {2, 6, 9, 7, 5, 4}, {3, 20, 40, 33, 13, 13}}),
     .tensors =
         [](const Sizes& s) {
           const int64_t B = s.at("B"), K = s.at("K"), H = s.at("H"), W = s.at("W");
           Spec map = tied("map", {B, s.at("C"), H, W});
           Spec windows = index("windows", {B, K, 4}, 0, 1);
           windows.make_index = [H, W](simad::Rng& rng, std::span<int32_t> w) {
             for (size_t r = 0; r < w.size() / 4; ++r) {
               int32_t* v = w.data() + 4 * r;
               const uint32_t kind = rng.next_below(4);
               const auto y = int32_t(rng.next_below(uint32_t(H))), x = int32_t(rng.next_below(uint32_t(W)));
               if (kind == 0) {  // one cell
                 v[0] = y, v[1] = y + 1, v[2] = x, v[3] = x + 1;
               } else if (kind == 1) {  // the whole map
                 v[0] = 0, v[1] = int32_t(H), v[2] = 0, v[3] = int32_t(W);
               } else if (kind == 2) {  // a block
                 v[0] = y, v[1] = y + 1 + int32_t(rng.next_below(uint32_t(H - y))), v[2] = x;
                 v[3] = x + 1 + int32_t(rng.next_below(uint32_t(W - x)));
               } else {  // not from this map
                 v[0] = -1, v[1] = int32_t(rng.next_below(3)), v[2] = 0, v[3] = 0;
               }
             }
           };
           return Specs{map, windows, acc("out", {B, K, s.at("D")})};  // acc: unset rows must keep their values
         },
     .call = SIMAD_OP_CALL(kDouble | kCuda, region_max_pool(io.p("out"), io.p("map"), io.i("windows"), io.n("B"),
                                                            io.n("K"), io.n("D"), io.n("C"), io.n("H"), io.n("W"))),
     .tensor_call = {},
     .cuda = {0, 0}},  // maxima: exact
    // Darknet's [yolo] at inference: 3 anchors of 2 classes on 13 x 13 cells, 1 anchor of 80 classes;
    // logits wide enough to saturate the logistic.
    {.name = "yolo_activate",
     .sizes = sizes_of({"B", "A", "classes", "HW"}, {{1, 1, 0, 1}, {2, 3, 2, 169}, {1, 1, 80, 5}}),
     .tensors =
         [](const Sizes& s) {
           const simad::Shape shape{s.at("B"), s.at("A"), 5 + s.at("classes"), s.at("HW")};
           return Specs{real("inp", shape, -20.0, 20.0), out("out", shape)};
         },
     .call = SIMAD_OP_CALL(kDouble | kCuda, yolo_activate(io.p("out"), io.p("inp"), io.n("B"), io.n("A"),
                                                          io.n("classes"), io.n("HW"))),
     .tensor_call = {},
     .cuda = {1e-6, 1e-6}},  // expf against std::exp: a few ulp
    // Candidates of a [yolo] output: 3 anchors x 2 classes on 13 x 13 (past one run of 256 per thread: 507
    // cell-anchors), 1 anchor x 80 classes on 5 x 7, 2 x 0 classes on 1 cell; thresholds keeping about
    // 70%, 30% and none. Slots past an image's count are not written (they keep their values: "accumulated").
    {.name = "yolo_decode",
     .sizes = times(sizes_of({"B", "A", "classes", "lw", "lh"}, {{2, 3, 2, 13, 13}, {1, 1, 80, 7, 5}, {3, 2, 0, 1, 1}}),
                    "threshold_percent", {30, 70, 100}),
     .tensors =
         [](const Sizes& s) {
           const int64_t B = s.at("B"), A = s.at("A"), C = s.at("classes"), cap = A * s.at("lw") * s.at("lh");
           return Specs{real("pred", {B, A, 5 + C, s.at("lh") * s.at("lw")}, 0.0, 1.0),
                        real("anchors", {A, 2}, 5.0, 60.0),
                        acc("box", {B, cap, 4}),
                        acc("objectness", {B, cap}),
                        acc("prob", {B, std::max<int64_t>(cap * C, 1)}),
                        spec("where", {B, cap}, Role::accumulated, Kind::index, 0, 1),
                        out("count", {B}, Kind::index)};
         },
     .call = SIMAD_OP_CALL(kDouble | kCuda,
                           yolo_decode(io.p("box"), io.p("objectness"), io.p("prob"), io.i("where"), io.i("count"),
                                       io.p("pred"), io.p("anchors"), io.n("B"), io.n("A"), io.n("classes"),
                                       io.n("lw"), io.n("lh"), int64_t(416), int64_t(320),
                                       T_(io.n("threshold_percent")) / T_(100))),
     .tensor_call = {},
     .cuda = {1e-6, 1e-6}},  // expf in the boxes' sizes
};

}  // namespace

TEST_CASE("op_cases: darknet layers (conv2d, maxpool2d, upsample, shortcut, batchnorm, yolo activate and decode, region pooling)") {
  check_cases(kCases);
}

}  // namespace SIMAD_TEST_FILE_ID
