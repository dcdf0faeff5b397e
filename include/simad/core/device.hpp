// simad/core/device.hpp: where a tensor's bytes live. The CPU is always there; CUDA memory comes with
// the CUDA backend (include/simad/cuda/), which registers its allocator for Device::cuda.
#pragma once

#include <string_view>

namespace simad {

enum class Device { cpu, cuda };

constexpr std::string_view device_name(Device d) { return d == Device::cpu ? "cpu" : "cuda"; }

}  // namespace simad
