/* clock: time formatting. Includes nothing of the server. */
#define _GNU_SOURCE /* strptime, timegm */
#include "clock.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void clock_iso_now(char out[CLOCK_ISO_LEN])
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	/* strftime bounds each field, which snprintf of ints cannot prove to the compiler. */
	size_t n = strftime(out, CLOCK_ISO_LEN, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, CLOCK_ISO_LEN - n, ".%03dZ", (int)(ts.tv_nsec / 1000000) % 1000);
}

int64_t clock_unix_now(void)
{
	return (int64_t)time(NULL);
}

int64_t clock_ticks_now(void)
{
	struct timespec ts;
	/* 621355968000000000 ticks lie between 0001-01-01 and 1970-01-01. */
	const int64_t epoch_ticks = 621355968000000000LL;

	clock_gettime(CLOCK_REALTIME, &ts);
	return epoch_ticks + (int64_t)ts.tv_sec * 10000000LL + ts.tv_nsec / 100;
}

static atomic_llong clock_offset_ms;

int64_t clock_hub_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + atomic_load(&clock_offset_ms);
}

void clock_set_hub_offset_ms(int64_t offset)
{
	atomic_store(&clock_offset_ms, offset);
}

int64_t clock_hub_offset_ms(void)
{
	return atomic_load(&clock_offset_ms);
}

int clock_parse_iso(const char *text, int64_t *ms)
{
	struct tm tm;
	const char *p;
	int frac = 0, digits = 0;

	memset(&tm, 0, sizeof(tm));
	p = text ? strptime(text, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
	if (!p)
		return -1;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, digits++)
			if (digits < 3)
				frac = frac * 10 + (*p - '0');
		while (digits > 0 && digits < 3) {
			frac *= 10;
			digits++;
		}
	}
	/* Only UTC is accepted: the SDKs send toISOString() ("Z"). */
	if (!(*p == '\0' || strcmp(p, "Z") == 0 || strcmp(p, "+00:00") == 0))
		return -1;
	*ms = (int64_t)timegm(&tm) * 1000 + frac;
	return 0;
}

void clock_iso_from_ms(int64_t ms, char out[CLOCK_ISO_LEN])
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	size_t n;

	gmtime_r(&secs, &tm);
	n = strftime(out, CLOCK_ISO_LEN, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, CLOCK_ISO_LEN - n, ".%03dZ", (int)(ms % 1000));
}
