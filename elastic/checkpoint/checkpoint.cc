#include "elastic/checkpoint/checkpoint.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "runtime/status_macros.h"

namespace braid::elastic::checkpoint {

std::vector<NamedTensor> WithPrefix(const std::vector<NamedTensor>& tensors,
                                    absl::string_view prefix) {
  std::vector<NamedTensor> out;
  for (const NamedTensor& nt : tensors) {
    if (absl::StartsWith(nt.name, prefix)) {
      out.push_back(NamedTensor{nt.name.substr(prefix.size()), nt.tensor});
    }
  }
  return out;
}

const NamedTensor* FindTensor(const std::vector<NamedTensor>& tensors, absl::string_view name) {
  for (const NamedTensor& nt : tensors) {
    if (nt.name == name) return &nt;
  }
  return nullptr;
}

absl::Status AssignTensors(const std::vector<NamedTensor>& loaded,
                           const std::vector<NamedTensor>& targets, bool exact) {
  absl::flat_hash_map<absl::string_view, const NamedTensor*> by_name;
  for (const NamedTensor& nt : loaded) by_name.emplace(nt.name, &nt);
  std::vector<std::pair<const NamedTensor*, const NamedTensor*>> pairs;
  absl::flat_hash_map<absl::string_view, bool> used;
  for (const NamedTensor& target : targets) {
    auto it = by_name.find(target.name);
    if (it == by_name.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "checkpoint: tensor '", target.name, "' is not in the checkpoint (", loaded.size(),
          " tensors loaded); was it saved under another name or prefix?"));
    }
    const runtime::Tensor& src = it->second->tensor;
    if (src.dtype() != target.tensor.dtype() || src.shape() != target.tensor.shape()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "checkpoint: tensor '", target.name, "' is ", runtime::ToString(src.dtype()), " ",
          runtime::ShapeToString(src.shape()), " in the checkpoint but ",
          runtime::ToString(target.tensor.dtype()), " ",
          runtime::ShapeToString(target.tensor.shape()),
          " in the model; resume with the configuration the checkpoint was saved with"));
    }
    used[target.name] = true;
    pairs.emplace_back(it->second, &target);
  }
  if (exact) {
    for (const NamedTensor& nt : loaded) {
      if (!used.contains(nt.name)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "checkpoint: tensor '", nt.name, "' of the checkpoint has no target in the model"));
      }
    }
  }
  for (const auto& [src, dst] : pairs) {
    runtime::Tensor out = dst->tensor;
    BRAID_RETURN_IF_ERROR(out.CopyFrom(src->tensor));
  }
  return absl::OkStatus();
}

}  // namespace braid::elastic::checkpoint
