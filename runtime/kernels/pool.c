// The blocking thread pool: the calling thread works too, and workers sleep on a condition
// variable between jobs. Tasks are taken from an atomic counter, so a worker that wakes late
// (its core busy with another program) simply finds fewer tasks left.
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "kernels.h"

typedef struct {
  kn_pool* pool;
  int index;  // 1..threads-1; the caller is 0
  pthread_t thread;
} kn_worker;

struct kn_pool {
  int threads;  // including the caller
  kn_worker* workers;
  pthread_mutex_t mu;
  pthread_cond_t wake;  // a new job (or stop)
  pthread_cond_t done;  // the job's last task finished, or a worker left it
  // The current job, written under mu while no worker holds it (busy == 0).
  uint64_t generation;
  void (*fn)(void*, int, int);
  void* arg;
  int tasks;
  atomic_int next;
  atomic_int finished;
  int busy;  // workers between taking the job and leaving it
  int stop;
};

static void* worker_main(void* w_) {
  const kn_worker* w = w_;
  kn_pool* p = w->pool;
  uint64_t seen = 0;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    while (p->generation == seen && !p->stop) pthread_cond_wait(&p->wake, &p->mu);
    if (p->stop) break;
    seen = p->generation;
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
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

kn_pool* kn_pool_create(int threads) {
  if (threads < 1) threads = 1;
  kn_pool* p = calloc(1, sizeof *p);
  if (p == NULL) return NULL;
  p->threads = threads;
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
  p->stop = 1;
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

void kn_pool_run(kn_pool* p, void (*fn)(void*, int, int), void* arg, int tasks) {
  if (tasks <= 0) return;
  if (p == NULL || p->threads == 1 || tasks == 1) {
    for (int t = 0; t < tasks; t++) fn(arg, t, 0);
    return;
  }
  pthread_mutex_lock(&p->mu);
  // A worker that woke for the previous job may still be leaving it: the counters are reset
  // only when none holds the old job.
  while (p->busy > 0) pthread_cond_wait(&p->done, &p->mu);
  p->fn = fn;
  p->arg = arg;
  p->tasks = tasks;
  atomic_store(&p->next, 0);
  atomic_store(&p->finished, 0);
  p->generation++;
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->mu);
  for (;;) {
    const int t = atomic_fetch_add(&p->next, 1);
    if (t >= tasks) break;
    fn(arg, t, 0);
    atomic_fetch_add(&p->finished, 1);
  }
  if (atomic_load(&p->finished) == tasks) return;
  pthread_mutex_lock(&p->mu);
  while (atomic_load(&p->finished) < tasks) pthread_cond_wait(&p->done, &p->mu);
  pthread_mutex_unlock(&p->mu);
}
