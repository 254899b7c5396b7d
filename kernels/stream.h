// Stream: where a kernel runs, passed to every op in kernels/.
//
// Stream contract: a CPU op runs synchronously on the calling thread and has
// finished when it returns. A CUDA op is enqueued on `cuda_stream` (a
// cudaStream_t; nullptr is the legacy default stream) and returns once
// enqueued: its inputs must stay alive and unmodified, and its outputs may be
// read, only after work on that stream completes (cudaStreamSynchronize or an
// event). A returned error means nothing was enqueued.
#ifndef BRAID_KERNELS_STREAM_H_
#define BRAID_KERNELS_STREAM_H_

namespace braid::kernels {

struct Stream {
  // cudaStream_t for CUDA tensors; ignored for CPU tensors.
  void* cuda_stream = nullptr;
};

}  // namespace braid::kernels

#endif  // BRAID_KERNELS_STREAM_H_
