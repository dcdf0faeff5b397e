// device_launch_parameters.h for the SIMT emulator: found by the host compiler instead of CUDA's own header because
// include/simad/cuda/emu/shim comes first on the include path (target simad::cuda_emu).
// Never put this directory on nvcc's include path.
#pragma once
#include "../emu.hpp"
