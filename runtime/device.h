// Where a tensor's bytes live: host memory or one CUDA device.
#ifndef BRAID_RUNTIME_DEVICE_H_
#define BRAID_RUNTIME_DEVICE_H_

#include <string>

namespace braid::runtime {

enum class DeviceType : uint8_t { kCpu = 0, kCuda = 1 };

struct Device {
  DeviceType type = DeviceType::kCpu;
  int index = 0;  // CUDA ordinal; always 0 for kCpu.

  static constexpr Device Cpu() { return Device{DeviceType::kCpu, 0}; }
  static constexpr Device Cuda(int ordinal) { return Device{DeviceType::kCuda, ordinal}; }

  bool is_cpu() const { return type == DeviceType::kCpu; }
  bool is_cuda() const { return type == DeviceType::kCuda; }
  friend bool operator==(const Device&, const Device&) = default;
};

// "cpu" or "cuda:N".
std::string ToString(const Device& device);

}  // namespace braid::runtime

#endif  // BRAID_RUNTIME_DEVICE_H_
