// simad/cuda/emu/runtime.hpp: the CUDA runtime API subset for the emulator. "Device" memory is host
// memory: cudaMalloc is a 256-byte aligned allocation of exactly the requested size (so ASan catches
// overruns), filled with 0xFF bytes (NaN as float) unless SIMAD_EMU_POISON=0. Allocations are tracked,
// so copies and memsets check that their device ranges lie inside one allocation and match the kind.
//
// Launches are synchronous, so streams and events are trivially ordered; events take steady_clock
// time stamps. Errors follow CUDA: each call returns its cudaError_t and sets the (per host thread)
// last error; a failed kernel sets the sticky cudaErrorLaunchFailure, which every later call returns
// until cudaDeviceReset() (which, as in CUDA, also frees all allocations, streams and events).
#pragma once

#include "simad/cuda/emu/config.hpp"
#include "simad/cuda/emu/runtime_types.hpp"
#include "simad/cuda/emu/scheduler.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <mutex>
#include <set>
#include <string>

struct CUstream_st {
  unsigned flags = 0;
};
struct CUevent_st {
  std::chrono::steady_clock::time_point time{};
  bool recorded = false;
  unsigned flags = 0;
};

namespace simad::cuda::emu::detail {

enum class MemKind { device, host, managed };

struct Allocation {
  std::size_t size = 0;
  MemKind kind = MemKind::device;
};

struct Runtime {
  std::mutex mutex;
  std::map<std::uintptr_t, Allocation> allocations;  // by start address
  std::set<CUstream_st*> streams;
  std::set<CUevent_st*> events;
  std::map<const void*, int> max_dynamic_smem;       // cudaFuncAttributeMaxDynamicSharedMemorySize
  std::size_t device_bytes = 0;

  ~Runtime() { release_all(); }
  void release_all() {
    for (auto& [address, a] : allocations) std::free(reinterpret_cast<void*>(address));
    allocations.clear();
    device_bytes = 0;
    for (CUstream_st* s : streams) delete s;
    streams.clear();
    for (CUevent_st* e : events) delete e;
    events.clear();
    max_dynamic_smem.clear();
  }

