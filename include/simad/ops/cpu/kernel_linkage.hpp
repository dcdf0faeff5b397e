// simad/ops/cpu/kernel_linkage.hpp: where the CPU kernels' entry points are compiled.
//
// Header-only by default: sgemm, gemm_bf16 (ops/cpu/sgemm.hpp), conv2d_direct, conv2d_implicit and
// conv2d_winograd are inline functions, compiled with every ISA variant beneath them in each translation
// unit that calls them (6-9 s of g++ -O3 per unit). A program of many units can compile them once
// instead, as stb's libraries do:
//   - every unit defines SIMAD_CPU_KERNELS_SEPARATE (on the compiler's command line): the entry points
//     are then ordinary functions, declared here and not defined;
//   - exactly one unit also defines SIMAD_CPU_KERNELS_IMPLEMENTATION and includes
//     simad/ops/cpu/kernels_implementation.hpp, which defines them, before any other simad header.
// The same code either way, so the same results. All units of a program must agree on
// SIMAD_CPU_KERNELS_SEPARATE. This tree's own programs (tests, CLI, benchmarks, examples) are built the
// second way (CMake option SIMAD_SEPARATE_CPU_KERNELS; target simad_cpu_kernels).
//
// An entry point is written
//   SIMAD_CPU_KERNEL_ENTRY void name(args)
//   #if SIMAD_CPU_KERNEL_DEFINITIONS
//   { body }
//   #else
//   ;
//   #endif
#pragma once

#if defined(SIMAD_CPU_KERNELS_SEPARATE)
#define SIMAD_CPU_KERNEL_ENTRY
#if defined(SIMAD_CPU_KERNELS_IMPLEMENTATION)
#define SIMAD_CPU_KERNEL_DEFINITIONS 1
#else
#define SIMAD_CPU_KERNEL_DEFINITIONS 0
#endif
#else
#if defined(SIMAD_CPU_KERNELS_IMPLEMENTATION)
#error "SIMAD_CPU_KERNELS_IMPLEMENTATION needs SIMAD_CPU_KERNELS_SEPARATE (simad/ops/cpu/kernel_linkage.hpp)"
#endif
#define SIMAD_CPU_KERNEL_ENTRY inline
#define SIMAD_CPU_KERNEL_DEFINITIONS 1
#endif
