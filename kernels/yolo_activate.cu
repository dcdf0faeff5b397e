// kernels/yolo_activate.cu: Darknet's [yolo] activation (simad/cuda/kernels/yolo_activate.hpp; the CPU op is
// simad/ops/yolo_activate.hpp). Grid-stride, one element per thread and step.
#include "simad/cuda/kernels/yolo_activate.hpp"

#include <climits>

#include "simad/core/error.hpp"
#include "simad/cuda/grid_stride.hpp"
#include "simad/cuda/portable.hpp"

namespace simad::cuda::kernels {

namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
    yolo_activate_kernel(float* out, const float* inp, long long n, int rows, int HW) {
  SIMAD_GRID_STRIDE(i, n) {
    const int row = int(i / HW % rows);
    out[i] = row == 2 || row == 3 ? inp[i] : 1.0f / (1.0f + expf(-inp[i]));
  }
}

}  // namespace

void yolo_activate(float* out, const float* inp, int64_t B, int64_t A, int64_t classes, int64_t HW,
                   cudaStream_t stream) {
  SIMAD_CHECK(B >= 0 && A >= 0 && classes >= 0 && HW >= 0, "cuda yolo_activate: bad arguments B=", B, " anchors=", A,
              " classes=", classes, " cells=", HW);
  SIMAD_CHECK(HW <= INT_MAX && 5 + classes <= INT_MAX, "cuda yolo_activate: ", HW, " cells or ", classes,
              " classes too many");
  const long long n = static_cast<long long>(B * A * (5 + classes) * HW);
  if (n == 0) return;
  SIMAD_CHECK(out != nullptr && inp != nullptr, "cuda yolo_activate: null out or inp");
  SIMAD_LAUNCH(yolo_activate_kernel, cuda::grid_stride_blocks(n, kThreads), dim3(kThreads), 0, stream, out, inp, n,
               int(5 + classes), int(HW));
}

}  // namespace simad::cuda::kernels
