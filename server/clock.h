/* clock: wall-clock time in the forms IoT Hub uses. Leaf module. */
#ifndef DH_CLOCK_H
#define DH_CLOCK_H

#include <stdint.h>

#define CLOCK_ISO_LEN 32
#define CLOCK_NEVER "0001-01-01T00:00:00Z"

/* Now as ISO 8601 with milliseconds and Z, e.g. 2026-11-26T14:00:00.123Z, into out[CLOCK_ISO_LEN]. */
void clock_iso_now(char out[CLOCK_ISO_LEN]);

/* Seconds since the Unix epoch. */
int64_t clock_unix_now(void);

/* 100-ns ticks since 0001-01-01 (the form of IoT Hub's generationId). */
int64_t clock_ticks_now(void);

#endif
