// tests/cuda/kernels/test_layernorm.cpp: kernels/layernorm.cu's argument checks and its backward on a
// caller-owned workspace. Its other results (against the CPU op, null optional pointers, identical bits
// on two runs) are rows of tests/op_cases/cases_layernorm.cpp.
#include <algorithm>
#include <utility>
#include <vector>

#include "device_buffer.hpp"
#include "simad/core/error.hpp"
#include "simad/cuda/kernels/layernorm.hpp"
#include "simad/ops/reference/layernorm.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

namespace k = simad::cuda::kernels;

}  // namespace

TEST_CASE("cuda/layernorm: bad arguments throw") {
  float* p = reinterpret_cast<float*>(16);
  CHECK_THROWS_AS(k::layernorm_forward(p, nullptr, nullptr, p, nullptr, nullptr, -1, 3), simad::Error);
  CHECK_THROWS_AS(k::layernorm_forward(p, nullptr, nullptr, p, nullptr, nullptr, 2, 0), simad::Error);
  CHECK_THROWS_AS(k::layernorm_forward(p, nullptr, nullptr, p, nullptr, nullptr, 2, 3, -1.0f), simad::Error);
  CHECK_THROWS_AS(k::layernorm_forward(nullptr, nullptr, nullptr, p, nullptr, nullptr, 2, 3), simad::Error);
  CHECK_THROWS_AS(k::layernorm_backward(p, nullptr, nullptr, p, p, nullptr, nullptr, p, 2, 3), simad::Error);
  CHECK_THROWS_AS(k::layernorm_backward_workspace_bytes(-1, 3), simad::Error);
}

TEST_CASE("cuda/layernorm: the backward on a caller's workspace matches the reference and the allocating call") {
  using simad::testing::Dev;
  simad::Rng rng = simad::testing::test_rng(7);
  // N = 64 is one chunk (no workspace), 65 two, 20000 the most (256); C across the warp/block limit.
  for (const auto& [N, C] : {std::pair<int64_t, int64_t>{64, 7}, {65, 33}, {300, 1100}, {20000, 5}}) {
    CAPTURE(N);
    CAPTURE(C);
    // 2 * chunks * C floats, chunks = min(256, ceil(N / 64)), none for one chunk.
    const int64_t chunks = std::min<int64_t>(256, (N + 63) / 64);
    const size_t need = k::layernorm_backward_workspace_bytes(N, C);
    CHECK(need == (chunks > 1 ? size_t(2 * chunks * C) * sizeof(float) : 0));
    const auto x = simad::testing::random_vector<float>(rng, size_t(N * C), -2.0, 2.0);
    const auto dy = simad::testing::random_vector<float>(rng, size_t(N * C));
    const auto w = simad::testing::random_vector<float>(rng, size_t(C), 0.5, 1.5);
    const auto dw0 = simad::testing::random_vector<float>(rng, size_t(C));  // accumulated into
    std::vector<float> mean(static_cast<size_t>(N)), rstd(static_cast<size_t>(N)), y(static_cast<size_t>(N * C));
    simad::ops::reference::layernorm_forward(y.data(), mean.data(), rstd.data(), x.data(), w.data(),
                                             static_cast<const float*>(nullptr), N, C, 1e-5f);
    std::vector<double> ref_dw(dw0.begin(), dw0.end()), ref_db(dw0.begin(), dw0.end());
    {
      std::vector<double> xd(x.begin(), x.end()), dyd(dy.begin(), dy.end()), wd(w.begin(), w.end());
      std::vector<double> md(mean.begin(), mean.end()), rd(rstd.begin(), rstd.end());
      simad::ops::reference::layernorm_backward(static_cast<double*>(nullptr), ref_dw.data(), ref_db.data(),
                                                dyd.data(), xd.data(), wd.data(), md.data(), rd.data(), N, C);
    }
    Dev<float> dx(x), ddy(dy), dwt(w), dmean(mean), drstd(rstd);
    Dev<float> dw_ws(dw0), db_ws(dw0), dw_alloc(dw0), db_alloc(dw0);
    // The workspace starts poisoned: the partials must be written before they are read.
    Dev<float> ws = Dev<float>::poisoned(std::max<size_t>(need / sizeof(float), 1));
    k::layernorm_backward(nullptr, dw_ws.ptr, db_ws.ptr, ddy.ptr, dx.ptr, dwt.ptr, dmean.ptr, drstd.ptr, N, C,
                          need ? ws.ptr : nullptr, need);
    k::layernorm_backward(nullptr, dw_alloc.ptr, db_alloc.ptr, ddy.ptr, dx.ptr, dwt.ptr, dmean.ptr, drstd.ptr, N, C);
    CUDA_OK(cudaDeviceSynchronize());
    const std::vector<float> got_dw = dw_ws.get(), got_db = db_ws.get();
    simad::testing::check_close(got_dw, ref_dw, 2e-5 * double(N) / 64.0 + 1e-5, 1e-5, "dweight");
    simad::testing::check_close(got_db, ref_db, 2e-5 * double(N) / 64.0 + 1e-5, 1e-5, "dbias");
    CHECK(simad::testing::same_bits(got_dw, dw_alloc.get()));
    CHECK(simad::testing::same_bits(got_db, db_alloc.get()));
    if (need > 0) {  // one float short, or none: refused before anything is written
      CHECK_THROWS_AS(k::layernorm_backward(nullptr, dw_ws.ptr, nullptr, ddy.ptr, dx.ptr, dwt.ptr, dmean.ptr,
                                            drstd.ptr, N, C, ws.ptr, need - sizeof(float)),
                      simad::Error);
      CHECK_THROWS_AS(k::layernorm_backward(nullptr, dw_ws.ptr, nullptr, ddy.ptr, dx.ptr, dwt.ptr, dmean.ptr,
                                            drstd.ptr, N, C, nullptr, need),
                      simad::Error);
      CHECK(simad::testing::same_bits(dw_ws.get(), got_dw));
    }
  }
}

}  // namespace SIMAD_TEST_FILE_ID
