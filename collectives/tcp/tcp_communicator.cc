// TcpCommunicator: creation, the executor, faults, Split and Shrink. The
// operations themselves (argument checks and algorithm choice) are in
// tcp_operations.cc.
#include "collectives/tcp/tcp_communicator.h"

#include <pthread.h>
#include <time.h>

#include <algorithm>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "collectives/status_payload.h"
#include "runtime/status_macros.h"

namespace braid::collectives::tcp {
namespace {

// The time at a few milliseconds' resolution (CLOCK_REALTIME_COARSE: ~6 ns
// a read here against ~25 ns for absl::Now()), for the per-operation
// deadlines of a second and more on the small-operation path.
absl::Time CoarseNow() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return absl::TimeFromTimespec(ts);
}

std::string KeyPrefix(const TcpOptions& o) {
  return absl::StrCat(o.store_prefix, "tcp/g", o.generation, "/");
}

// Reads the values every rank in `ranks` published under prefix + rank.
absl::StatusOr<std::map<int, std::string>> GatherFromStore(runtime::Store& store, const std::string& prefix,
                                                  const std::vector<int>& ranks,
                                                  absl::Time deadline, absl::string_view what) {
  std::vector<std::string> keys;
  for (int r : ranks) keys.push_back(absl::StrCat(prefix, r));
  absl::Status waited = store.Wait(keys, deadline);
  if (!waited.ok()) {
    return absl::Status(waited.code(), absl::StrCat(what, ": not every rank took part (keys under '",
                                                    prefix, "'): ", waited.message()));
  }
  BRAID_ASSIGN_OR_RETURN(std::vector<runtime::KeyValue> kvs, store.ListPrefix(prefix, deadline));
  std::map<int, std::string> out;
  for (const runtime::KeyValue& kv : kvs) {
    int r = -1;
    if (absl::SimpleAtoi(absl::string_view(kv.key).substr(prefix.size()), &r)) out[r] = kv.value;
  }
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TcpCommunicator>> TcpCommunicator::Create(
    const CommunicatorOptions& options) {
  if (options.size <= 0 || options.rank < 0 || options.rank >= options.size ||
      options.store == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("tcp: bad rank ", options.rank, " of size ",
                                                   options.size, " or no store"));
  }
  BRAID_ASSIGN_OR_RETURN(TcpOptions tcp, ParseTcpOptions(options));
  TransportOptions t;
  t.rank = options.rank;
  t.size = options.size;
  t.store = options.store;
  t.key_prefix = KeyPrefix(tcp);
  t.host = tcp.host;
  t.connect_deadline = absl::Now() + tcp.connect_timeout;
  t.heartbeat_interval = tcp.heartbeat_interval;
  t.heartbeat_misses = tcp.heartbeat_misses;
  t.frame_payload_bytes = std::max<size_t>(8, static_cast<size_t>(tcp.segment_bytes) / 8 * 8);
  t.checksum = tcp.checksum;
  t.shm_ring_bytes = static_cast<size_t>(tcp.shm_ring_bytes);
  t.direct_ring_bytes = static_cast<size_t>(tcp.direct_ring_bytes);
  t.cma = tcp.cma;
  BRAID_ASSIGN_OR_RETURN(std::shared_ptr<TcpTransport> transport, TcpTransport::Create(t));
  std::vector<int> members(options.size);
  for (int r = 0; r < options.size; ++r) members[r] = r;
  auto inbox = std::make_shared<Inbox>(transport->world_id(), 0, std::move(members));
  transport->Register(inbox);
  return std::unique_ptr<TcpCommunicator>(
      new TcpCommunicator(std::move(transport), std::move(inbox), tcp, options.store, options.rank));
}

TcpCommunicator::TcpCommunicator(std::shared_ptr<TcpTransport> transport,
                                 std::shared_ptr<Inbox> inbox, TcpOptions options,
                                 runtime::Store* store, int rank)
    : transport_(std::move(transport)),
      inbox_(std::move(inbox)),
      options_(std::move(options)),
      store_(store),
      rank_(rank),
      key_prefix_(KeyPrefix(options_)),
      // Only the world communicator and its Shrink successors (one comm_id,
      // rising epochs) share the direct channel: their operations are one
      // sequence on every rank.
      direct_(inbox_->comm_id() == transport_->world_id() ? transport_->direct() : nullptr) {
  runner_ = std::make_shared<InlineRunner>();
  {
    absl::WriterMutexLock lock(&runner_->mu);
    runner_->comm = this;
  }
  executor_ = std::thread([this] { ExecutorLoop(); });
  inbox_->SetTickHook([this](absl::Time now) { OnTick(now); });
}

TcpCommunicator::~TcpCommunicator() {
  bool pending;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    pending = running_ || !queue_.empty();
    executor_cv_.Signal();
  }
  if (pending) {
    BreakAndNotify(absl::AbortedError(absl::StrCat(
        "communicator ", comm_id(), " epoch ", epoch(),
        " was destroyed on rank ", rank_, " with operations pending")));
  }
  inbox_->SetTickHook(nullptr);
  {
    // Waits for an inline operation (broken above, so it ends within ~1 ms);
    // later Waits on this communicator's works only wait.
    absl::WriterMutexLock lock(&runner_->mu);
    runner_->comm = nullptr;
  }
  executor_.join();
  // Posted receives that nobody will wait for any more.
  inbox_->Break(absl::AbortedError("the communicator was destroyed"));
  transport_->Unregister(inbox_.get());
}

