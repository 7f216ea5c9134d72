/* log: one line per event on stderr with an ISO time and level. Includes nothing of the server. */
#include "log.h"

#include "clock.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static log_level log_threshold = LOG_INFO;
static const char *const log_names[] = {"debug", "info", "warn", "error"};

void log_set_level(log_level level)
{
	log_threshold = level;
}

int log_level_parse(const char *name, log_level *out)
{
	for (int i = 0; i < 4; i++) {
		if (strcmp(name, log_names[i]) == 0) {
			*out = (log_level)i;
			return 0;
		}
	}
	return -1;
}

void log_write(log_level level, const char *fmt, ...)
{
	char line[1024];
	char now[CLOCK_ISO_LEN];
	va_list ap;

	if (level < log_threshold)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	clock_iso_now(now);
	/* One fprintf per line keeps lines from different threads whole. */
	fprintf(stderr, "%s %-5s %s\n", now, log_names[level], line);
}
