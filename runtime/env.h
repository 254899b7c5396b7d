// Env: the one door from braid to the operating system's clock, sleep and
// files (LevelDB-style), so tests can inject a fake clock and faults instead
// of sleeping.
//
//   Env* env = Env::Default();                        // the real OS
//   absl::Time deadline = DeadlineFromTimeout(absl::Seconds(5), *env);
//   while (!done) {
//     if (TimeLeft(deadline, *env) == absl::ZeroDuration()) return Timeout();
//     env->SleepFor(absl::Milliseconds(1));
//   }
//
// Clocks. `NowMonotonic()` is the clock every braid deadline is measured on.
// In the real Env it is absl::Now(): deadlines built from it are directly
// comparable with absl::Mutex::AwaitWithDeadline / absl::CondVar and with the
// `absl::Now() + timeout` deadlines that DECISIONS.md prescribes. absl::Now()
// is derived from CLOCK_REALTIME smoothed by the cycle counter, so a large
// wall-clock step (NTP, settimeofday) moves it; that is the price of one clock
// for all deadlines. Interval measurements that must be immune to clock steps
// (trace timestamps, benchmarks) use `MonotonicNanos()` (CLOCK_MONOTONIC,
// comparable across processes on one host, not across hosts).
//
// Ownership: Env::Default() is a process-wide, immutable, stateless object;
// never delete it. Other Envs (FakeClockEnv) are owned by the test that made
// them and must outlive every object they were passed to.
//
// Thread-safety: every Env method is thread-safe.
#ifndef BRAID_RUNTIME_ENV_H_
#define BRAID_RUNTIME_ENV_H_

#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace braid::runtime {

class Env {
 public:
  virtual ~Env() = default;

  // The real operating system. Never null; never delete it.
  static Env* Default();

  // The deadline clock (see the file comment): absl::Now() in the real Env.
  virtual absl::Time NowMonotonic() = 0;

  // CLOCK_MONOTONIC in nanoseconds (real Env); for intervals and trace
  // timestamps only, never for deadlines.
  virtual int64_t MonotonicNanos() = 0;

  // Blocks the calling thread for `duration` (returns at once when <= 0).
  // A fake clock advances by `duration` instead of blocking.
  virtual void SleepFor(absl::Duration duration) = 0;

  // Creates `path` and any missing parents (like mkdir -p); OK when it exists.
  // Errors: kPermissionDenied / kInvalidArgument / kInternal with errno text.
  virtual absl::Status CreateDirectories(const std::string& path) = 0;

  // Replaces the file at `path` with `contents` (written to a temporary file
  // in the same directory, then renamed, so readers never see half a file).
  virtual absl::Status WriteFileAtomically(const std::string& path,
                                           absl::string_view contents) = 0;

  // The whole file at `path`. kNotFound when it does not exist.
  virtual absl::StatusOr<std::string> ReadFile(const std::string& path) = 0;

  // Sleeps until NowMonotonic() >= deadline (returns at once if it already is).
  void SleepUntil(absl::Time deadline);
};

// A deadline `timeout` from now on `env`'s clock. An infinite timeout gives
// absl::InfiniteFuture(); a negative one gives a deadline in the past.
absl::Time DeadlineFromTimeout(absl::Duration timeout, Env& env = *Env::Default());

// Time left until `deadline` on `env`'s clock; never negative (ZeroDuration
// once it has passed) and absl::InfiniteDuration() for InfiniteFuture().
absl::Duration TimeLeft(absl::Time deadline, Env& env = *Env::Default());

// A manually driven clock for tests. Time starts at `start` and moves only
// through AdvanceBy / SetNow / SleepFor (SleepFor advances the clock by the
// duration and returns at once, so code that sleeps-and-retries runs
// instantly and deterministically). MonotonicNanos() follows the same fake
// time. File operations go to the real file system.
//
// Thread-safety: thread-safe; time never moves backwards (SetNow to an
// earlier time is ignored).
class FakeClockEnv : public Env {
 public:
  explicit FakeClockEnv(absl::Time start = absl::FromUnixSeconds(1'000'000'000))
      : start_(start), now_(start) {}

  absl::Time NowMonotonic() override;
  int64_t MonotonicNanos() override;
  void SleepFor(absl::Duration duration) override;
  absl::Status CreateDirectories(const std::string& path) override;
  absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents) override;
  absl::StatusOr<std::string> ReadFile(const std::string& path) override;

  // Moves the clock forward by `duration` (ignored when negative).
  void AdvanceBy(absl::Duration duration);
  // Moves the clock to `now` if that is later than the current time.
  void SetNow(absl::Time now);
  // Total time passed to SleepFor so far (lets tests check back-off).
  absl::Duration total_slept();

 private:
  const absl::Time start_;
  absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
  absl::Duration slept_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
};

}  // namespace braid::runtime

#endif  // BRAID_RUNTIME_ENV_H_