Capabilities TcpCommunicator::capabilities() const {
  Capabilities c;
  c.cpu_tensors = true;
  c.cuda_tensors = false;
  c.shrink = true;
  c.fault_tolerant = true;
  return c;
}

kernels::ReduceKind TcpCommunicator::KindOf(ReduceOp op) const {
  switch (op) {
    case ReduceOp::kSum: return kernels::ReduceKind::kSum;
    case ReduceOp::kProd: return kernels::ReduceKind::kProd;
    case ReduceOp::kMin: return kernels::ReduceKind::kMin;
    case ReduceOp::kMax: return kernels::ReduceKind::kMax;
    case ReduceOp::kAvg: return kernels::ReduceKind::kSum;
  }
  return kernels::ReduceKind::kSum;
}

absl::Status TcpCommunicator::CheckUsable(absl::string_view what) const {
  absl::Status e = inbox_->error();
  if (e.ok()) return e;
  return WithFailedRanks(
      absl::FailedPreconditionError(absl::StrCat(
          what, " on a broken tcp communicator (id ", comm_id(), ", epoch ", epoch(), ", rank ",
          rank_, "): ", e.message(), " -- rebuild it with Shrink or a new communicator first")),
      FailedRanks(e));
}

// A queued direct operation: the thread that first Waits for it runs it
// inline when it is at the head of an idle queue (TryRunInline).
class TcpCommunicator::InlineWork final : public SettableWork {
 public:
  explicit InlineWork(std::weak_ptr<InlineRunner> runner) : runner_(std::move(runner)) {}
  absl::Status Wait(absl::Time deadline) override {
    if (!IsCompleted()) {
      if (std::shared_ptr<InlineRunner> runner = runner_.lock()) runner->TryRun(this, deadline);
    }
    return SettableWork::Wait(deadline);
  }

 private:
  const std::weak_ptr<InlineRunner> runner_;
};

void TcpCommunicator::InlineRunner::TryRun(SettableWork* work, absl::Time deadline) {
  absl::ReaderMutexLock lock(&mu);
  if (comm != nullptr) comm->TryRunInline(work, deadline);
}

void TcpCommunicator::TryRunInline(SettableWork* work, absl::Time deadline) {
  // The op may wait for peers up to its own timeout; never for a caller that
  // only wants to poll, or waits briefly.
  if (deadline - CoarseNow() < kInlineWaitMin) return;
  Op op;
  {
    absl::MutexLock lock(&mu_);
    if (running_ || stopping_ || queue_.empty() || queue_.front().work.get() != work) return;
    op = std::move(queue_.front());
    queue_.pop_front();
    running_ = true;
  }
  absl::Status status = RunOp(op.name, op.seq, op.body, op.direct);
  {
    absl::MutexLock lock(&mu_);
    running_ = false;
    if (stopping_ || ExecutorHasWorkLocked()) executor_cv_.Signal();
  }
  op.work->Complete(status);
}

bool TcpCommunicator::UseCma(const OpContext& ctx, int64_t bytes) const {
  return ctx.cma() && !ctx.direct_data() && options_.cma && bytes >= options_.cma_min_bytes;
}

bool TcpCommunicator::FitsDirect(size_t largest_bytes) const {
  if (size() == 1) return true;  // nothing to send: always run inline
  return direct_ != nullptr &&
         largest_bytes <= static_cast<size_t>(options_.fast_path_bytes) &&
         largest_bytes <= direct_->max_message_bytes();
}

