#include "runtime/thread_pool.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "runtime/logging.h"

namespace braid::runtime {
namespace {

// The pool whose worker the current thread is (nullptr elsewhere).
thread_local const ThreadPool* current_pool = nullptr;

}  // namespace

absl::StatusOr<std::unique_ptr<ThreadPool>> ThreadPool::Create(const Options& options) {
  if (options.num_threads < 1) {
    return absl::InvalidArgumentError(absl::StrCat("ThreadPool '", options.name,
                                                   "': num_threads is ", options.num_threads,
                                                   "; expected >= 1"));
  }
  std::unique_ptr<ThreadPool> pool(new ThreadPool(options.name));
  pool->threads_.reserve(static_cast<size_t>(options.num_threads));
  for (int i = 0; i < options.num_threads; ++i) {
    try {
      pool->threads_.emplace_back([p = pool.get(), i] {
        // Linux limits thread names to 15 characters plus the NUL.
        std::string name = absl::StrCat(p->name_, "/", i).substr(0, 15);
        pthread_setname_np(pthread_self(), name.c_str());
        current_pool = p;
        p->WorkerLoop();
      });
    } catch (const std::system_error& e) {
      pool->Shutdown();  // joins the threads already started
      return absl::ResourceExhaustedError(absl::StrCat("ThreadPool '", options.name,
                                                       "': cannot start thread ", i, " of ",
                                                       options.num_threads, ": ", e.what()));
    }
  }
  return pool;
}

ThreadPool::~ThreadPool() { Shutdown(); }

absl::Status ThreadPool::Schedule(std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  if (stopping_) {
    return absl::FailedPreconditionError(
        absl::StrCat("ThreadPool '", name_, "' is shut down; the task was not run"));
  }
  queue_.push_back(std::move(task));
  return absl::OkStatus();
}

void ThreadPool::WorkerLoop() {
  for (;;) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](ThreadPool* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) {
            return p->stopping_ || !p->queue_.empty();
          },
          this));
      if (queue_.empty()) return;  // stopping and drained
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();
  }
}

void ThreadPool::Shutdown() {
  BRAID_CHECK(current_pool != this)
      << "ThreadPool '" << name_ << "': Shutdown called from one of its own tasks";
  absl::MutexLock join_lock(&join_mu_);
  if (joined_) return;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : threads_) t.join();
  joined_ = true;
}

size_t ThreadPool::QueueSize() const {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

bool ThreadPool::InWorkerThread() const { return current_pool == this; }

void ThreadPool::ParallelFor(int64_t n, const std::function<void(int64_t, int64_t)>& fn,
                             int64_t min_chunk) {
  if (n <= 0) return;
  min_chunk = std::max<int64_t>(min_chunk, 1);
  const int64_t workers = static_cast<int64_t>(threads_.size()) + 1;  // + the caller
  // A few chunks per thread balance uneven chunks without much overhead.
  int64_t num_chunks = std::min<int64_t>(workers * 4, (n + min_chunk - 1) / min_chunk);
  num_chunks = std::max<int64_t>(num_chunks, 1);
  if (num_chunks == 1) {
    fn(0, n);
    return;
  }
  const int64_t chunk = (n + num_chunks - 1) / num_chunks;
  num_chunks = (n + chunk - 1) / chunk;

  // Shared with the helper tasks, which may start after this call returned
  // (then they find no chunk left and never touch `fn`).
  struct State {
    std::atomic<int64_t> next{0};
    int64_t total = 0;
    absl::Mutex mu;
    int64_t done ABSL_GUARDED_BY(mu) = 0;
    bool AllDone() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return done == total; }
  };
  auto state = std::make_shared<State>();
  state->total = num_chunks;
  const std::function<void(int64_t, int64_t)>* fn_ptr = &fn;
  auto run_chunks = [state, fn_ptr, chunk, num_chunks, n] {
    int64_t finished = 0;
    for (int64_t c; (c = state->next.fetch_add(1)) < num_chunks;) {
      const int64_t begin = c * chunk;
      (*fn_ptr)(begin, std::min(begin + chunk, n));
      ++finished;
    }
    if (finished > 0) {
      absl::MutexLock lock(&state->mu);
      state->done += finished;
    }
  };
  const int64_t helpers = std::min<int64_t>(static_cast<int64_t>(threads_.size()), num_chunks - 1);
  for (int64_t i = 0; i < helpers; ++i) {
    if (!Schedule(run_chunks).ok()) break;  // shut down: the caller does the rest
  }
  run_chunks();
  absl::MutexLock lock(&state->mu);
  state->mu.Await(absl::Condition(state.get(), &State::AllDone));
}

}  // namespace braid::runtime