  // The allocation containing [p, p + n), or nullptr if p is not in one. *inside: whether all of
  // [p, p + n) is in it.
  const Allocation* find(const void* p, std::size_t n, bool* inside) const {
    const auto address = reinterpret_cast<std::uintptr_t>(p);
    auto it = allocations.upper_bound(address);
    if (it == allocations.begin()) return nullptr;
    --it;
    const std::uintptr_t begin = it->first, end = begin + it->second.size;
    if (address < begin || address >= end + (it->second.size == 0 ? 1 : 0)) return nullptr;
    *inside = n <= end - address;
    return &it->second;
  }
};

inline Runtime& runtime() {
  static Runtime r;
  return r;
}

inline cudaError_t set_error(cudaError_t e) {
  if (e != cudaSuccess) tl_last_error = e;
  return e;
}

// A misuse of the API that CUDA reports only as an error code: say what was wrong.
inline cudaError_t api_error(cudaError_t e, const std::string& what) {
  if (!config().quiet) std::fprintf(stderr, "[simad-emu] %s\n", what.c_str());
  return set_error(e);
}

inline void* allocate(std::size_t size, MemKind kind) {
  void* p = nullptr;
  if (posix_memalign(&p, 256, size ? size : 1) != 0) return nullptr;
  if (config().poison) std::memset(p, 0xff, size);
  Runtime& rt = runtime();
  std::lock_guard lock(rt.mutex);
  rt.allocations[reinterpret_cast<std::uintptr_t>(p)] = Allocation{size, kind};
  if (kind != MemKind::host) rt.device_bytes += size;
  return p;
}

inline cudaError_t release(void* p, bool host, const char* api) {
  if (!p) return cudaSuccess;
  Runtime& rt = runtime();
  std::unique_lock lock(rt.mutex);
  auto it = rt.allocations.find(reinterpret_cast<std::uintptr_t>(p));
  if (it == rt.allocations.end() || (it->second.kind == MemKind::host) != host) {
    lock.unlock();
    return api_error(cudaErrorInvalidValue, std::string(api) + ": " + (host ? "not a cudaMallocHost pointer" : "not a cudaMalloc pointer"));
  }
  if (!host) rt.device_bytes -= it->second.size;
  rt.allocations.erase(it);
  lock.unlock();
  std::free(p);
  return cudaSuccess;
}

// Checks one side of a copy or memset. want_device: the kind says it is device memory.
inline cudaError_t check_range(const char* api, const char* side, const void* p, std::size_t n, int want_device) {
  if (n == 0) return cudaSuccess;
  Runtime& rt = runtime();
  std::unique_lock lock(rt.mutex);
  bool inside = false;
  const Allocation* a = rt.find(p, n, &inside);
  const bool device = a && a->kind != MemKind::host;
  const bool managed = a && a->kind == MemKind::managed;
  lock.unlock();
  char buf[64];
  std::snprintf(buf, sizeof buf, "%p", p);
  if (want_device == 1 && !device)
    return api_error(cudaErrorInvalidValue, std::string(api) + ": " + side + " " + buf + " is not device memory");
  if (want_device == 0 && device && !managed)
    return api_error(cudaErrorInvalidValue, std::string(api) + ": " + side + " " + buf + " is device memory, the kind says host");
  if (a && !inside)
    return api_error(cudaErrorInvalidValue, std::string(api) + ": " + side + " " + buf + " + " + std::to_string(n) +
                                                 " bytes runs past the end of its " + std::to_string(a->size) + "-byte allocation");
  return cudaSuccess;
}

inline cudaError_t copy(const char* api, void* dst, const void* src, std::size_t count, cudaMemcpyKind kind) {
  if (const cudaError_t s = sticky_error()) return set_error(s);
  int dst_device = -1, src_device = -1;  // -1: either
  switch (kind) {
    case cudaMemcpyHostToHost: dst_device = 0, src_device = 0; break;
    case cudaMemcpyHostToDevice: dst_device = 1, src_device = 0; break;
    case cudaMemcpyDeviceToHost: dst_device = 0, src_device = 1; break;
    case cudaMemcpyDeviceToDevice: dst_device = 1, src_device = 1; break;
    case cudaMemcpyDefault: break;
    default: return api_error(cudaErrorInvalidMemcpyDirection, std::string(api) + ": invalid cudaMemcpyKind");
  }
  if (count && (!dst || !src)) return api_error(cudaErrorInvalidValue, std::string(api) + ": null pointer");
  if (kind != cudaMemcpyHostToHost) {
    if (cudaError_t e = check_range(api, "destination", dst, count, dst_device)) return e;
    if (cudaError_t e = check_range(api, "source", src, count, src_device)) return e;
  }
  if (count) std::memmove(dst, src, count);
  return cudaSuccess;
}

inline bool valid_stream(cudaStream_t s) {
  if (s == nullptr || s == cudaStreamLegacy || s == cudaStreamPerThread) return true;
  Runtime& rt = runtime();
  std::lock_guard lock(rt.mutex);
  return rt.streams.count(s) != 0;
}

inline bool valid_event(cudaEvent_t e) {
  Runtime& rt = runtime();
  std::lock_guard lock(rt.mutex);
  return e && rt.events.count(e) != 0;
}

inline int max_dynamic_smem(const void* kernel) {
  Runtime& rt = runtime();
  std::lock_guard lock(rt.mutex);
  auto it = rt.max_dynamic_smem.find(kernel);
  return it == rt.max_dynamic_smem.end() ? int(kSharedMemPerBlock) : it->second;
}

}  // namespace simad::cuda::emu::detail