std::shared_ptr<Work> TcpCommunicator::Post(std::string name, OpBody body, bool direct) {
  absl::Status usable = CheckUsable(name);
  if (!usable.ok()) return SettableWork::Done(usable);
  Op op;
  op.name = std::move(name);
  op.body = std::move(body);
  op.direct = direct;
  const bool candidate = direct && options_.caller_thread;
  if (candidate) {
    op.work = std::make_shared<InlineWork>(runner_);
  } else {
    op.work = std::make_shared<SettableWork>();
  }
  std::shared_ptr<Work> work = op.work;
  absl::MutexLock lock(&mu_);
  if (candidate && queue_.empty() && !running_) {
    // Left to the caller's Wait: the executor is not woken for it.
    op.posted = absl::Now();
  } else if (!queue_.empty()) {
    queue_.front().posted = absl::InfinitePast();  // queued behind: the executor's now
  }
  op.seq = next_seq_++;
  queue_.push_back(std::move(op));
  if (ExecutorHasWorkLocked()) executor_cv_.Signal();
  return work;
}

void TcpCommunicator::OnTick(absl::Time now) {
  absl::MutexLock lock(&mu_);
  if (!queue_.empty() && queue_.front().posted != absl::InfinitePast() &&
      now - queue_.front().posted >= kInlineGrace) {
    queue_.front().posted = absl::InfinitePast();  // nobody waited: start it
    if (ExecutorHasWorkLocked()) executor_cv_.Signal();
  }
}

absl::Status TcpCommunicator::RunOp(const std::string& name, uint64_t seq, OpBody& body,
                                    bool direct) {
  absl::Status status = inbox_->error();
  if (status.ok()) {
    OpContext ctx(transport_.get(), inbox_.get(), &options_, rank_, size(), seq,
                  CoarseNow() + options_.op_timeout, direct_, direct);
    status = body(ctx);
    if (!status.ok()) {
      if (absl::IsInvalidArgument(status) || absl::IsDataLoss(status)) {
        status = absl::Status(status.code(), absl::StrCat(name, " (op ", seq, ") on rank ",
                                                          rank_, ": ", status.message()));
      }
      BreakAndNotify(status);
    }
  } else if (!absl::IsAborted(status)) {
    status = WithFailedRanks(absl::AbortedError(status.message()), FailedRanks(status));
  }
  return status;
}

bool TcpCommunicator::ExecutorHasWorkLocked() const {
  // Not while another thread runs an operation inline, and not an inline
  // candidate its caller may still claim (OnTick hands those over).
  return !running_ && !queue_.empty() && queue_.front().posted == absl::InfinitePast();
}

void TcpCommunicator::ExecutorLoop() {
  pthread_setname_np(pthread_self(), "braid-tcp-exec");
  while (true) {
    Op op;
    {
      absl::MutexLock lock(&mu_);
      // A condition variable, not mu_.Await: a Condition would be evaluated
      // on every release of mu_ by the posting and inline threads, on the
      // fast path of every small operation. Whoever makes this true signals
      // (ExecutorHasWorkLocked); the timeout is only a safety net.
      while (!stopping_ && !ExecutorHasWorkLocked()) {
        executor_cv_.WaitWithTimeout(&mu_, absl::Milliseconds(100));
      }
      while (stopping_ && running_) executor_cv_.WaitWithTimeout(&mu_, absl::Milliseconds(10));
      if (queue_.empty()) return;  // stopping
      op = std::move(queue_.front());
      queue_.pop_front();
      running_ = true;
    }
    absl::Status status = RunOp(op.name, op.seq, op.body, op.direct);
    {
      // Before Complete: a caller whose Wait returned must see the op finished.
      absl::MutexLock lock(&mu_);
      running_ = false;
    }
    op.work->Complete(status);
  }
}

void TcpCommunicator::BreakAndNotify(const absl::Status& status) {
  if (!inbox_->Break(status)) return;
  transport_->WakeDirectWaiters();
  std::vector<int> others;
  for (int g = 0; g < size(); ++g) {
    if (g != rank_) others.push_back(inbox_->members()[g]);
  }
  transport_->SendAbort(others, comm_id(), epoch(),
                        EncodeAbortPayload(FailedRanks(status), status.message()));
}

void TcpCommunicator::Abort(absl::Status reason) {
  absl::Status s = absl::AbortedError(
      absl::StrCat("Abort() on rank ", rank_, " of communicator ", comm_id(), " epoch ", epoch(),
                   ": ", reason.message()));
  BreakAndNotify(WithFailedRanks(s, FailedRanks(reason)));
  transport_->WakeDirectWaiters();  // also when an earlier error broke it
}

