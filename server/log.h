/* log: leveled log lines on stderr, one line per event. Leaf module. */
#ifndef DH_LOG_H
#define DH_LOG_H

typedef enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

/* Sets the threshold; lines below it are dropped. */
void log_set_level(log_level level);
/* Parses "debug" | "info" | "warn" | "error". Returns 0, or -1 if name is none of them. */
int log_level_parse(const char *name, log_level *out);

void log_write(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_write(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_write(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_write(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)

#endif
