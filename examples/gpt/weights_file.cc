#include "examples/gpt/weights_file.h"

#include <cstring>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "runtime/env.h"
#include "runtime/status_macros.h"
#include "runtime/tensor.h"

namespace braid::examples {
namespace {

using runtime::DType;
using runtime::Tensor;

// Sanity limits: a field beyond them is corruption, not a model.
constexpr uint32_t kMaxNameBytes = 4096;
constexpr uint32_t kMaxDims = 8;

template <typename T>
void Put(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));  // x86-64 and aarch64 Linux: little-endian
  out.append(bytes, sizeof(T));
}

// Reads fixed-size fields from the file, failing with kDataLoss at the end.
class Reader {
 public:
  Reader(absl::string_view bytes, const std::string& path) : bytes_(bytes), path_(path) {}

  template <typename T>
  absl::StatusOr<T> Get(absl::string_view field) {
    BRAID_ASSIGN_OR_RETURN(absl::string_view raw, Bytes(sizeof(T), field));
    T value;
    std::memcpy(&value, raw.data(), sizeof(T));
    return value;
  }
  absl::StatusOr<absl::string_view> Bytes(size_t n, absl::string_view field) {
    if (bytes_.size() - offset_ < n) {
      return absl::DataLossError(absl::StrCat("weights file ", path_, ": truncated in ", field,
                                              " at byte ", offset_, " (needs ", n, " bytes, ",
                                              bytes_.size() - offset_, " left); re-save it"));
    }
    absl::string_view out = bytes_.substr(offset_, n);
    offset_ += n;
    return out;
  }
  size_t offset() const { return offset_; }

 private:
  absl::string_view bytes_;
  const std::string& path_;
  size_t offset_ = 0;
};

absl::Status Corrupt(const std::string& path, absl::string_view what, size_t offset) {
  return absl::DataLossError(
      absl::StrCat("weights file ", path, ": ", what, " at byte ", offset, "; re-save it"));
}

}  // namespace

absl::Status SaveWeights(const std::string& path,
                         const std::vector<nn::NamedParameter>& parameters) {
  std::string out(kWeightsMagic, sizeof(kWeightsMagic));
  Put<uint32_t>(out, kWeightsVersion);
  Put<uint32_t>(out, static_cast<uint32_t>(parameters.size()));
  for (const nn::NamedParameter& p : parameters) {
    const Tensor& value = p.parameter->value;
    if (!value.defined() || value.dtype() != DType::kF32) {
      return absl::InvalidArgumentError(
          absl::StrCat("SaveWeights: parameter ", p.name, " is not a defined f32 tensor"));
    }
    Put<uint32_t>(out, static_cast<uint32_t>(p.name.size()));
    out.append(p.name);
    Put<uint32_t>(out, static_cast<uint32_t>(value.ndim()));
    for (int64_t d : value.shape()) Put<int64_t>(out, d);
    BRAID_ASSIGN_OR_RETURN(Tensor host, value.To(runtime::Device::Cpu()));
    BRAID_ASSIGN_OR_RETURN(host, host.Contiguous());
    out.append(static_cast<const char*>(host.raw_data()), host.nbytes());
  }
  const uint32_t crc =
      Crc32c(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(out.data()), out.size()));
  Put<uint32_t>(out, crc);
  return runtime::Env::Default()->WriteFileAtomically(path, out);
}

