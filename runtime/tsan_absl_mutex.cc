// ThreadSanitizer support for Debian's prebuilt Abseil (TSan builds only).
//
// Debian's libabsl_synchronization is not built with -fsanitize=thread, so
// TSan cannot see that absl::Mutex orders memory: every access guarded by an
// absl::Mutex (or absl::CondVar / absl::Notification, which use it) is
// reported as a data race. This file interposes the out-of-line absl::Mutex
// and absl::CondVar entry points (the test binary's definitions win over the
// shared library's, also for the library's own PLT calls): each wrapper
// calls the real function, found with dlsym(RTLD_NEXT), and tells TSan about
// the happens-before edge with __tsan_release before unlocking and
// __tsan_acquire after locking. Reader locks are treated as writer locks
// (TSan may then miss a race between two readers, never invent one).
//
// CMake compiles this file into braid_runtime only when BRAID_SANITIZE
// contains "thread"; without TSan it compiles to nothing. Remove it if braid
// ever builds against an Abseil compiled with TSan.
#if defined(__SANITIZE_THREAD__)
#define BRAID_TSAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define BRAID_TSAN_BUILD 1
#endif
#endif

#ifdef BRAID_TSAN_BUILD

#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/base/options.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

#if !ABSL_OPTION_USE_INLINE_NAMESPACE
#error "tsan_absl_mutex.cc expects Abseil with an inline namespace (as Debian builds it)"
#endif

