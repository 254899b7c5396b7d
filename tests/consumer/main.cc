// Proves an installed braid is usable from another project: includes public
// headers, links braid::braid and runs a little code from it.
#include <cstdio>

#include "runtime/tensor.h"

int main() {
  absl::StatusOr<braid::runtime::Tensor> t =
      braid::runtime::Tensor::Full({2, 3}, braid::runtime::DType::kF32, 1.5);
  if (!t.ok()) {
    std::fprintf(stderr, "consumer: %s\n", std::string(t.status().message()).c_str());
    return 1;
  }
  std::printf("consumer: %s\n", t->DebugString().c_str());
  return t->numel() == 6 && t->data<float>()[5] == 1.5f ? 0 : 1;
}
