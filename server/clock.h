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

/* The hub clock the job engine schedules by: wall-clock milliseconds plus an offset that tests may set
 * (--test-clock enables PUT /devicehub/clock), so windows and start times can be exercised without
 * waiting. Thread-safe. */
int64_t clock_hub_ms(void);
void clock_set_hub_offset_ms(int64_t offset);
int64_t clock_hub_offset_ms(void);

/* Parses ISO 8601 UTC "YYYY-MM-DDTHH:MM:SS[.fff][Z|+00:00]" into Unix milliseconds. 0 or -1. */
int clock_parse_iso(const char *text, int64_t *ms);
/* Unix milliseconds as ISO 8601 with milliseconds and Z. */
void clock_iso_from_ms(int64_t ms, char out[CLOCK_ISO_LEN]);

#endif
