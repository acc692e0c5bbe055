// The thread pool: the calling thread works too. Tasks are taken from an atomic counter, so a
// worker that wakes late (its core busy with another program) simply finds fewer tasks left.
//
// Between jobs a worker first spins for a bounded time (spin_ns, kernels.DefaultSpin), watching for the
// next job, and then sleeps on a condition variable. The layers of one Invoke follow each
// other within tens to hundreds of microseconds, and waking a sleeping thread costs 50-80 µs on
// a virtual machine (the halted vCPU must be woken by the host), a large part of a 0.1-0.35 ms
// layer; a worker that spins is there at once. After the last layer it spins the bound out
// once and sleeps: an idle process does not spin. While spinning it yields its core to any
// other runnable thread (sched_yield), and spins that find themselves preempted in a row stop
// all spinning for a while (spin_ended), so on a busy machine the pool sleeps as before rather
// than taking turns from the thread doing the work. The caller waits for the workers' last
// tasks the same way.
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "kernels.h"

typedef struct {
  kn_pool* pool;
  int index;  // 1..threads-1; the caller is 0
  pthread_t thread;
} kn_worker;

struct kn_pool {
  int threads;  // including the caller
  long spin_ns;
  kn_worker* workers;
  pthread_mutex_t mu;
  pthread_cond_t wake;  // a new job (or stop)
  pthread_cond_t done;  // the job's last task finished, or a worker left it
  // The current job, written under mu while no worker holds it (busy == 0); generation is
  // incremented last (release), so a spinning worker that sees it change finds the job.
  atomic_uint_fast64_t generation;
  void (*fn)(void*, int, int);
  void* arg;
  int tasks;
  atomic_int next;
  atomic_int finished;
  atomic_long calm_after;  // no spinning before this time (now_ns): the cores were contended
  atomic_int contention;   // see spin_ended
  int busy;                // workers between taking the job and leaving it
  int sleeping;  // workers waiting on wake
  atomic_int stop;
};

static long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

// A spin that loses its core for long was preempted: a poll of the counter KN_LATE_POLL_NS
// late, or a sched_yield that let other threads run KN_LATE_YIELD_NS. One such spin means
// little: on a quiet virtual machine a yield often gives the core to another thread for
// 30-120 µs, now and then for 2-4 ms, and a first rule that
// stopped all spinning at the first yield that lasted 30 µs kept the pool from spinning nearly
// all the time (BENCHMARKS.md, "The spin that never ran"). Preempted spins in a row mean the
// machine has more runnable threads than cores: then nobody in the pool spins for
// KN_CALM_NS, since a spinning thread would only take turns from the one doing the work
// (measured under load: BENCHMARKS.md, "The worker's wake-up").
#define KN_LATE_POLL_NS 30000L
#define KN_LATE_YIELD_NS 250000L
#define KN_CALM_NS 100000000L
// The contention score, in 1/256: each spin moves it an eighth of the way to 256 when it was
// preempted and to 0 when it was not; at KN_CONTENDED (three preempted spins in a row from 0)
// the pool calms. After a calm the score is still high, so one more preempted spin calms it
// again: under steady load the pool tries about one spin per KN_CALM_NS.
#define KN_CONTENDED 85

// Returns 1 when the pool calms.
static int spin_ended(kn_pool* p, int preempted, long at) {
  int s = atomic_load_explicit(&p->contention, memory_order_relaxed);
  s = preempted ? s + (256 - s + 7) / 8 : s - (s + 7) / 8;
  atomic_store_explicit(&p->contention, s, memory_order_relaxed);
  if (!preempted || s < KN_CONTENDED) return 0;
  atomic_store_explicit(&p->calm_after, at + KN_CALM_NS, memory_order_relaxed);
  return 1;
}

// Spins until ready(p, arg) (or the pool stops) and returns 1, or returns 0 when the bound
// passes or the core is contended. The first microseconds only pause; then each round yields
// the core to any other runnable thread.
static int spin_until(kn_pool* p, int (*ready)(kn_pool*, long), long arg) {
  if (p->spin_ns <= 0) return 0;
  const long start = now_ns();
  if (start < atomic_load_explicit(&p->calm_after, memory_order_relaxed)) return 0;
  long last = start;
  for (;;) {
    for (int i = 0; i < 32; i++) {
      if (ready(p, arg)) {
        spin_ended(p, 0, last);
        return 1;
      }
      cpu_relax();
    }
    long t = now_ns();
    if (t - last > KN_LATE_POLL_NS) break;
    if (t - start > p->spin_ns) {
      spin_ended(p, 0, t);
      return 0;
    }
    if (t - start > 5000) {
      sched_yield();
      const long y = now_ns();
      if (y - t > KN_LATE_YIELD_NS) break;
      t = y;
    }
    last = t;
  }
  spin_ended(p, 1, last);
  return 0;
}

static int new_job(kn_pool* p, long seen) {
  return atomic_load_explicit(&p->generation, memory_order_acquire) != (uint64_t)seen ||
         atomic_load_explicit(&p->stop, memory_order_relaxed);
}

static int all_finished(kn_pool* p, long tasks) {
  return atomic_load_explicit(&p->finished, memory_order_acquire) == tasks;
}