// ---- errors ------------------------------------------------------------------------------------
inline cudaError_t cudaGetLastError() {
  using namespace simad::cuda::emu::detail;
  if (const cudaError_t s = sticky_error()) return s;
  const cudaError_t e = tl_last_error;
  tl_last_error = cudaSuccess;
  return e;
}
inline cudaError_t cudaPeekAtLastError() {
  using namespace simad::cuda::emu::detail;
  if (const cudaError_t s = sticky_error()) return s;
  return tl_last_error;
}
inline const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInitializationError: return "cudaErrorInitializationError";
    case cudaErrorCudartUnloading: return "cudaErrorCudartUnloading";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidPitchValue: return "cudaErrorInvalidPitchValue";
    case cudaErrorInvalidSymbol: return "cudaErrorInvalidSymbol";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorInsufficientDriver: return "cudaErrorInsufficientDriver";
    case cudaErrorInvalidDeviceFunction: return "cudaErrorInvalidDeviceFunction";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
    case cudaErrorLaunchOutOfResources: return "cudaErrorLaunchOutOfResources";
    case cudaErrorLaunchTimeout: return "cudaErrorLaunchTimeout";
    case cudaErrorAssert: return "cudaErrorAssert";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorNotSupported: return "cudaErrorNotSupported";
    case cudaErrorUnknown: return "cudaErrorUnknown";
  }
  return "unrecognized error code";
}
inline const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInitializationError: return "initialization error";
    case cudaErrorCudartUnloading: return "driver shutting down";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidPitchValue: return "invalid pitch argument";
    case cudaErrorInvalidSymbol: return "invalid device symbol";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorInsufficientDriver: return "CUDA driver version is insufficient for CUDA runtime version";
    case cudaErrorInvalidDeviceFunction: return "invalid device function";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorLaunchOutOfResources: return "too many resources requested for launch";
    case cudaErrorLaunchTimeout: return "the launch timed out and was terminated";
    case cudaErrorAssert: return "device-side assert triggered";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    case cudaErrorNotSupported: return "operation not supported";
    case cudaErrorUnknown: return "unknown error";
  }
  return "unrecognized error code";
}

