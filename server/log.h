/* log: leveled log lines on stderr, one line per event, as text or as JSON objects. Leaf module. */
#ifndef DH_LOG_H
#define DH_LOG_H

typedef enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

/* text: `TIME LEVEL message key=value ...`; json: {"time","level","msg", then the event's fields}. */
typedef enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON } log_format;

/* Sets the threshold; lines below it are dropped. Atomic: any thread, any time (SIGHUP reloads it). */
void log_set_level(log_level level);
/* Parses "debug" | "info" | "warn" | "error". Returns 0, or -1 if name is none of them. */
int log_level_parse(const char *name, log_level *out);

/* Sets the line format. Atomic like log_set_level. */
void log_set_format(log_format format);
/* Parses "text" | "json". Returns 0, or -1 if name is neither. */
int log_format_parse(const char *name, log_format *out);

/* 1 when a line of this level would be written (to skip building costly fields). */
int log_enabled(log_level level);

void log_write(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A structured event: msg, then pairs of field name and string value, ended by NULL, e.g.
 *   log_event(LOG_INFO, "request", "route", "/twins/{}", "status", "200", (char *)NULL);
 * In JSON the fields become members beside time, level and msg; in text they follow as key=value. */
void log_event(log_level level, const char *msg, ...) __attribute__((sentinel));

#define log_debug(...) log_write(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_write(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_write(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)

#endif