static void* worker_main(void* w_) {
  const kn_worker* w = w_;
  kn_pool* p = w->pool;
  uint64_t seen = 0;
  for (;;) {
    spin_until(p, new_job, (long)seen);
    pthread_mutex_lock(&p->mu);
    while (atomic_load(&p->generation) == seen && !atomic_load(&p->stop)) {
      p->sleeping++;
      pthread_cond_wait(&p->wake, &p->mu);
      p->sleeping--;
    }
    if (atomic_load(&p->stop)) break;
    seen = atomic_load(&p->generation);
    void (*fn)(void*, int, int) = p->fn;
    void* arg = p->arg;
    const int tasks = p->tasks;
    p->busy++;
    pthread_mutex_unlock(&p->mu);
    int ran_last = 0;
    for (;;) {
      const int t = atomic_fetch_add(&p->next, 1);
      if (t >= tasks) break;
      fn(arg, t, w->index);
      if (atomic_fetch_add(&p->finished, 1) + 1 == tasks) ran_last = 1;
    }
    pthread_mutex_lock(&p->mu);
    p->busy--;
    if (ran_last || p->busy == 0) pthread_cond_broadcast(&p->done);
    pthread_mutex_unlock(&p->mu);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

kn_pool* kn_pool_create(int threads, long spin_ns) {
  if (threads < 1) threads = 1;
  kn_pool* p = calloc(1, sizeof *p);
  if (p == NULL) return NULL;
  p->threads = threads;
  p->spin_ns = spin_ns;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->wake, NULL);
  pthread_cond_init(&p->done, NULL);
  if (threads > 1) {
    p->workers = calloc((size_t)threads - 1, sizeof(kn_worker));
    if (p->workers == NULL) {
      kn_pool_destroy(p);
      return NULL;
    }
    for (int i = 0; i < threads - 1; i++) {
      p->workers[i].pool = p;
      p->workers[i].index = i + 1;
      if (pthread_create(&p->workers[i].thread, NULL, worker_main, &p->workers[i]) != 0) {
        p->threads = i + 1;  // the workers started so far
        kn_pool_destroy(p);
        return NULL;
      }
    }
  }
  return p;
}

void kn_pool_destroy(kn_pool* p) {
  if (p == NULL) return;
  pthread_mutex_lock(&p->mu);
  atomic_store(&p->stop, 1);
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->mu);
  for (int i = 0; i < p->threads - 1 && p->workers != NULL; i++) pthread_join(p->workers[i].thread, NULL);
  free(p->workers);
  pthread_cond_destroy(&p->wake);
  pthread_cond_destroy(&p->done);
  pthread_mutex_destroy(&p->mu);
  free(p);
}

int kn_pool_threads(const kn_pool* p) { return p == NULL ? 1 : p->threads; }

int kn_pool_sleeping(kn_pool* p) {
  if (p == NULL) return 0;
  pthread_mutex_lock(&p->mu);
  const int n = p->sleeping;
  pthread_mutex_unlock(&p->mu);
  return n;
}

void kn_pool_run(kn_pool* p, void (*fn)(void*, int, int), void* arg, int tasks) {
  if (tasks <= 0) return;
  if (p == NULL || p->threads == 1 || tasks == 1) {
    for (int t = 0; t < tasks; t++) fn(arg, t, 0);
    return;
  }
  pthread_mutex_lock(&p->mu);
  // A worker that took the previous job may still be leaving it: the counters are reset
  // only when none holds the old job.
  while (p->busy > 0) pthread_cond_wait(&p->done, &p->mu);
  p->fn = fn;
  p->arg = arg;
  p->tasks = tasks;
  atomic_store(&p->next, 0);
  atomic_store(&p->finished, 0);
  atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
  if (p->sleeping > 0) pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->mu);
  for (;;) {
    const int t = atomic_fetch_add(&p->next, 1);
    if (t >= tasks) break;
    fn(arg, t, 0);
    atomic_fetch_add(&p->finished, 1);
  }
  if (atomic_load(&p->finished) == tasks || spin_until(p, all_finished, tasks)) return;
  pthread_mutex_lock(&p->mu);
  while (atomic_load(&p->finished) < tasks) pthread_cond_wait(&p->done, &p->mu);
  pthread_mutex_unlock(&p->mu);
}

// ---- for the tests ---------------------------------------------------------------------------

typedef struct {
  atomic_int* runs;  // per task of the job
  atomic_int bad_thread;
  int threads;
} kn_check_job;

static void check_task(void* arg, int t, int thread) {
  kn_check_job* j = arg;
  if (thread < 0 || thread >= j->threads) atomic_store(&j->bad_thread, 1);
  atomic_fetch_add(&j->runs[t], 1);
}

// Runs `jobs` jobs of `tasks` tasks back to back on p and returns how many tasks did not run
// exactly once (or -1 when a task saw a thread index out of range).
int kn_pool_check(kn_pool* p, int jobs, int tasks) {
  atomic_int* runs = calloc((size_t)tasks, sizeof *runs);
  if (runs == NULL) return tasks;
  kn_check_job j = {.runs = runs, .threads = kn_pool_threads(p)};
  int wrong = 0;
  for (int n = 0; n < jobs; n++) {
    for (int t = 0; t < tasks; t++) atomic_store(&runs[t], 0);
    kn_pool_run(p, check_task, &j, tasks);
    for (int t = 0; t < tasks; t++) wrong += atomic_load(&runs[t]) != 1;
  }
  free(runs);
  return atomic_load(&j.bad_thread) ? -1 : wrong;
}

int kn_pool_calm_check(kn_pool* p, const int* preempted, int n, int* calm) {
  const long now = now_ns();
  int calms = 0;
  for (int i = 0; i < n; i++) {
    calm[i] = spin_ended(p, preempted[i], now);
    calms += calm[i];
  }
  return calms;
}

