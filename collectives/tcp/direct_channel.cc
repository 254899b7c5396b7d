#include "collectives/tcp/direct_channel.h"

#include <sched.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace braid::collectives::tcp {
namespace {

constexpr uint32_t kRecordMagic = 0x44524344;  // "DCRD"

struct RecordHeader {
  uint32_t magic;
  uint32_t tag;
  uint64_t comm_id;
  int64_t epoch;
  uint64_t op_seq;
  uint32_t bytes;
  uint32_t pad;
};
static_assert(sizeof(RecordHeader) == DirectChannel::kRecordHeaderBytes);

size_t Padded(size_t bytes) { return (bytes + 7) & ~size_t{7}; }

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// Polls `ready` under `policy` until it holds, the inbox breaks or the
// deadline passes; `sleep(d)` blocks for at most d or until woken.
// `spin_score` adapts the spin phase: a wait that ends while spinning raises
// it, a spin that runs out lowers it; at zero or below there is no spin but
// for an occasional probe (every kProbeEvery waits), so ranks that run on
// separate cores keep spinning and ranks that share one stop.
constexpr int kMaxSpinScore = 8;
constexpr uint32_t kProbeEvery = 128;

template <typename Ready, typename Sleep>
absl::Status Poll(const DirectWaitPolicy& policy, std::atomic<int>& spin_score,
                  std::atomic<uint32_t>& waits, absl::Time deadline, const Inbox& inbox,
                  absl::string_view what, Ready&& ready, Sleep&& sleep) {
  if (ready()) return absl::OkStatus();
  const int64_t start = absl::GetCurrentTimeNanos();
  const bool spin = spin_score.load(std::memory_order_relaxed) > 0 ||
                    waits.fetch_add(1, std::memory_order_relaxed) % kProbeEvery == 0;
  const int64_t spin_end = start + (spin ? absl::ToInt64Nanoseconds(policy.spin) : 0);
  const int64_t yield_end = spin_end + absl::ToInt64Nanoseconds(policy.yield);
  const int64_t deadline_ns =
      deadline == absl::InfiniteFuture() ? INT64_MAX : absl::ToUnixNanos(deadline);
  int64_t now = start;
  bool spun_out = false;
  for (uint32_t i = 1;; ++i) {
    if (ready()) {
      if (spin && !spun_out) {
        const int score = spin_score.load(std::memory_order_relaxed);
        spin_score.store(std::min(std::max(score, 0) + 1, kMaxSpinScore),
                         std::memory_order_relaxed);
      }
      return absl::OkStatus();
    }
    if (inbox.broken()) return inbox.error();
    if (now < spin_end) {
      CpuRelax();
      if ((i & 31) == 0) now = absl::GetCurrentTimeNanos();
      continue;
    }
    if (spin && !spun_out) {
      spun_out = true;
      spin_score.store(std::min(spin_score.load(std::memory_order_relaxed), 2) - 2,
                       std::memory_order_relaxed);
    }
    now = absl::GetCurrentTimeNanos();
    if (now >= deadline_ns) {
      return absl::DeadlineExceededError(absl::StrCat("timed out (op_timeout) ", what));
    }
    if (now < yield_end) {
      sched_yield();
      continue;
    }
    absl::Duration slice = policy.sleep_slice;
    if (deadline_ns != INT64_MAX) slice = std::min(slice, absl::Nanoseconds(deadline_ns - now));
    sleep(std::max(slice, absl::Microseconds(1)));
  }
}

}  // namespace

DirectWaitPolicy DirectWaitPolicy::ForRanks(int ranks) {
  // Measured on 2 loaded cores (docs/benchmarks.md): a fixed busy-spin, even
  // of 20 us, multiplies the 8-byte latency whenever the peer needs the core
  // we spin on, while polling with sched_yield costs one syscall when nobody
  // else is runnable and hands the core over when somebody is. So: spin
  // (adaptively, see Poll) only when every rank can have a core, then yield
  // for 2 ms (0.2 ms beyond 4 ranks per core), then sleep.
  DirectWaitPolicy p;
  cpu_set_t set;
  int cores = static_cast<int>(std::thread::hardware_concurrency());
  if (sched_getaffinity(0, sizeof(set), &set) == 0) cores = CPU_COUNT(&set);
  cores = std::max(cores, 1);
  p.spin = ranks <= cores ? absl::Microseconds(30) : absl::ZeroDuration();
  // Far more ranks than cores (16 on 2): yielding pollers would starve the
  // ranks' progress threads (heartbeats), so sleep much sooner.
  p.yield = ranks <= 4 * cores ? absl::Milliseconds(2) : absl::Microseconds(200);
  // Every way a communicator breaks wakes its sleepers (WakeAll), so the
  // slice is only a safety net; short slices of many sleeping ranks would
  // themselves load an oversubscribed machine.
  p.sleep_slice = absl::Milliseconds(10);
  return p;
}

DirectChannel::DirectChannel(int rank, std::vector<std::unique_ptr<ShmRing>> tx,
                             std::vector<std::unique_ptr<ShmRing>> rx, std::vector<int64_t> pids,
                             bool cma, DirectWaitPolicy policy)
    : rank_(rank), pids_(std::move(pids)), cma_(cma), policy_(policy) {
  lanes_.resize(tx.size());
  size_t capacity = SIZE_MAX;
  for (size_t r = 0; r < tx.size(); ++r) {
    if (tx[r] == nullptr) continue;
    auto lane = std::make_unique<Lane>();
    capacity = std::min(capacity, tx[r]->Writable());
    lane->tx = std::move(tx[r]);
    lane->rx = std::move(rx[r]);
    lanes_[r] = std::move(lane);
  }
  if (capacity != SIZE_MAX && capacity / 4 > kRecordHeaderBytes) {
    max_message_bytes_ = (capacity / 4 - kRecordHeaderBytes) & ~size_t{7};
  }
}