namespace {

#define BRAID_STR2(x) #x
#define BRAID_STR(x) BRAID_STR2(x)

// "_ZN4absl" + <len><inline namespace> + suffix: the mangled name of an
// absl::<inline ns>::<suffix> symbol.
std::string Mangled(const char* suffix) {
  const std::string ns = BRAID_STR(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  return "_ZN4absl" + std::to_string(ns.size()) + ns + suffix;
}

template <typename Fn>
Fn Real(const char* suffix) {
  void* sym = dlsym(RTLD_NEXT, Mangled(suffix).c_str());
  if (sym == nullptr) {
    std::fprintf(stderr, "tsan_absl_mutex: cannot find %s in the Abseil library\n",
                 Mangled(suffix).c_str());
    std::abort();
  }
  return reinterpret_cast<Fn>(sym);
}

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN
namespace {

// absl evaluates a waiter's Condition with the mutex held, but on whichever
// thread holds it (often the unlocking one, inside the library). Wrapping
// the condition so each evaluation is bracketed by acquire/release orders
// those reads with the mutex's other critical sections.
struct AnnotatedCondition {
  const Condition* inner;
  Mutex* mu;
  static bool Eval(AnnotatedCondition* c) {
    __tsan_acquire(c->mu);
    const bool result = c->inner->Eval();
    __tsan_release(c->mu);
    return result;
  }
};

}  // namespace
ABSL_NAMESPACE_END
}  // namespace absl

namespace absl {
ABSL_NAMESPACE_BEGIN

using MutexFn = void (*)(Mutex*);
using MutexBoolFn = bool (*)(Mutex*);
using MutexCondFn = void (*)(Mutex*, const Condition&);
using MutexCondBoolFn = bool (*)(Mutex*, const Condition&);
using MutexCondDurFn = bool (*)(Mutex*, const Condition&, Duration);
using MutexCondTimeFn = bool (*)(Mutex*, const Condition&, Time);

void Mutex::Lock() {
  static const MutexFn real = Real<MutexFn>("5Mutex4LockEv");
  real(this);
  __tsan_acquire(this);
}

void Mutex::Unlock() {
  static const MutexFn real = Real<MutexFn>("5Mutex6UnlockEv");
  __tsan_release(this);
  real(this);
}

bool Mutex::TryLock() {
  static const MutexBoolFn real = Real<MutexBoolFn>("5Mutex7TryLockEv");
  const bool locked = real(this);
  if (locked) __tsan_acquire(this);
  return locked;
}

void Mutex::ReaderLock() {
  static const MutexFn real = Real<MutexFn>("5Mutex10ReaderLockEv");
  real(this);
  __tsan_acquire(this);
}

void Mutex::ReaderUnlock() {
  static const MutexFn real = Real<MutexFn>("5Mutex12ReaderUnlockEv");
  __tsan_release(this);
  real(this);
}

bool Mutex::ReaderTryLock() {
  static const MutexBoolFn real = Real<MutexBoolFn>("5Mutex13ReaderTryLockEv");
  const bool locked = real(this);
  if (locked) __tsan_acquire(this);
  return locked;
}

void Mutex::LockWhen(const Condition& cond) {
  static const MutexCondFn real = Real<MutexCondFn>("5Mutex8LockWhenERKNS0_9ConditionE");
  AnnotatedCondition ac{&cond, this};
  real(this, Condition(&AnnotatedCondition::Eval, &ac));
  __tsan_acquire(this);
}

void Mutex::ReaderLockWhen(const Condition& cond) {
  static const MutexCondFn real = Real<MutexCondFn>("5Mutex14ReaderLockWhenERKNS0_9ConditionE");
  AnnotatedCondition ac{&cond, this};
  real(this, Condition(&AnnotatedCondition::Eval, &ac));
  __tsan_acquire(this);
}

bool Mutex::LockWhenWithTimeout(const Condition& cond, Duration timeout) {
  static const MutexCondDurFn real =
      Real<MutexCondDurFn>("5Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  AnnotatedCondition ac{&cond, this};
  const bool met = real(this, Condition(&AnnotatedCondition::Eval, &ac), timeout);
  __tsan_acquire(this);  // held whether or not the condition became true
  return met;
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, Time deadline) {
  static const MutexCondTimeFn real =
      Real<MutexCondTimeFn>("5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  AnnotatedCondition ac{&cond, this};
  const bool met = real(this, Condition(&AnnotatedCondition::Eval, &ac), deadline);
  __tsan_acquire(this);
  return met;
}

bool Mutex::ReaderLockWhenWithTimeout(const Condition& cond, Duration timeout) {
  static const MutexCondDurFn real = Real<MutexCondDurFn>(
      "5Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  AnnotatedCondition ac{&cond, this};
  const bool met = real(this, Condition(&AnnotatedCondition::Eval, &ac), timeout);
  __tsan_acquire(this);
  return met;
}

bool Mutex::ReaderLockWhenWithDeadline(const Condition& cond, Time deadline) {
  static const MutexCondTimeFn real = Real<MutexCondTimeFn>(
      "5Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  AnnotatedCondition ac{&cond, this};
  const bool met = real(this, Condition(&AnnotatedCondition::Eval, &ac), deadline);
  __tsan_acquire(this);
  return met;
}

void Mutex::Await(const Condition& cond) {
  static const MutexCondFn real = Real<MutexCondFn>("5Mutex5AwaitERKNS0_9ConditionE");
  AnnotatedCondition ac{&cond, this};
  __tsan_release(this);  // the mutex is released while waiting
  real(this, Condition(&AnnotatedCondition::Eval, &ac));
  __tsan_acquire(this);
}

bool Mutex::AwaitWithTimeout(const Condition& cond, Duration timeout) {
  static const MutexCondDurFn real =
      Real<MutexCondDurFn>("5Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  AnnotatedCondition ac{&cond, this};
  __tsan_release(this);
  const bool met = real(this, Condition(&AnnotatedCondition::Eval, &ac), timeout);
  __tsan_acquire(this);
  return met;
}

bool Mutex::AwaitWithDeadline(const Condition& cond, Time deadline) {
  static const MutexCondTimeFn real =
      Real<MutexCondTimeFn>("5Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  AnnotatedCondition ac{&cond, this};
  __tsan_release(this);
  const bool met = real(this, Condition(&AnnotatedCondition::Eval, &ac), deadline);
  __tsan_acquire(this);
  return met;
}

using CondVarWaitFn = void (*)(CondVar*, Mutex*);
using CondVarDurFn = bool (*)(CondVar*, Mutex*, Duration);
using CondVarTimeFn = bool (*)(CondVar*, Mutex*, Time);

void CondVar::Wait(Mutex* mu) {
  static const CondVarWaitFn real = Real<CondVarWaitFn>("7CondVar4WaitEPNS0_5MutexE");
  __tsan_release(mu);
  real(this, mu);
  __tsan_acquire(mu);
}

bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  static const CondVarDurFn real =
      Real<CondVarDurFn>("7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  __tsan_release(mu);
  const bool timed_out = real(this, mu, timeout);
  __tsan_acquire(mu);
  return timed_out;
}

bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) {
  static const CondVarTimeFn real =
      Real<CondVarTimeFn>("7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  __tsan_release(mu);
  const bool timed_out = real(this, mu, deadline);
  __tsan_acquire(mu);
  return timed_out;
}

ABSL_NAMESPACE_END
}  // namespace absl

#endif  // BRAID_TSAN_BUILD
