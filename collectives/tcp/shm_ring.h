// ShmRing: a single-producer single-consumer byte ring in POSIX shared memory
// (/dev/shm), the data path between two ranks on the same host.
//
// The transport uses one ring per direction of a same-host pair instead of
// the TCP socket for frames: the byte stream written into the ring is exactly
// what would have gone over the socket (frame.h), so the same FrameAssembler
// parses it. The TCP connection stays open beside it: the kernel closes it
// when the peer dies, which is how a death is seen at once, and it carries
// one-byte doorbells that wake the consumer's epoll when it sleeps.
//
// Wake-ups: the consumer announces it is about to sleep (ArmDoorbell); a
// producer that advanced the ring then gets true from TakeDoorbell exactly
// once and sends the doorbell byte. A producer finding the ring full waits on
// a futex that the consumer wakes after making space (WaitForSpace).
//
// Lifetime: the producer creates the segment, the consumer opens it and then
// both unlink it (Unlink), so nothing stays in /dev/shm after a crash once
// both have mapped it.
//
// Thread-safety: one producer thread at a time (the peer's send lock) and one
// consumer thread (the progress thread); the atomics order the two sides.
#ifndef BRAID_COLLECTIVES_TCP_SHM_RING_H_
#define BRAID_COLLECTIVES_TCP_SHM_RING_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace braid::collectives::tcp {

class ShmRing {
 public:
  // Creates (replacing any stale segment of that name) and maps a ring with
  // `capacity_bytes` of data (a power of two).
  static absl::StatusOr<std::unique_ptr<ShmRing>> Create(const std::string& name,
                                                          size_t capacity_bytes);
  // Maps an existing ring created by the peer.
  static absl::StatusOr<std::unique_ptr<ShmRing>> Open(const std::string& name);
  // Removes the name from /dev/shm (the mappings stay); idempotent.
  static void Unlink(const std::string& name);

  ~ShmRing();
  ShmRing(const ShmRing&) = delete;
  ShmRing& operator=(const ShmRing&) = delete;

  // Producer: copies up to `size` bytes in; returns how many fit.
  size_t Write(const void* data, size_t size);
  // Producer: true once after the consumer armed its doorbell (send the byte).
  bool TakeDoorbell();
  // Producer: waits until some space may be free, at most `max_wait`.
  void WaitForSpace(absl::Duration max_wait);

  // Consumer: copies up to `size` bytes out; returns how many.
  size_t Read(void* data, size_t size);
  // Consumer: bytes ready to read.
  size_t Readable() const;
  // Consumer: about to sleep; producers will ring the doorbell.
  void ArmDoorbell();

  // ---- Polled use (the direct channel, direct_channel.h) -------------------
  // There the consumer thread polls the ring itself and sleeps on a futex in
  // the ring instead of the socket doorbell; records are read in place.
  // Producer: bytes that fit now.
  size_t Writable() const;
  // Producer: after Write; wakes a consumer sleeping in WaitForData.
  void NotifyData();
  // Consumer: sleeps until data may be readable, at most `max_wait`.
  void WaitForData(absl::Duration max_wait);
  // Any thread of either process: wakes a consumer sleeping in WaitForData
  // (to make it re-check an abort flag).
  void WakeConsumer();
  // Any thread: wakes a producer sleeping in WaitForSpace (same reason).
  void WakeProducer();
  // Consumer: the next `n` <= Readable() bytes in place, as one or two
  // spans (the second empty unless the bytes wrap around the end).
  void Peek(size_t n, const uint8_t** first, size_t* first_bytes, const uint8_t** second,
            size_t* second_bytes) const;
  // Consumer: releases `n` <= Readable() bytes (wakes a waiting producer).
  void Consume(size_t n);
  // The creator's (producer's) process id and the address of a probe word in
  // its memory holding kProbeValue, published for cross-memory attach (CMA:
  // the consumer may process_vm_readv the producer's buffers).
  static constexpr uint64_t kProbeValue = 0x424149442d434d41ull;  // "BAID-CMA"
  void SetOwner(int64_t pid, uint64_t probe_address);
  int64_t owner_pid() const;
  uint64_t owner_probe_address() const;

 private:
  struct Header;
  ShmRing(void* base, size_t mapped_bytes);

  Header* header_;
  uint8_t* data_;
  size_t mapped_bytes_;
  size_t capacity_;
};

}  // namespace braid::collectives::tcp

#endif  // BRAID_COLLECTIVES_TCP_SHM_RING_H_