// ---- device ------------------------------------------------------------------------------------
inline cudaError_t cudaGetDeviceCount(int* count) {
  if (!count) return simad::cuda::emu::detail::set_error(cudaErrorInvalidValue);
  *count = 1;
  return cudaSuccess;
}
inline cudaError_t cudaGetDevice(int* device) {
  if (!device) return simad::cuda::emu::detail::set_error(cudaErrorInvalidValue);
  *device = 0;
  return cudaSuccess;
}
inline cudaError_t cudaSetDevice(int device) {
  return device == 0 ? cudaSuccess : simad::cuda::emu::detail::set_error(cudaErrorInvalidDevice);
}
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  using namespace simad::cuda::emu;
  if (!prop) return detail::set_error(cudaErrorInvalidValue);
  if (device != 0) return detail::set_error(cudaErrorInvalidDevice);
  *prop = cudaDeviceProp{};
  std::snprintf(prop->name, sizeof prop->name, "%s", "simad SIMT emulator");
  prop->totalGlobalMem = std::size_t(80) << 30;
  prop->sharedMemPerBlock = kSharedMemPerBlock;
  prop->regsPerBlock = 65536;
  prop->warpSize = 32;
  prop->memPitch = std::size_t(2147483647);
  prop->maxThreadsPerBlock = int(kMaxThreadsPerBlock);
  for (int i = 0; i < 3; ++i) prop->maxThreadsDim[i] = int(kMaxBlockDim[i]), prop->maxGridSize[i] = int(kMaxGridDim[i]);
  prop->totalConstMem = 65536;
  prop->major = 9;
  prop->minor = 0;
  prop->multiProcessorCount = int(config().workers);
  prop->concurrentKernels = 0;
  prop->asyncEngineCount = 0;
  prop->unifiedAddressing = 1;
  prop->memoryBusWidth = 64;
  prop->l2CacheSize = 1 << 20;
  prop->maxThreadsPerMultiProcessor = 2048;
  prop->sharedMemPerMultiprocessor = 228 * 1024;
  prop->regsPerMultiprocessor = 65536;
  prop->managedMemory = 1;
  prop->cooperativeLaunch = 0;
  prop->sharedMemPerBlockOptin = kSharedMemPerBlockOptin;
  prop->maxBlocksPerMultiProcessor = 32;
  prop->reservedSharedMemPerBlock = 1024;
  return cudaSuccess;
}
inline cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  using namespace simad::cuda::emu;
  if (!value) return detail::set_error(cudaErrorInvalidValue);
  if (device != 0) return detail::set_error(cudaErrorInvalidDevice);
  switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: *value = int(kMaxThreadsPerBlock); break;
    case cudaDevAttrMaxBlockDimX: *value = int(kMaxBlockDim[0]); break;
    case cudaDevAttrMaxBlockDimY: *value = int(kMaxBlockDim[1]); break;
    case cudaDevAttrMaxBlockDimZ: *value = int(kMaxBlockDim[2]); break;
    case cudaDevAttrMaxGridDimX: *value = int(kMaxGridDim[0]); break;
    case cudaDevAttrMaxGridDimY: *value = int(kMaxGridDim[1]); break;
    case cudaDevAttrMaxGridDimZ: *value = int(kMaxGridDim[2]); break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = int(kSharedMemPerBlock); break;
    case cudaDevAttrWarpSize: *value = 32; break;
    case cudaDevAttrMultiProcessorCount: *value = int(config().workers); break;
    case cudaDevAttrComputeCapabilityMajor: *value = 9; break;
    case cudaDevAttrComputeCapabilityMinor: *value = 0; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = int(kSharedMemPerBlockOptin); break;
    default: return detail::set_error(cudaErrorInvalidValue);
  }
  return cudaSuccess;
}
inline cudaError_t cudaDeviceSynchronize() {
  using namespace simad::cuda::emu::detail;
  if (const cudaError_t s = sticky_error()) return set_error(s);
  return cudaSuccess;
}
// Clears the sticky error and, as on a GPU, destroys every allocation, stream and event.
inline cudaError_t cudaDeviceReset() {
  using namespace simad::cuda::emu::detail;
  Emulator& emu = emulator();
  {
    std::lock_guard launch(emu.launch_mutex);
    std::lock_guard state(emu.state_mutex);
    emu.sticky.store(0);
    emu.last_errors.clear();
  }
  Runtime& rt = runtime();
  std::lock_guard lock(rt.mutex);
  rt.release_all();
  tl_last_error = cudaSuccess;
  return cudaSuccess;
}
inline cudaError_t cudaRuntimeGetVersion(int* v) {
  if (!v) return simad::cuda::emu::detail::set_error(cudaErrorInvalidValue);
  *v = CUDART_VERSION;
  return cudaSuccess;
}
inline cudaError_t cudaDriverGetVersion(int* v) {
  if (!v) return simad::cuda::emu::detail::set_error(cudaErrorInvalidValue);
  *v = CUDART_VERSION;
  return cudaSuccess;
}

