// CRC-32C (Castagnoli), the checksum braid uses for bytes at rest and on the
// wire (checkpoint files, tcp frames when checksums are on).
//
//   uint32_t crc = runtime::Crc32c(header.data(), header.size());
//   crc = runtime::Crc32cExtend(crc, payload, payload_bytes);   // continue
//
// A table-driven (slicing-by-8) software routine: Debian's Abseil has no
// absl/crc. About 1-2 GB/s on one core here; check value Crc32c("123456789")
// == 0xe3069283 (reflected polynomial 0x82f63b78, as iSCSI and ext4 use it).
//
// Thread-safety: pure functions over constant tables.
#ifndef BRAID_RUNTIME_CRC32C_H_
#define BRAID_RUNTIME_CRC32C_H_

#include <cstddef>
#include <cstdint>

namespace braid::runtime {

// Extends `crc` (the value returned for the bytes so far; 0 to start) over
// `size` bytes at `data`. Crc32cExtend(Crc32c(a), b) == Crc32c(a followed by b).
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t size);

inline uint32_t Crc32c(const void* data, size_t size) { return Crc32cExtend(0, data, size); }

}  // namespace braid::runtime

#endif  // BRAID_RUNTIME_CRC32C_H_
