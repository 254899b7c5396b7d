#include "collectives/tcp/shm_ring.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "collectives/tcp/socket_util.h"

namespace braid::collectives::tcp {

struct ShmRing::Header {
  static constexpr uint64_t kMagic = 0x4252414944524e47ull;  // "BRAIDRNG"
  uint64_t magic;
  uint64_t capacity;
  alignas(64) std::atomic<uint64_t> head;  // bytes written, producer-owned
  alignas(64) std::atomic<uint64_t> tail;  // bytes read, consumer-owned
  alignas(64) std::atomic<uint32_t> consumer_sleeping;
  std::atomic<uint32_t> producer_waiting;
  std::atomic<uint32_t> space_seq;  // futex word: bumped when space is freed
  alignas(64) std::atomic<uint32_t> data_seq;  // futex word: bumped by NotifyData
  std::atomic<uint32_t> consumer_waiting;      // WaitForData is (about to be) asleep
  int64_t owner_pid;
  uint64_t owner_probe_address;
};

namespace {

constexpr size_t kHeaderBytes = 512;
static_assert(sizeof(std::atomic<uint64_t>) == 8);

long Futex(std::atomic<uint32_t>* word, int op, uint32_t value, const timespec* timeout) {
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), op, value, timeout, nullptr, 0);
}

}  // namespace

ShmRing::ShmRing(void* base, size_t mapped_bytes)
    : header_(static_cast<Header*>(base)),
      data_(static_cast<uint8_t*>(base) + kHeaderBytes),
      mapped_bytes_(mapped_bytes),
      capacity_(header_->capacity) {}

ShmRing::~ShmRing() { munmap(header_, mapped_bytes_); }

absl::StatusOr<std::unique_ptr<ShmRing>> ShmRing::Create(const std::string& name,
                                                         size_t capacity_bytes) {
  static_assert(sizeof(Header) <= kHeaderBytes);
  if (capacity_bytes == 0 || (capacity_bytes & (capacity_bytes - 1)) != 0) {
    return absl::InvalidArgumentError("shm ring capacity must be a power of two");
  }
  shm_unlink(name.c_str());  // a stale segment of a crashed run
  const int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus(absl::StatusCode::kUnavailable, absl::StrCat("shm_open ", name), errno);
  const size_t bytes = kHeaderBytes + capacity_bytes;
  if (ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    const int err = errno;
    close(fd);
    shm_unlink(name.c_str());
    return ErrnoStatus(absl::StatusCode::kUnavailable, absl::StrCat("ftruncate ", name), err);
  }
  void* base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (base == MAP_FAILED) {
    shm_unlink(name.c_str());
    return ErrnoStatus(absl::StatusCode::kUnavailable, absl::StrCat("mmap ", name), errno);
  }
  auto* h = new (base) Header();
  h->capacity = capacity_bytes;
  h->head.store(0);
  h->tail.store(0);
  h->consumer_sleeping.store(0);
  h->producer_waiting.store(0);
  h->space_seq.store(0);
  h->data_seq.store(0);
  h->consumer_waiting.store(0);
  h->owner_pid = 0;
  h->owner_probe_address = 0;
  std::atomic_thread_fence(std::memory_order_release);
  h->magic = Header::kMagic;
  return std::unique_ptr<ShmRing>(new ShmRing(base, bytes));
}