absl::StatusOr<std::unique_ptr<Communicator>> TcpCommunicator::Split(int color, int key,
                                                                     absl::Time deadline) {
  BRAID_RETURN_IF_ERROR(CheckUsable("Split"));
  uint64_t n;
  {
    absl::MutexLock lock(&mu_);
    n = split_count_++;
  }
  const std::string prefix =
      absl::StrCat(key_prefix_, "split/", absl::Hex(comm_id()), "/", epoch(), "/", n, "/");
  BRAID_RETURN_IF_ERROR(store_->Set(absl::StrCat(prefix, rank_), absl::StrCat(color, " ", key),
                                    deadline));
  std::vector<int> all(size());
  for (int g = 0; g < size(); ++g) all[g] = g;
  BRAID_ASSIGN_OR_RETURN(auto values, GatherFromStore(*store_, prefix, all, deadline, "tcp Split"));
  if (color < 0) return std::unique_ptr<Communicator>();
  std::vector<std::tuple<int, int>> mine;  // (key, group rank) of my color
  for (int g = 0; g < size(); ++g) {
    std::vector<std::string> parts = absl::StrSplit(values[g], ' ');
    int c = 0;
    int k = 0;
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &c) || !absl::SimpleAtoi(parts[1], &k)) {
      return absl::DataLossError(absl::StrCat("tcp Split: malformed entry of rank ", g));
    }
    if (c == color) mine.emplace_back(k, g);
  }
  std::sort(mine.begin(), mine.end());
  std::vector<int> members;
  int new_rank = -1;
  for (const auto& [k, g] : mine) {
    if (g == rank_) new_rank = static_cast<int>(members.size());
    members.push_back(inbox_->members()[g]);
  }
  const uint64_t id = HashId(comm_id(), absl::StrCat("split/", epoch(), "/", n, "/", color));
  auto inbox = std::make_shared<Inbox>(id, 0, std::move(members));
  transport_->Register(inbox);
  return std::unique_ptr<Communicator>(
      new TcpCommunicator(transport_, std::move(inbox), options_, store_, new_rank));
}

absl::StatusOr<std::unique_ptr<Communicator>> TcpCommunicator::Shrink(
    absl::Span<const int> excluded_ranks, absl::Time deadline) {
  std::set<int> excluded(excluded_ranks.begin(), excluded_ranks.end());
  for (int r : excluded) {
    if (r < 0 || r >= size()) {
      return absl::InvalidArgumentError(absl::StrCat("tcp Shrink: excluded rank ", r,
                                                     " is not in [0, ", size(), ")"));
    }
  }
  if (excluded.count(rank_) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tcp Shrink: rank ", rank_, " is in the excluded list; only survivors call Shrink"));
  }
  const int64_t new_epoch = epoch() + 1;
  const std::string list = absl::StrJoin(excluded, ",");
  const std::string prefix =
      absl::StrCat(key_prefix_, "shrink/", absl::Hex(comm_id()), "/", new_epoch, "/");
  BRAID_RETURN_IF_ERROR(store_->Set(absl::StrCat(prefix, rank_), list, deadline));
  std::vector<int> survivors;
  std::vector<int> members;
  int new_rank = -1;
  for (int g = 0; g < size(); ++g) {
    if (excluded.count(g) != 0) continue;
    if (g == rank_) new_rank = static_cast<int>(survivors.size());
    survivors.push_back(g);
    members.push_back(inbox_->members()[g]);
  }
  BRAID_ASSIGN_OR_RETURN(auto values, GatherFromStore(*store_, prefix, survivors, deadline, "tcp Shrink"));
  for (int g : survivors) {
    if (values[g] != list) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tcp Shrink: rank ", g, " excludes {", values[g], "} but rank ", rank_, " excludes {",
          list, "}; every survivor must pass the same list"));
    }
  }
  // The old communicator is superseded: its frames are stale from now on.
  inbox_->Break(WithFailedRanks(
      absl::FailedPreconditionError(absl::StrCat("communicator ", comm_id(), " epoch ", epoch(),
                                                 " was replaced by Shrink (epoch ", new_epoch, ")")),
      std::vector<int>(excluded.begin(), excluded.end())));
  auto inbox = std::make_shared<Inbox>(comm_id(), new_epoch, std::move(members));
  transport_->Register(inbox);
  return std::unique_ptr<Communicator>(
      new TcpCommunicator(transport_, std::move(inbox), options_, store_, new_rank));
}

}  // namespace braid::collectives::tcp