// ---- kernel attributes -------------------------------------------------------------------------
inline cudaError_t cudaFuncSetAttribute(const void* func, cudaFuncAttribute attr, int value) {
  using namespace simad::cuda::emu::detail;
  if (const cudaError_t s = sticky_error()) return set_error(s);
  if (!func) return set_error(cudaErrorInvalidDeviceFunction);
  if (attr == cudaFuncAttributePreferredSharedMemoryCarveout) return cudaSuccess;
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize) return set_error(cudaErrorInvalidValue);
  if (value < 0 || std::size_t(value) > simad::cuda::emu::kSharedMemPerBlockOptin)
    return api_error(cudaErrorInvalidValue, cat("cudaFuncSetAttribute: MaxDynamicSharedMemorySize ", value,
                                                " is more than the device's opt-in limit of ",
                                                simad::cuda::emu::kSharedMemPerBlockOptin, " bytes"));
  Runtime& rt = runtime();
  std::lock_guard lock(rt.mutex);
  rt.max_dynamic_smem[func] = value;
  return cudaSuccess;
}
template <typename... P>
cudaError_t cudaFuncSetAttribute(void (*func)(P...), cudaFuncAttribute attr, int value) {
  return cudaFuncSetAttribute(std::bit_cast<const void*>(func), attr, value);
}
inline cudaError_t cudaFuncGetAttributes(cudaFuncAttributes* attr, const void* func) {
  using namespace simad::cuda::emu::detail;
  if (!attr) return set_error(cudaErrorInvalidValue);
  if (!func) return set_error(cudaErrorInvalidDeviceFunction);
  *attr = cudaFuncAttributes{};
  attr->maxThreadsPerBlock = int(simad::cuda::emu::kMaxThreadsPerBlock);
  attr->maxDynamicSharedSizeBytes = max_dynamic_smem(func);
  attr->numRegs = 32;
  attr->ptxVersion = attr->binaryVersion = 90;
  attr->preferredShmemCarveout = -1;
  return cudaSuccess;
}
template <typename... P>
cudaError_t cudaFuncGetAttributes(cudaFuncAttributes* attr, void (*func)(P...)) {
  return cudaFuncGetAttributes(attr, std::bit_cast<const void*>(func));
}

// ---- memory ------------------------------------------------------------------------------------
inline cudaError_t cudaMalloc(void** devPtr, std::size_t size) {
  using namespace simad::cuda::emu::detail;
  if (const cudaError_t s = sticky_error()) return set_error(s);
  if (!devPtr) return set_error(cudaErrorInvalidValue);
  *devPtr = nullptr;
  if (size == 0) return cudaSuccess;
  *devPtr = allocate(size, MemKind::device);
  return *devPtr ? cudaSuccess : set_error(cudaErrorMemoryAllocation);
}
template <typename T>
cudaError_t cudaMalloc(T** devPtr, std::size_t size) {
  return cudaMalloc(reinterpret_cast<void**>(devPtr), size);
}
inline cudaError_t cudaMallocManaged(void** devPtr, std::size_t size, unsigned int = cudaMemAttachGlobal) {
  using namespace simad::cuda::emu::detail;
  if (const cudaError_t s = sticky_error()) return set_error(s);
  if (!devPtr || size == 0) return set_error(cudaErrorInvalidValue);
  *devPtr = allocate(size, MemKind::managed);
  return *devPtr ? cudaSuccess : set_error(cudaErrorMemoryAllocation);
}
template <typename T>
cudaError_t cudaMallocManaged(T** devPtr, std::size_t size, unsigned int flags = cudaMemAttachGlobal) {
  return cudaMallocManaged(reinterpret_cast<void**>(devPtr), size, flags);
}
inline cudaError_t cudaMallocHost(void** ptr, std::size_t size) {
  using namespace simad::cuda::emu::detail;
  if (const cudaError_t s = sticky_error()) return set_error(s);
  if (!ptr) return set_error(cudaErrorInvalidValue);
  *ptr = allocate(size, MemKind::host);
  return *ptr ? cudaSuccess : set_error(cudaErrorMemoryAllocation);
}
template <typename T>
cudaError_t cudaMallocHost(T** ptr, std::size_t size) {
  return cudaMallocHost(reinterpret_cast<void**>(ptr), size);
}
inline cudaError_t cudaHostAlloc(void** ptr, std::size_t size, unsigned int) { return cudaMallocHost(ptr, size); }
// Frees even after a kernel error (so tests do not leak), but reports the sticky error as CUDA does.
inline cudaError_t cudaFree(void* devPtr) {
  using namespace simad::cuda::emu::detail;
  const cudaError_t e = release(devPtr, false, "cudaFree");
  if (const cudaError_t s = sticky_error()) return set_error(s);
  return e;
}
inline cudaError_t cudaFreeHost(void* ptr) {
  using namespace simad::cuda::emu::detail;
  const cudaError_t e = release(ptr, true, "cudaFreeHost");
  if (const cudaError_t s = sticky_error()) return set_error(s);
  return e;
}
inline cudaError_t cudaMallocAsync(void** devPtr, std::size_t size, cudaStream_t) { return cudaMalloc(devPtr, size); }
template <typename T>
cudaError_t cudaMallocAsync(T** devPtr, std::size_t size, cudaStream_t stream) {
  return cudaMallocAsync(reinterpret_cast<void**>(devPtr), size, stream);
}
inline cudaError_t cudaFreeAsync(void* devPtr, cudaStream_t) { return cudaFree(devPtr); }
inline cudaError_t cudaMemGetInfo(std::size_t* free_bytes, std::size_t* total_bytes) {
  using namespace simad::cuda::emu::detail;
  if (!free_bytes || !total_bytes) return set_error(cudaErrorInvalidValue);
  Runtime& rt = runtime();
  std::lock_guard lock(rt.mutex);
  *total_bytes = std::size_t(80) << 30;
  *free_bytes = *total_bytes > rt.device_bytes ? *total_bytes - rt.device_bytes : 0;
  return cudaSuccess;
}

