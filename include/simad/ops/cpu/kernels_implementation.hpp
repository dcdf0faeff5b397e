// simad/ops/cpu/kernels_implementation.hpp: the definitions of the CPU kernels' entry points, for the one
// translation unit of a program that compiles them (ops/cpu/kernel_linkage.hpp):
//   #define SIMAD_CPU_KERNELS_IMPLEMENTATION      // with SIMAD_CPU_KERNELS_SEPARATE set for every unit
//   #include "simad/ops/cpu/kernels_implementation.hpp"
#pragma once

#if !defined(SIMAD_CPU_KERNELS_SEPARATE) || !defined(SIMAD_CPU_KERNELS_IMPLEMENTATION)
#error "include simad/ops/cpu/kernels_implementation.hpp with SIMAD_CPU_KERNELS_SEPARATE and SIMAD_CPU_KERNELS_IMPLEMENTATION defined"
#endif
// A simad header included before SIMAD_CPU_KERNELS_IMPLEMENTATION was defined declared the entry points
// without their bodies, and #pragma once would keep them out now: say so rather than fail at link time.
#if defined(SIMAD_CPU_KERNEL_DEFINITIONS) && !SIMAD_CPU_KERNEL_DEFINITIONS
#error "define SIMAD_CPU_KERNELS_IMPLEMENTATION before the first simad header of this file"
#endif

#include "simad/ops/cpu/conv2d_direct.hpp"    // IWYU pragma: export
#include "simad/ops/cpu/conv2d_implicit.hpp"  // IWYU pragma: export
#include "simad/ops/cpu/conv2d_winograd.hpp"  // IWYU pragma: export
#include "simad/ops/cpu/sgemm.hpp"            // IWYU pragma: export
