#include "collectives/tcp/op_context.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "collectives/status_payload.h"

namespace braid::collectives::tcp {

absl::Status OpContext::Annotate(absl::Status s, int peer, absl::string_view what) const {
  if (s.ok()) return s;
  absl::Status broken = inbox_->error();
  if (!broken.ok()) return broken;  // the communicator's own, complete account
  if (absl::IsDeadlineExceeded(s) || absl::IsUnavailable(s)) {
    s = absl::AbortedError(s.message());
  }
  if (!absl::IsAborted(s) || !FailedRanks(s).empty()) return s;
  return WithFailedRanks(
      absl::AbortedError(absl::StrCat(what, " rank ", peer, " in op ", op_seq_,
                                      " on communicator ", inbox_->comm_id(), " epoch ",
                                      inbox_->epoch(), ": ", s.message())),
      {peer});
}

absl::Status OpContext::Send(int peer, uint32_t tag, const void* data, size_t bytes,
                             uint64_t offset) {
  FrameHeader h;
  h.kind = FrameKind::kData;
  h.tag = tag;
  h.comm_id = inbox_->comm_id();
  h.epoch = inbox_->epoch();
  h.op_seq = op_seq_;
  return Annotate(transport_->Send(inbox_->members()[peer], h, static_cast<const uint8_t*>(data),
                                   bytes, offset, deadline_, *inbox_),
                  peer, "sending to");
}

absl::Status OpContext::Recv(int peer, uint32_t tag, void* data, size_t bytes, uint64_t offset) {
  auto* out = static_cast<uint8_t*>(data);
  return Annotate(inbox_->Receive(peer, op_seq_, tag, offset, bytes, deadline_,
                                  [out](size_t at, const uint8_t* p, size_t n) {
                                    std::memcpy(out + at, p, n);
                                    return absl::OkStatus();
                                  }),
                  peer, "receiving from");
}

absl::Status OpContext::RecvReduce(int peer, uint32_t tag, void* data, int64_t count,
                                   runtime::DType dtype, kernels::ReduceKind kind,
                                   uint64_t offset) {
  auto* out = static_cast<uint8_t*>(data);
  const size_t esize = runtime::SizeOf(dtype);
  return Annotate(
      inbox_->Receive(peer, op_seq_, tag, offset, static_cast<size_t>(count) * esize, deadline_,
                      [&](size_t at, const uint8_t* p, size_t n) -> absl::Status {
                        if (at % esize != 0 || n % esize != 0) {
                          return absl::InvalidArgumentError(absl::StrCat(
                              "rank ", peer, " sent a frame that splits an element of ",
                              runtime::ToString(dtype), "; the ranks disagree on the dtype"));
                        }
                        return kernels::ReduceInto(out + at, p, static_cast<int64_t>(n / esize),
                                                   dtype, kind);
                      }),
      peer, "receiving from");
}

}  // namespace braid::collectives::tcp