inline cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t count, cudaMemcpyKind kind) {
  return simad::cuda::emu::detail::copy("cudaMemcpy", dst, src, count, kind);
}
inline cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t count, cudaMemcpyKind kind,
                                   cudaStream_t stream = nullptr) {
  using namespace simad::cuda::emu::detail;
  if (!valid_stream(stream)) return set_error(cudaErrorInvalidResourceHandle);
  return copy("cudaMemcpyAsync", dst, src, count, kind);
}
inline cudaError_t cudaMemset(void* devPtr, int value, std::size_t count) {
  using namespace simad::cuda::emu::detail;
  if (const cudaError_t s = sticky_error()) return set_error(s);
  if (count && !devPtr) return set_error(cudaErrorInvalidValue);
  if (cudaError_t e = check_range("cudaMemset", "destination", devPtr, count, 1)) return e;
  if (count) std::memset(devPtr, value, count);
  return cudaSuccess;
}
inline cudaError_t cudaMemsetAsync(void* devPtr, int value, std::size_t count, cudaStream_t stream = nullptr) {
  using namespace simad::cuda::emu::detail;
  if (!valid_stream(stream)) return set_error(cudaErrorInvalidResourceHandle);
  return cudaMemset(devPtr, value, count);
}
// __constant__ and __device__ variables are plain globals in the emulator.
template <typename T>
cudaError_t cudaMemcpyToSymbol(T& symbol, const void* src, std::size_t count, std::size_t offset = 0,
                               cudaMemcpyKind kind = cudaMemcpyHostToDevice) {
  using namespace simad::cuda::emu::detail;
  if (const cudaError_t s = sticky_error()) return set_error(s);
  if (offset + count > sizeof(T) || (kind != cudaMemcpyHostToDevice && kind != cudaMemcpyDeviceToDevice && kind != cudaMemcpyDefault))
    return set_error(cudaErrorInvalidValue);
  std::memcpy(reinterpret_cast<unsigned char*>(&symbol) + offset, src, count);
  return cudaSuccess;
}
template <typename T>
cudaError_t cudaMemcpyFromSymbol(void* dst, const T& symbol, std::size_t count, std::size_t offset = 0,
                                 cudaMemcpyKind kind = cudaMemcpyDeviceToHost) {
  using namespace simad::cuda::emu::detail;
  if (const cudaError_t s = sticky_error()) return set_error(s);
  if (offset + count > sizeof(T) || (kind != cudaMemcpyDeviceToHost && kind != cudaMemcpyDeviceToDevice && kind != cudaMemcpyDefault))
    return set_error(cudaErrorInvalidValue);
  std::memcpy(dst, reinterpret_cast<const unsigned char*>(&symbol) + offset, count);
  return cudaSuccess;
}

