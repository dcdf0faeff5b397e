// The one translation unit that compiles simad's CPU kernels for this tree's programs (target
// simad_cpu_kernels, CMake option SIMAD_SEPARATE_CPU_KERNELS; include/simad/ops/cpu/kernel_linkage.hpp).
// CMake defines SIMAD_CPU_KERNELS_SEPARATE for every unit that links it and SIMAD_CPU_KERNELS_IMPLEMENTATION
// for this one.
#include "simad/ops/cpu/kernels_implementation.hpp"
