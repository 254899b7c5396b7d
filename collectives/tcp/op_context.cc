#include "collectives/tcp/op_context.h"

#include <errno.h>
#include <sys/uio.h>

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

DirectKey OpContext::KeyFor(uint32_t tag) const {
  DirectKey k;
  k.comm_id = inbox_->comm_id();
  k.epoch = inbox_->epoch();
  k.op_seq = op_seq_;
  k.tag = tag;
  return k;
}

absl::Status OpContext::Interrupted() const {
  if (!inbox_->broken()) return absl::OkStatus();
  return inbox_->error();
}

absl::Status OpContext::ControlSend(int peer, uint32_t tag, const void* data, size_t bytes) {
  return Annotate(direct_->Send(inbox_->members()[peer], KeyFor(tag), data, bytes, deadline_,
                                *inbox_),
                  peer, "sending to");
}

absl::Status OpContext::ControlRecv(int peer, uint32_t tag, void* data, size_t bytes) {
  auto* out = static_cast<uint8_t*>(data);
  return Annotate(direct_->Receive(inbox_->members()[peer], KeyFor(tag), bytes, deadline_, *inbox_,
                                   [out](size_t at, const uint8_t* p, size_t n) {
                                     std::memcpy(out + at, p, n);
                                     return absl::OkStatus();
                                   }),
                  peer, "receiving from");
}

absl::Status OpContext::ReadPeer(int peer, uint64_t remote, void* local, size_t bytes) {
  const int64_t pid = direct_->pid(inbox_->members()[peer]);
  size_t done = 0;
  while (done < bytes) {
    iovec l = {static_cast<uint8_t*>(local) + done, bytes - done};
    iovec r = {reinterpret_cast<void*>(remote + done), bytes - done};
    const ssize_t n = process_vm_readv(static_cast<pid_t>(pid), &l, 1, &r, 1, 0);
    if (n <= 0) {
      const int err = n < 0 ? errno : EFAULT;
      if (err == EINTR) continue;
      return Annotate(absl::AbortedError(absl::StrCat(
                          "process_vm_readv of ", bytes, " bytes failed: ", strerror(err),
                          " (the peer exited, or unmapped the buffer mid-operation)")),
                      peer, "reading the memory of");
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status OpContext::Send(int peer, uint32_t tag, const void* data, size_t bytes,
                             uint64_t offset) {
  if (direct_data_) {
    // Direct records carry whole messages; algorithms send pieces of one
    // step's message in order, so a piece is simply the next record.
    return ControlSend(peer, tag, data, bytes);
  }
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
  if (direct_data_) return ControlRecv(peer, tag, data, bytes);
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
  if (direct_data_) {
    return Annotate(
        direct_->Receive(inbox_->members()[peer], KeyFor(tag), static_cast<size_t>(count) * esize,
                         deadline_, *inbox_,
                         [&](size_t at, const uint8_t* p, size_t n) -> absl::Status {
                           // Pieces split at 8-byte boundaries: whole elements.
                           return kernels::ReduceInto(out + at, p,
                                                      static_cast<int64_t>(n / esize), dtype,
                                                      kind);
                         }),
        peer, "receiving from");
  }
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
