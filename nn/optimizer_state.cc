// SlotStates (nn/optimizer_state.h).
#include "nn/optimizer_state.h"

#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/status_macros.h"

namespace braid::nn {
namespace {

using runtime::DType;
using runtime::Tensor;

constexpr absl::string_view kStepName = "step";

}  // namespace

SlotStates::SlotStates(std::string optimizer, std::vector<std::string> suffixes)
    : optimizer_(std::move(optimizer)), suffixes_(std::move(suffixes)) {}

absl::Status SlotStates::CheckSlot(const OptimizerSlot& slot) const {
  for (const auto& [what, t] : {std::pair<const char*, const Tensor*>{"value", &slot.value},
                                std::pair<const char*, const Tensor*>{"grad", &slot.grad}}) {
    if (!t->defined()) {
      return absl::InvalidArgumentError(absl::StrCat(optimizer_, "::Step: slot '", slot.name,
                                                     "' has an undefined ", what, " tensor"));
    }
    if (t->dtype() != DType::kF32 || !t->is_contiguous()) {
      return absl::InvalidArgumentError(
          absl::StrCat(optimizer_, "::Step: slot '", slot.name, "' ", what, " ", t->DebugString(),
                       " must be a contiguous f32 tensor (master weights and grads are f32)"));
    }
    if (t->device().is_cuda()) {
      return absl::FailedPreconditionError(absl::StrCat(
          optimizer_, "::Step: slot '", slot.name, "' ", what, " is on cuda:", t->device().index,
          "; braid has no CUDA optimizer kernel yet: keep master weights and grads on the CPU"));
    }
  }
  if (slot.value.shape() != slot.grad.shape()) {
    return absl::InvalidArgumentError(
        absl::StrCat(optimizer_, "::Step: slot '", slot.name, "' value ", slot.value.DebugString(),
                     " and grad ", slot.grad.DebugString(), " differ in shape"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<absl::Span<const Tensor>>> SlotStates::Prepare(
    absl::Span<const OptimizerSlot> slots) {
  for (const OptimizerSlot& slot : slots) BRAID_RETURN_IF_ERROR(CheckSlot(slot));
  std::vector<absl::Span<const Tensor>> out;
  out.reserve(slots.size());
  if (entries_.empty()) {
    // First step: the slots define the state.
    std::vector<Entry> entries;
    absl::flat_hash_map<std::string, size_t> index;
    entries.reserve(slots.size());
    for (const OptimizerSlot& slot : slots) {
      if (!index.emplace(slot.name, entries.size()).second) {
        return absl::InvalidArgumentError(absl::StrCat(optimizer_, "::Step: slot name '", slot.name,
                                                       "' appears twice; names must be unique"));
      }
      Entry entry{.name = slot.name, .shape = slot.value.shape(), .tensors = {}};
      for (size_t k = 0; k < suffixes_.size(); ++k) {
        BRAID_ASSIGN_OR_RETURN(Tensor t,
                               Tensor::Zeros(entry.shape, DType::kF32, slot.value.device()));
        entry.tensors.push_back(std::move(t));
      }
      entries.push_back(std::move(entry));
    }
    entries_ = std::move(entries);
    index_ = std::move(index);
    for (const Entry& e : entries_) out.emplace_back(e.tensors);
    return out;
  }
  if (slots.size() != entries_.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        optimizer_, "::Step: got ", slots.size(), " slots but the optimizer's state has ",
        entries_.size(), " (first slot '", entries_.front().name,
        "'); the slot set must not change between steps: rebuild the optimizer or reshard its "
        "State() when the sharding changes"));
  }
  std::vector<bool> seen(entries_.size(), false);
  for (const OptimizerSlot& slot : slots) {
    auto it = index_.find(slot.name);
    if (it == index_.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(optimizer_, "::Step: slot '", slot.name,
                       "' has no state: the slot set must not change between steps"));
    }
    const Entry& e = entries_[it->second];
    if (seen[it->second]) {
      return absl::InvalidArgumentError(absl::StrCat(optimizer_, "::Step: slot name '", slot.name,
                                                     "' appears twice; names must be unique"));
    }
    seen[it->second] = true;
    if (slot.value.shape() != e.shape) {
      return absl::InvalidArgumentError(absl::StrCat(
          optimizer_, "::Step: slot '", slot.name, "' has shape ",
          runtime::ShapeToString(slot.value.shape()), " but its state has ",
          runtime::ShapeToString(e.shape), "; rebuild the optimizer or reshard its State()"));
    }
    out.emplace_back(e.tensors);
  }
  return out;
}

std::vector<NamedTensor> SlotStates::State(int64_t steps) const {
  std::vector<NamedTensor> state;
  state.reserve(entries_.size() * suffixes_.size() + 1);
  for (const Entry& e : entries_) {
    for (size_t k = 0; k < suffixes_.size(); ++k) {
      state.push_back(NamedTensor{absl::StrCat(e.name, "/", suffixes_[k]), e.tensors[k]});
    }
  }
  absl::StatusOr<Tensor> step = Tensor::FromVector<int64_t>({steps}, {});
  // An 8-byte allocation; should it fail, "step" is left undefined and
  // LoadState rejects the list.
  state.push_back(NamedTensor{std::string(kStepName), step.ok() ? *step : Tensor()});
  return state;
}

absl::Status SlotStates::LoadState(const std::vector<NamedTensor>& state, int64_t* steps) {
  const std::string where = absl::StrCat(optimizer_, "::LoadState");
  std::vector<Entry> entries;
  absl::flat_hash_map<std::string, size_t> index;
  absl::flat_hash_set<std::string> names;
  bool have_step = false;
  int64_t loaded_steps = 0;
  for (const NamedTensor& nt : state) {
    if (!names.insert(nt.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": state '", nt.name, "' appears twice"));
    }
    if (!nt.tensor.defined()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": state '", nt.name, "' is an undefined tensor"));
    }
    if (nt.name == kStepName) {
      if (nt.tensor.dtype() != DType::kI64 || nt.tensor.numel() != 1) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": 'step' must be one i64 element, got ", nt.tensor.DebugString()));
      }
      BRAID_ASSIGN_OR_RETURN(Tensor host, nt.tensor.To(runtime::Device::Cpu()));
      loaded_steps = *host.data<int64_t>();
      if (loaded_steps < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": 'step' is ", loaded_steps, ", must be >= 0"));
      }
      have_step = true;
      continue;
    }
    const size_t slash = nt.name.rfind('/');
    size_t k = suffixes_.size();
    if (slash != std::string::npos) {
      for (k = 0; k < suffixes_.size(); ++k) {
        if (absl::string_view(nt.name).substr(slash + 1) == suffixes_[k]) break;
      }
    }
    if (k == suffixes_.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": unexpected state '", nt.name, "' (want '<slot>/<state>' with state one of ",
          suffixes_.empty() ? std::string("none") : absl::StrJoin(suffixes_, ", "),
          ", or 'step')"));
    }
    if (nt.tensor.dtype() != DType::kF32) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": state '", nt.name, "' ", nt.tensor.DebugString(), " must be f32"));
    }
    const std::string slot = nt.name.substr(0, slash);
    auto [it, inserted] = index.emplace(slot, entries.size());
    if (inserted) {
      entries.push_back(Entry{.name = slot, .shape = nt.tensor.shape(), .tensors = {}});
      entries.back().tensors.resize(suffixes_.size());
    }
    Entry& e = entries[it->second];
    if (nt.tensor.shape() != e.shape) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": state '", nt.name, "' has shape ", runtime::ShapeToString(nt.tensor.shape()),
          " but other state of slot '", slot, "' has ", runtime::ShapeToString(e.shape)));
    }
    // A private copy on the CPU (the optimizer's device).
    BRAID_ASSIGN_OR_RETURN(e.tensors[k], nt.tensor.To(runtime::Device::Cpu()));
  }
  if (!have_step) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": no 'step' entry in the state"));
  }
  for (const Entry& e : entries) {
    for (size_t k = 0; k < suffixes_.size(); ++k) {
      if (!e.tensors[k].defined()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": slot '", e.name, "' has no '", suffixes_[k], "' state"));
      }
    }
  }
  if (!entries_.empty() && !suffixes_.empty()) {
    // The names and shapes must be exactly those State() would give now.
    if (entries.size() != entries_.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": state has ", entries.size(), " slots, the optimizer has ", entries_.size()));
    }
    for (const Entry& e : entries) {
      auto it = index_.find(e.name);
      if (it == index_.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": state for slot '", e.name, "' which this optimizer lacks"));
      }
      if (entries_[it->second].shape != e.shape) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": slot '", e.name, "' state has shape ", runtime::ShapeToString(e.shape),
            ", the optimizer's has ", runtime::ShapeToString(entries_[it->second].shape)));
      }
    }
  }
  if (!suffixes_.empty()) {
    entries_ = std::move(entries);
    index_ = std::move(index);
  }
  *steps = loaded_steps;
  return absl::OkStatus();
}

}  // namespace braid::nn
