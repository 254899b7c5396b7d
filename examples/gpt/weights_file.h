// Weights file: a model's final parameters as named f32 tensors in one
// checksummed binary file, written by `braid_gpt --save PATH`.
//
//   BRAID_RETURN_IF_ERROR(examples::SaveWeights("gpt.bin", model.NamedParameters()));
//   BRAID_ASSIGN_OR_RETURN(std::vector<nn::NamedTensor> w, examples::LoadWeights("gpt.bin"));
//
// This is not a checkpoint (no optimizer state, step or data position; that
// is issue #13). The format is in docs/weights_file.md: a magic and version,
// the tensor count, per tensor its name, shape and f32 values, and a CRC-32C
// of everything before it. All integers little-endian.
//
// Errors: SaveWeights writes `path.tmp` and renames it over `path`, so a
// failed save never leaves a half-written file at `path` (kInternal with
// errno's text and the path). LoadWeights returns kNotFound for a missing
// file and kDataLoss for anything that is not a whole, valid weights file
// (bad magic, unknown version, truncation, a checksum mismatch, absurd sizes),
// saying which field and at which byte offset.
//
// Thread-safety: free functions without shared state.
#ifndef BRAID_EXAMPLES_GPT_WEIGHTS_FILE_H_
#define BRAID_EXAMPLES_GPT_WEIGHTS_FILE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "nn/optimizer.h"
#include "nn/parameter.h"
#include "runtime/crc32c.h"

namespace braid::examples {

// "BRAIDWT1": the first 8 bytes of every weights file.
inline constexpr char kWeightsMagic[8] = {'B', 'R', 'A', 'I', 'D', 'W', 'T', '1'};
inline constexpr uint32_t kWeightsVersion = 1;

// Writes every parameter's master value (`value`, f32; copied from a GPU if
// needed) under its dotted name, in the given order.
// REQUIRES: values are defined f32 tensors.
absl::Status SaveWeights(const std::string& path,
                         const std::vector<nn::NamedParameter>& parameters);

// Reads a whole weights file into CPU f32 tensors, in file order.
absl::StatusOr<std::vector<nn::NamedTensor>> LoadWeights(const std::string& path);

// Copies loaded tensors into `parameters` by name. kInvalidArgument when a
// name is missing on either side or a shape differs (naming it).
absl::Status AssignWeights(const std::vector<nn::NamedTensor>& weights,
                           const std::vector<nn::NamedParameter>& parameters);

// CRC-32C (Castagnoli, reflected, as iSCSI and ext4 use it) of `bytes`,
// continuing from `crc` (0 to start).
inline uint32_t Crc32c(absl::Span<const uint8_t> bytes, uint32_t crc = 0) {
  return runtime::Crc32cExtend(crc, bytes.data(), bytes.size());
}

}  // namespace braid::examples

#endif  // BRAID_EXAMPLES_GPT_WEIGHTS_FILE_H_
