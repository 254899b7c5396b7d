// CRC32C (Castagnoli), the checksum of tcp frames when checksums are on.
//
// A small table-driven (slicing-by-8) software routine: Debian's Abseil has no
// absl/crc. Thread-safety: pure functions over constant tables.
#ifndef BRAID_COLLECTIVES_TCP_CRC32C_H_
#define BRAID_COLLECTIVES_TCP_CRC32C_H_

#include <cstddef>
#include <cstdint>

namespace braid::collectives::tcp {

// Extends `crc` (the value returned for the bytes so far; 0 to start) over
// `size` bytes at `data`. Crc32c("123456789") == 0xe3069283.
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t size);

inline uint32_t Crc32c(const void* data, size_t size) { return Crc32cExtend(0, data, size); }

}  // namespace braid::collectives::tcp

#endif  // BRAID_COLLECTIVES_TCP_CRC32C_H_
