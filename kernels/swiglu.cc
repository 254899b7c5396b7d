#include "kernels/swiglu.h"

#include "kernels/internal/nn_backends.h"
#include "kernels/internal/nn_validate.h"
#include "runtime/status_macros.h"

namespace braid::kernels {

using runtime::Tensor;

absl::Status SwiGluForward(const Tensor& a, const Tensor& b, const Tensor& out, Stream stream) {
  BRAID_RETURN_IF_ERROR(internal::CheckFloat("SwiGluForward", "a", a));
  BRAID_RETURN_IF_ERROR(internal::CheckLike("SwiGluForward", "b", b, a));
  BRAID_RETURN_IF_ERROR(internal::CheckLike("SwiGluForward", "out", out, a));
  if (a.numel() == 0) return absl::OkStatus();
  if (a.device().is_cuda()) return cuda::SwiGluForward(a, b, out, stream);
  return cpu::SwiGluForward(a, b, out, stream);
}

absl::Status SwiGluBackward(const Tensor& a, const Tensor& b, const Tensor& dout, const Tensor& da,
                            const Tensor& db, Stream stream) {
  constexpr absl::string_view kOp = "SwiGluBackward";
  BRAID_RETURN_IF_ERROR(internal::CheckFloat(kOp, "a", a));
  BRAID_RETURN_IF_ERROR(internal::CheckLike(kOp, "b", b, a));
  BRAID_RETURN_IF_ERROR(internal::CheckLike(kOp, "dout", dout, a));
  BRAID_RETURN_IF_ERROR(internal::CheckLike(kOp, "da", da, a));
  BRAID_RETURN_IF_ERROR(internal::CheckLike(kOp, "db", db, a));
  if (da.raw_data() == db.raw_data() && a.numel() > 0) {
    return absl::InvalidArgumentError("SwiGluBackward: da and db must be distinct buffers");
  }
  if (a.numel() == 0) return absl::OkStatus();
  if (a.device().is_cuda()) return cuda::SwiGluBackward(a, b, dout, da, db, stream);
  return cpu::SwiGluBackward(a, b, dout, da, db, stream);
}

}  // namespace braid::kernels