absl::StatusOr<std::vector<nn::NamedTensor>> LoadWeights(const std::string& path) {
  BRAID_ASSIGN_OR_RETURN(std::string bytes, runtime::Env::Default()->ReadFile(path));
  if (bytes.size() < sizeof(kWeightsMagic) + 12) {
    return Corrupt(path, absl::StrCat("only ", bytes.size(), " bytes, too short"), 0);
  }
  const size_t body = bytes.size() - 4;
  uint32_t stored_crc;
  std::memcpy(&stored_crc, bytes.data() + body, 4);
  const uint32_t crc =
      Crc32c(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(bytes.data()), body));
  if (std::memcmp(bytes.data(), kWeightsMagic, sizeof(kWeightsMagic)) != 0) {
    return Corrupt(path, "bad magic (not a braid weights file)", 0);
  }
  if (crc != stored_crc) {
    return Corrupt(path, absl::StrCat("CRC-32C mismatch (stored ", stored_crc, ", computed ",
                                      crc, ")"),
                   body);
  }
  Reader reader(absl::string_view(bytes).substr(0, body), path);
  BRAID_RETURN_IF_ERROR(reader.Bytes(sizeof(kWeightsMagic), "magic").status());
  BRAID_ASSIGN_OR_RETURN(uint32_t version, reader.Get<uint32_t>("version"));
  if (version != kWeightsVersion) {
    return Corrupt(path, absl::StrCat("unknown version ", version, " (this build reads ",
                                      kWeightsVersion, ")"),
                   sizeof(kWeightsMagic));
  }
  BRAID_ASSIGN_OR_RETURN(uint32_t count, reader.Get<uint32_t>("tensor count"));
  std::vector<nn::NamedTensor> out;
  for (uint32_t i = 0; i < count; ++i) {
    const size_t record = reader.offset();
    BRAID_ASSIGN_OR_RETURN(uint32_t name_bytes, reader.Get<uint32_t>("name length"));
    if (name_bytes == 0 || name_bytes > kMaxNameBytes) {
      return Corrupt(path, absl::StrCat("tensor ", i, " has a name of ", name_bytes, " bytes"),
                     record);
    }
    BRAID_ASSIGN_OR_RETURN(absl::string_view name, reader.Bytes(name_bytes, "name"));
    BRAID_ASSIGN_OR_RETURN(uint32_t ndim, reader.Get<uint32_t>("rank"));
    if (ndim > kMaxDims) {
      return Corrupt(path, absl::StrCat("tensor ", name, " has ", ndim, " dimensions"), record);
    }
    runtime::Shape shape;
    int64_t numel = 1;
    for (uint32_t d = 0; d < ndim; ++d) {
      BRAID_ASSIGN_OR_RETURN(int64_t dim, reader.Get<int64_t>("dimension"));
      if (dim < 0 || (dim > 0 && numel > static_cast<int64_t>(body) / dim)) {
        return Corrupt(path, absl::StrCat("tensor ", name, " has dimension ", dim), record);
      }
      numel *= dim;
      shape.push_back(dim);
    }
    BRAID_ASSIGN_OR_RETURN(absl::string_view data,
                           reader.Bytes(static_cast<size_t>(numel) * 4, "values"));
    BRAID_ASSIGN_OR_RETURN(Tensor t, Tensor::Empty(shape, DType::kF32));
    std::memcpy(t.raw_data(), data.data(), data.size());
    out.push_back({std::string(name), std::move(t)});
  }
  if (reader.offset() != body) {
    return Corrupt(path, absl::StrCat(body - reader.offset(), " stray bytes after the tensors"),
                   reader.offset());
  }
  return out;
}

absl::Status AssignWeights(const std::vector<nn::NamedTensor>& weights,
                           const std::vector<nn::NamedParameter>& parameters) {
  absl::flat_hash_map<std::string, const Tensor*> by_name;
  for (const nn::NamedTensor& w : weights) by_name[w.name] = &w.tensor;
  if (by_name.size() != parameters.size()) {
    return absl::InvalidArgumentError(absl::StrCat("AssignWeights: the file has ",
                                                   by_name.size(), " tensors, the model ",
                                                   parameters.size(), " parameters"));
  }
  for (const nn::NamedParameter& p : parameters) {
    auto it = by_name.find(p.name);
    if (it == by_name.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("AssignWeights: the file has no tensor ", p.name));
    }
    if (it->second->shape() != p.parameter->value.shape()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "AssignWeights: ", p.name, " is ", runtime::ShapeToString(it->second->shape()),
          " in the file but ", runtime::ShapeToString(p.parameter->value.shape()),
          " in the model"));
    }
    BRAID_RETURN_IF_ERROR(p.parameter->value.CopyFrom(*it->second));
  }
  return absl::OkStatus();
}

}  // namespace braid::examples
