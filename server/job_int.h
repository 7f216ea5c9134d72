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

#endif
