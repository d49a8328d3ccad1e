// A mutex that lives in a file mapped by several processes and survives a holder's death: the
// slice segment and the compute arbitration segment both guard their tables with one.
#pragma once

#include <pthread.h>

#include <cerrno>

namespace xpool::runtime {

// Initialises `mu` (in shared memory) as process-shared and robust.
inline void InitSharedRobustMutex(pthread_mutex_t* mu) {
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_init(mu, &attr);
  pthread_mutexattr_destroy(&attr);
}

// Locks `mu`; when its holder died holding it, marks it consistent and carries on (callers keep
// their tables meaningful whatever a dead holder left half-done). Returns pthread_mutex_lock's
// error otherwise.
inline int LockSharedRobustMutex(pthread_mutex_t* mu) {
  const int rc = pthread_mutex_lock(mu);
  if (rc == EOWNERDEAD) {
    pthread_mutex_consistent(mu);
    return 0;
  }
  return rc;
}

}  // namespace xpool::runtime
