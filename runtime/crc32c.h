// CRC-32C (Castagnoli), the checksum braid uses for bytes at rest and on the
// wire (checkpoint files, tcp frames when checksums are on).
//
//   uint32_t crc = runtime::Crc32c(header.data(), header.size());
//   crc = runtime::Crc32cExtend(crc, payload, payload_bytes);   // continue
//
// Debian's Abseil has no absl/crc, so this is braid's own: the SSE4.2 crc32
// instruction where the CPU has it (checked once at run time), otherwise a
// table-driven slicing-by-8 routine that gives the same values. Check value
// Crc32c("123456789") == 0xe3069283 (reflected polynomial 0x82f63b78, as
// iSCSI and ext4 use it).
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

// The table-driven routine alone (the reference the hardware path is tested
// against; Crc32cExtend picks the fastest available).
uint32_t Crc32cExtendPortable(uint32_t crc, const void* data, size_t size);

inline uint32_t Crc32c(const void* data, size_t size) { return Crc32cExtend(0, data, size); }

}  // namespace braid::runtime

#endif  // BRAID_RUNTIME_CRC32C_H_
