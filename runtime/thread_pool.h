// ThreadPool: a fixed number of named worker threads running queued tasks.
//
//   BRAID_ASSIGN_OR_RETURN(std::unique_ptr<ThreadPool> pool,
//                          ThreadPool::Create({.num_threads = 4, .name = "reduce"}));
//   BRAID_RETURN_IF_ERROR(pool->Schedule([] { ... }));
//   pool->ParallelFor(n, [&](int64_t begin, int64_t end) { ... });
//
// Threads are created by Create, named "<name>/<i>" (pthread_setname_np,
// truncated to the kernel's 15 characters), owned by the pool and joined by
// Shutdown() or the destructor; none is ever detached.
//
// Shutdown: Shutdown() stops accepting tasks, lets the workers run every task
// already queued (it drains, it does not drop), then joins them. The
// destructor calls Shutdown(). A task that never returns makes Shutdown never
// return: tasks must themselves be bounded (take a deadline).
//
// Thread-safety: Schedule, ParallelFor, Shutdown and the accessors may be
// called from any thread, including from inside a task (but Shutdown from a
// task of the same pool is a deadlock and is refused by BRAID_CHECK).
//
// Failure: tasks report their own errors (a task is a void function; capture
// a Status if needed). A task must not throw.
#ifndef BRAID_RUNTIME_THREAD_POOL_H_
#define BRAID_RUNTIME_THREAD_POOL_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace braid::runtime {

class ThreadPool {
 public:
  struct Options {
    // Number of worker threads. REQUIRED: >= 1.
    int num_threads = 1;
    // Prefix of the thread names (seen in top -H, gdb, TSan reports and
    // traces). Default "braid-pool".
    std::string name = "braid-pool";
  };

  // Starts the worker threads. kInvalidArgument for num_threads < 1;
  // kResourceExhausted when the OS refuses a thread (the ones started are
  // joined before returning).
  static absl::StatusOr<std::unique_ptr<ThreadPool>> Create(const Options& options);

  // Drains and joins (see Shutdown).
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Queues `task` to run on a worker thread. kFailedPrecondition after
  // Shutdown has begun (the task is not run).
  absl::Status Schedule(std::function<void()> task);

  // Runs fn(begin, end) over disjoint chunks covering [0, n) and returns when
  // all have finished. Chunks run on the workers and on the calling thread
  // (which always takes part, so this never deadlocks, even when called from
  // a task of this pool or after Shutdown: then the caller does all the
  // work). `min_chunk` (>= 1) is the smallest chunk worth a thread hop.
  // Does nothing for n <= 0. fn must be safe to call concurrently.
  void ParallelFor(int64_t n, const std::function<void(int64_t begin, int64_t end)>& fn,
                   int64_t min_chunk = 1);

  // Stops accepting tasks, runs every queued task, joins the workers.
  // Idempotent; returns when all workers have exited.
  // REQUIRES: not called from one of this pool's own tasks.
  void Shutdown();

  int num_threads() const { return static_cast<int>(threads_.size()); }
  const std::string& name() const { return name_; }
  // Tasks queued and not yet started (for tests and diagnostics).
  size_t QueueSize() const;
  // True when the calling thread is one of this pool's workers.
  bool InWorkerThread() const;

 private:
  explicit ThreadPool(std::string name) : name_(std::move(name)) {}
  void WorkerLoop();

  const std::string name_;
  std::vector<std::thread> threads_;  // written only by Create and Shutdown
  mutable absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Mutex join_mu_;  // serialises concurrent Shutdown calls
  bool joined_ ABSL_GUARDED_BY(join_mu_) = false;
};

}  // namespace braid::runtime

#endif  // BRAID_RUNTIME_THREAD_POOL_H_
