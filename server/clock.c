/* clock: time formatting. Includes nothing of the server. */
#include "clock.h"

#include <stdio.h>
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
