// Compiled by the ctest "install: kernels_implementation.hpp after another simad header ..." (tests/CMakeLists.txt)
// with SIMAD_CPU_KERNELS_SEPARATE defined: a file that includes a simad header before it defines
// SIMAD_CPU_KERNELS_IMPLEMENTATION (ops/cpu/kernel_linkage.hpp) must stop with the header's #error, not
// compile into a unit without the kernels' bodies.
#include "simad/ops/cpu/sgemm.hpp"
#define SIMAD_CPU_KERNELS_IMPLEMENTATION
#include "simad/ops/cpu/kernels_implementation.hpp"