absl::StatusOr<std::unique_ptr<ShmRing>> ShmRing::Open(const std::string& name) {
  const int fd = shm_open(name.c_str(), O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus(absl::StatusCode::kUnavailable, absl::StrCat("shm_open ", name), errno);
  struct stat st = {};
  if (fstat(fd, &st) != 0 || static_cast<size_t>(st.st_size) <= kHeaderBytes) {
    close(fd);
    return absl::DataLossError(absl::StrCat("shm ring ", name, " has a bad size"));
  }
  const size_t bytes = static_cast<size_t>(st.st_size);
  void* base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (base == MAP_FAILED) {
    return ErrnoStatus(absl::StatusCode::kUnavailable, absl::StrCat("mmap ", name), errno);
  }
  auto* h = static_cast<Header*>(base);
  std::atomic_thread_fence(std::memory_order_acquire);
  if (h->magic != Header::kMagic || kHeaderBytes + h->capacity != bytes) {
    munmap(base, bytes);
    return absl::DataLossError(absl::StrCat("shm ring ", name, " is not a braid ring"));
  }
  return std::unique_ptr<ShmRing>(new ShmRing(base, bytes));
}

void ShmRing::Unlink(const std::string& name) { shm_unlink(name.c_str()); }

size_t ShmRing::Write(const void* data, size_t size) {
  const uint64_t head = header_->head.load(std::memory_order_relaxed);
  const uint64_t tail = header_->tail.load(std::memory_order_acquire);
  const size_t n = std::min<size_t>(size, capacity_ - static_cast<size_t>(head - tail));
  if (n == 0) return 0;
  const size_t at = static_cast<size_t>(head & (capacity_ - 1));
  const size_t first = std::min(n, capacity_ - at);
  std::memcpy(data_ + at, data, first);
  if (n > first) std::memcpy(data_, static_cast<const uint8_t*>(data) + first, n - first);
  header_->head.store(head + n, std::memory_order_seq_cst);
  return n;
}

bool ShmRing::TakeDoorbell() {
  // seq_cst pairs with ArmDoorbell: either the consumer sees our new head on
  // its re-check, or we see its flag here.
  if (header_->consumer_sleeping.load(std::memory_order_seq_cst) == 0) return false;
  return header_->consumer_sleeping.exchange(0, std::memory_order_seq_cst) == 1;
}

void ShmRing::WaitForSpace(absl::Duration max_wait) {
  const uint32_t seen = header_->space_seq.load(std::memory_order_seq_cst);
  header_->producer_waiting.store(1, std::memory_order_seq_cst);
  const uint64_t head = header_->head.load(std::memory_order_relaxed);
  if (head - header_->tail.load(std::memory_order_seq_cst) < capacity_) return;  // space already
  timespec ts = absl::ToTimespec(max_wait);
  Futex(&header_->space_seq, FUTEX_WAIT, seen, &ts);
}

size_t ShmRing::Readable() const {
  return static_cast<size_t>(header_->head.load(std::memory_order_acquire) -
                             header_->tail.load(std::memory_order_relaxed));
}

size_t ShmRing::Read(void* data, size_t size) {
  const uint64_t tail = header_->tail.load(std::memory_order_relaxed);
  const uint64_t head = header_->head.load(std::memory_order_acquire);
  const size_t n = std::min<size_t>(size, static_cast<size_t>(head - tail));
  if (n == 0) return 0;
  const size_t at = static_cast<size_t>(tail & (capacity_ - 1));
  const size_t first = std::min(n, capacity_ - at);
  std::memcpy(data, data_ + at, first);
  if (n > first) std::memcpy(static_cast<uint8_t*>(data) + first, data_, n - first);
  header_->tail.store(tail + n, std::memory_order_seq_cst);
  header_->space_seq.fetch_add(1, std::memory_order_seq_cst);
  if (header_->producer_waiting.exchange(0, std::memory_order_seq_cst) == 1) {
    Futex(&header_->space_seq, FUTEX_WAKE, 1, nullptr);
  }
  return n;
}

size_t ShmRing::Writable() const {
  const uint64_t head = header_->head.load(std::memory_order_relaxed);
  return capacity_ - static_cast<size_t>(head - header_->tail.load(std::memory_order_acquire));
}

void ShmRing::NotifyData() {
  header_->data_seq.fetch_add(1, std::memory_order_seq_cst);
  if (header_->consumer_waiting.load(std::memory_order_seq_cst) != 0 &&
      header_->consumer_waiting.exchange(0, std::memory_order_seq_cst) == 1) {
    Futex(&header_->data_seq, FUTEX_WAKE, 1, nullptr);
  }
}

void ShmRing::WakeConsumer() {
  header_->data_seq.fetch_add(1, std::memory_order_seq_cst);
  Futex(&header_->data_seq, FUTEX_WAKE, 1, nullptr);
}

void ShmRing::WakeProducer() {
  header_->space_seq.fetch_add(1, std::memory_order_seq_cst);
  Futex(&header_->space_seq, FUTEX_WAKE, 1, nullptr);
}

void ShmRing::WaitForData(absl::Duration max_wait) {
  const uint32_t seen = header_->data_seq.load(std::memory_order_seq_cst);
  header_->consumer_waiting.store(1, std::memory_order_seq_cst);
  if (Readable() > 0) {
    header_->consumer_waiting.store(0, std::memory_order_relaxed);
    return;
  }
  timespec ts = absl::ToTimespec(max_wait);
  Futex(&header_->data_seq, FUTEX_WAIT, seen, &ts);
  header_->consumer_waiting.store(0, std::memory_order_relaxed);
}

void ShmRing::Peek(size_t n, const uint8_t** first, size_t* first_bytes, const uint8_t** second,
                   size_t* second_bytes) const {
  const uint64_t tail = header_->tail.load(std::memory_order_relaxed);
  const size_t at = static_cast<size_t>(tail & (capacity_ - 1));
  const size_t a = std::min(n, capacity_ - at);
  *first = data_ + at;
  *first_bytes = a;
  *second = data_;
  *second_bytes = n - a;
}

void ShmRing::Consume(size_t n) {
  const uint64_t tail = header_->tail.load(std::memory_order_relaxed);
  header_->tail.store(tail + n, std::memory_order_seq_cst);
  header_->space_seq.fetch_add(1, std::memory_order_seq_cst);
  if (header_->producer_waiting.load(std::memory_order_seq_cst) != 0 &&
      header_->producer_waiting.exchange(0, std::memory_order_seq_cst) == 1) {
    Futex(&header_->space_seq, FUTEX_WAKE, 1, nullptr);
  }
}

void ShmRing::SetOwner(int64_t pid, uint64_t probe_address) {
  header_->owner_pid = pid;
  header_->owner_probe_address = probe_address;
}

int64_t ShmRing::owner_pid() const { return header_->owner_pid; }

uint64_t ShmRing::owner_probe_address() const { return header_->owner_probe_address; }

void ShmRing::ArmDoorbell() { header_->consumer_sleeping.store(1, std::memory_order_seq_cst); }

}  // namespace braid::collectives::tcp
