// tests/cuda/native/native_main.cpp: the doctest main of the natively built kernel tests (the
// tests/cuda/kernels/test_*.cpp files compiled by the host compiler against CUDA's real runtime and
// linked with the nvcc-built simad::kernels). Without a usable CUDA device (cudaGetDeviceCount fails,
// e.g. 35 "insufficient driver", or finds none) it prints "skipped: no CUDA device" and exits 77,
// which ctest counts as skipped (SKIP_RETURN_CODE 77). Listing options still answer normally, so
// doctest_discover_tests finds the test cases on a machine without a GPU.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <string_view>

#include "simad/cuda/runtime.hpp"

namespace {
// doctest's options that only list or describe, with and without the --dt- prefix.
bool only_lists(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    for (std::string_view prefix : {"--dt-", "-dt-", "--", "-"})
      if (a.substr(0, prefix.size()) == prefix) {
        a.remove_prefix(prefix.size());
        break;
      }
    for (std::string_view opt : {"list-test-cases", "ltc", "list-test-suites", "lts", "list-reporters", "ltr",
                                 "help", "h", "?", "version", "v", "count", "c"})
      if (a == opt || (a.substr(0, opt.size()) == opt && a.size() > opt.size() && a[opt.size()] == '='))
        return true;
  }
  return false;
}
}  // namespace

int main(int argc, char** argv) {
  doctest::Context context(argc, argv);
  if (!only_lists(argc, argv) && !simad::cuda::has_cuda_device()) {
    std::printf("skipped: no CUDA device\n");
    return 77;
  }
  return context.run();
}
