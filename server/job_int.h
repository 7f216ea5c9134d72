/* job internals shared by job.c and job_engine.c. Not for other modules. */
#ifndef DH_JOB_INT_H
#define DH_JOB_INT_H

#include "store.h"
#include "store_job.h"

#include <jansson.h>

/* The JobResponse of j (new reference); reads counts in the caller's transaction. */
json_t *job__render(store *s, const store_job *j);
/* Wakes the engine (a job was created or changed). */
void job__wake(void);
/* Publishes job.progress for j with counts c (events.md): jobId, jobType, status, deviceJobStatistics, and
 * for a rollout rollout:true, currentPhase, paused, awaitingApproval. */
void job__publish_progress(const store_job *j, const store_job_counts *c);

#endif