// ---- streams -----------------------------------------------------------------------------------
inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int flags) {
  using namespace simad::cuda::emu::detail;
  if (const cudaError_t s = sticky_error()) return set_error(s);
  if (!stream) return set_error(cudaErrorInvalidValue);
  auto* s = new CUstream_st{flags};
  Runtime& rt = runtime();
  std::lock_guard lock(rt.mutex);
  rt.streams.insert(s);
  *stream = s;
  return cudaSuccess;
}
inline cudaError_t cudaStreamCreate(cudaStream_t* stream) { return cudaStreamCreateWithFlags(stream, cudaStreamDefault); }
inline cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  using namespace simad::cuda::emu::detail;
  Runtime& rt = runtime();
  std::unique_lock lock(rt.mutex);
  if (!stream || rt.streams.erase(stream) == 0) {
    lock.unlock();
    return set_error(cudaErrorInvalidResourceHandle);
  }
  lock.unlock();
  delete stream;
  if (const cudaError_t s = sticky_error()) return set_error(s);
  return cudaSuccess;
}
inline cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  using namespace simad::cuda::emu::detail;
  if (const cudaError_t s = sticky_error()) return set_error(s);
  return valid_stream(stream) ? cudaSuccess : set_error(cudaErrorInvalidResourceHandle);
}
inline cudaError_t cudaStreamQuery(cudaStream_t stream) { return cudaStreamSynchronize(stream); }

// ---- events ------------------------------------------------------------------------------------
inline cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int flags) {
  using namespace simad::cuda::emu::detail;
  if (const cudaError_t s = sticky_error()) return set_error(s);
  if (!event) return set_error(cudaErrorInvalidValue);
  auto* e = new CUevent_st{};
  e->flags = flags;
  Runtime& rt = runtime();
  std::lock_guard lock(rt.mutex);
  rt.events.insert(e);
  *event = e;
  return cudaSuccess;
}
inline cudaError_t cudaEventCreate(cudaEvent_t* event) { return cudaEventCreateWithFlags(event, cudaEventDefault); }
inline cudaError_t cudaEventDestroy(cudaEvent_t event) {
  using namespace simad::cuda::emu::detail;
  Runtime& rt = runtime();
  std::unique_lock lock(rt.mutex);
  if (!event || rt.events.erase(event) == 0) {
    lock.unlock();
    return set_error(cudaErrorInvalidResourceHandle);
  }
  lock.unlock();
  delete event;
  return cudaSuccess;
}
inline cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream = nullptr) {
  using namespace simad::cuda::emu::detail;
  if (const cudaError_t s = sticky_error()) return set_error(s);
  if (!valid_event(event) || !valid_stream(stream)) return set_error(cudaErrorInvalidResourceHandle);
  event->time = std::chrono::steady_clock::now();
  event->recorded = true;
  return cudaSuccess;
}
inline cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  using namespace simad::cuda::emu::detail;
  if (const cudaError_t s = sticky_error()) return set_error(s);
  return valid_event(event) ? cudaSuccess : set_error(cudaErrorInvalidResourceHandle);
}
inline cudaError_t cudaEventQuery(cudaEvent_t event) { return cudaEventSynchronize(event); }
inline cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  using namespace simad::cuda::emu::detail;
  if (const cudaError_t s = sticky_error()) return set_error(s);
  if (!ms) return set_error(cudaErrorInvalidValue);
  if (!valid_event(start) || !valid_event(end) || !start->recorded || !end->recorded ||
      ((start->flags | end->flags) & cudaEventDisableTiming))
    return set_error(cudaErrorInvalidResourceHandle);
  *ms = std::chrono::duration<float, std::milli>(end->time - start->time).count();
  return cudaSuccess;
}
inline cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int = 0) {
  using namespace simad::cuda::emu::detail;
  if (const cudaError_t s = sticky_error()) return set_error(s);
  return valid_stream(stream) && valid_event(event) ? cudaSuccess : set_error(cudaErrorInvalidResourceHandle);
}