absl::Status DirectChannel::Send(int dst, const DirectKey& key, const void* data, size_t bytes,
                                 absl::Time deadline, const Inbox& inbox) {
  if (bytes > max_message_bytes_) {
    return absl::InternalError(absl::StrCat("direct channel: a ", bytes,
                                            "-byte message exceeds the record limit of ",
                                            max_message_bytes_));
  }
  Lane& lane = *lanes_[dst];
  absl::MutexLock lock(&lane.tx_mu);
  ShmRing& ring = *lane.tx;
  const size_t need = kRecordHeaderBytes + Padded(bytes);
  absl::Status room = Poll(
      policy_, spin_score_, waits_, deadline, inbox, "waiting for room in the peer's ring",
      [&] { return ring.Writable() >= need; },
      [&](absl::Duration d) { ring.WaitForSpace(d); });
  if (!room.ok()) return room;
  RecordHeader h = {};
  h.magic = kRecordMagic;
  h.tag = key.tag;
  h.comm_id = key.comm_id;
  h.epoch = key.epoch;
  h.op_seq = key.op_seq;
  h.bytes = static_cast<uint32_t>(bytes);
  // Room for the whole record is reserved above, so these writes never wait:
  // the record is complete even if the operation is abandoned right after.
  // Each Write publishes its part; the reader waits for the whole record.
  ring.Write(&h, sizeof(h));
  if (bytes > 0) ring.Write(data, bytes);
  const size_t pad = Padded(bytes) - bytes;
  if (pad > 0) {
    static constexpr uint8_t kZeros[8] = {};
    ring.Write(kZeros, pad);
  }
  ring.NotifyData();
  return absl::OkStatus();
}

absl::Status DirectChannel::Receive(
    int src, const DirectKey& key, size_t bytes, absl::Time deadline, const Inbox& inbox,
    absl::FunctionRef<absl::Status(size_t, const uint8_t*, size_t)> sink) {
  Lane& lane = *lanes_[src];
  absl::MutexLock lock(&lane.rx_mu);
  ShmRing& ring = *lane.rx;
  auto sleep = [&](absl::Duration d) { ring.WaitForData(d); };
  while (true) {
    absl::Status s = Poll(
        policy_, spin_score_, waits_, deadline, inbox, "waiting for the peer's message",
        [&] { return ring.Readable() >= kRecordHeaderBytes; }, sleep);
    if (!s.ok()) return s;
    const uint8_t* a;
    const uint8_t* b;
    size_t an;
    size_t bn;
    ring.Peek(kRecordHeaderBytes, &a, &an, &b, &bn);
    RecordHeader h;
    std::memcpy(&h, a, an);
    if (bn > 0) std::memcpy(reinterpret_cast<uint8_t*>(&h) + an, b, bn);
    if (h.magic != kRecordMagic || Padded(h.bytes) > max_message_bytes_ + 8) {
      return absl::DataLossError("direct channel: a corrupt record in the shared-memory ring");
    }
    const size_t record = kRecordHeaderBytes + Padded(h.bytes);
    // The record was written in up to three Writes; wait for all of it.
    s = Poll(
        policy_, spin_score_, waits_, deadline, inbox, "waiting for the rest of the peer's message",
        [&] { return ring.Readable() >= record; }, sleep);
    if (!s.ok()) return s;
    if (h.comm_id == key.comm_id && h.epoch < key.epoch) {
      ring.Consume(record);  // left over from an operation of an older epoch
      continue;
    }
    if (h.comm_id != key.comm_id || h.epoch != key.epoch || h.op_seq != key.op_seq ||
        h.tag != key.tag) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the peer's next message is for operation ", h.op_seq, " step ", h.tag, " (epoch ",
          h.epoch, ") but this rank runs operation ", key.op_seq, " step ", key.tag, " (epoch ",
          key.epoch, "); the ranks posted different sequences of operations"));
    }
    if (h.bytes != bytes) {
      ring.Consume(record);
      return absl::InvalidArgumentError(absl::StrCat(
          "the peer sent ", h.bytes, " bytes where this rank expects ", bytes,
          "; the ranks posted different shapes or dtypes"));
    }
    absl::Status status = absl::OkStatus();
    if (bytes > 0) {
      ring.Peek(kRecordHeaderBytes + bytes, &a, &an, &b, &bn);
      // Skip the header bytes within the two spans.
      size_t skip = kRecordHeaderBytes;
      if (an >= skip) {
        a += skip;
        an -= skip;
      } else {
        skip -= an;
        an = 0;
        b += skip;
        bn -= skip;
      }
      if (an > 0) status = sink(0, a, an);
      if (status.ok() && bn > 0) status = sink(an, b, bn);
    }
    ring.Consume(record);
    return status;
  }
}

void DirectChannel::WakeAll() {
  for (auto& lane : lanes_) {
    if (lane == nullptr) continue;
    lane->rx->WakeConsumer();
    lane->tx->WakeProducer();
  }
}

}  // namespace braid::collectives::tcp
