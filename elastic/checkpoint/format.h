// The on-disk format of checkpoints (docs/checkpoint.md): one shard file per
// rank and the MANIFEST that commits a step. Checkpointer (checkpointer.h)
// runs the save/load protocol on top of these functions.
//
// Shard file `rank-<r>.bin` (integers little-endian):
//   [0, 8)        magic "BRAIDCK1"
//   [8, 12)       u32 format version (1)
//   [12, 16)      u32 zero
//   [16, D)       every tensor's bytes, packed, in header order
//   [D, D+H)      ShardHeader (proto/checkpoint.proto): names, dtypes, shapes,
//                 offsets, a CRC-32C per tensor, the rank's values
//   [D+H, +4)     u32 H
//   [.., +4)      u32 CRC-32C of the ShardHeader bytes
//   [.., +8)      end magic "BRAIDCKE"
// The index is a footer so a shard is written in one pass (each tensor's CRC
// is computed as it is written). Every byte is covered by a check.
//
// MANIFEST: magic "BRAIDMF1", u32 version, u32 length L, L bytes of Manifest,
// u32 CRC-32C of all bytes before it.
//
// Errors: I/O failures are kInternal (kNotFound for a missing file) with the
// path; anything that is not a whole, valid file is kDataLoss naming the file,
// the field and what was expected. Thread-safety: free functions, no state.
#ifndef BRAID_ELASTIC_CHECKPOINT_FORMAT_H_
#define BRAID_ELASTIC_CHECKPOINT_FORMAT_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "elastic/checkpoint/checkpoint.h"
#include "elastic/checkpoint/proto/checkpoint.pb.h"

namespace braid::elastic::checkpoint {

inline constexpr uint32_t kFormatVersion = 1;
// Limits a reader enforces before allocating anything.
inline constexpr uint64_t kMaxHeaderBytes = uint64_t{256} << 20;
inline constexpr uint64_t kMaxManifestBytes = uint64_t{64} << 20;
inline constexpr size_t kMaxNameBytes = 4096;
inline constexpr int kMaxDims = 16;

// "rank-<r>.bin", "MANIFEST", "latest".
std::string ShardFileName(int rank);
inline constexpr char kManifestFileName[] = "MANIFEST";
inline constexpr char kLatestFileName[] = "latest";

struct ShardWriteResult {
  uint64_t file_bytes = 0;
  uint32_t header_crc32c = 0;
  uint64_t num_tensors = 0;
};

// Writes `path`.tmp, makes it durable (when `sync`) and renames it to `path`.
// kInvalidArgument for a duplicate, empty or over-long name or an undefined
// tensor (naming it); nothing is left at `path` on any failure.
absl::StatusOr<ShardWriteResult> WriteShardFile(const std::string& path, int64_t step, int rank,
                                                int world_size,
                                                absl::Span<const NamedTensor> tensors,
                                                const std::map<std::string, uint64_t>& values,
                                                bool sync, const FaultHook& fault_hook);

struct ShardContents {
  checkpointpb::ShardHeader header;
  uint32_t header_crc32c = 0;
  uint64_t file_bytes = 0;
  // Fresh contiguous CPU tensors, header order (empty unless read_tensors).
  std::vector<NamedTensor> tensors;
};

// Reads and checks the shard at `path`: magic, version, footer, header CRC,
// that the tensor records tile the data region exactly, and (when
// `expected` is given, from the manifest) the file size and header CRC. With
// `read_tensors` it also reads every tensor and checks its CRC-32C.
absl::StatusOr<ShardContents> ReadShardFile(const std::string& path,
                                            const checkpointpb::ShardEntry* expected,
                                            bool read_tensors);

// Writes `step_directory`/MANIFEST atomically.
absl::Status WriteManifest(const std::string& step_directory,
                           const checkpointpb::Manifest& manifest, bool sync);

// Reads and checks `step_directory`/MANIFEST (framing, CRC, version, that it
// lists world_size shards in rank order).
absl::StatusOr<checkpointpb::Manifest> ReadManifest(const std::string& step_directory);

}  // namespace braid::elastic::checkpoint

#endif  // BRAID_ELASTIC_CHECKPOINT_FORMAT_H_
