/* log: one line per event on stderr, text or JSON. Includes nothing of the server but leaves. */
#include "log.h"

#include "buf.h"
#include "clock.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static atomic_int log_threshold = LOG_INFO;
static atomic_int log_line_format = LOG_FORMAT_TEXT;
static const char *const log_names[] = {"debug", "info", "warn", "error"};
static const char *const log_format_names[] = {"text", "json"};

void log_set_level(log_level level)
{
	atomic_store(&log_threshold, (int)level);
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

void log_set_format(log_format format)
{
	atomic_store(&log_line_format, (int)format);
}

int log_format_parse(const char *name, log_format *out)
{
	for (int i = 0; i < 2; i++) {
		if (strcmp(name, log_format_names[i]) == 0) {
			*out = (log_format)i;
			return 0;
		}
	}
	return -1;
}

int log_enabled(log_level level)
{
	return (int)level >= atomic_load(&log_threshold);
}

/* A JSON string, quotes included. Control characters become \uXXXX; other bytes pass as they are. */
static void put_json_string(buf *out, const char *s)
{
	buf_putc(out, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			buf_printf(out, "\\%c", *p);
		else if (*p == '\n')
			buf_puts(out, "\\n");
		else if (*p < 0x20)
			buf_printf(out, "\\u%04x", *p);
		else
			buf_putc(out, (char)*p);
	}
	buf_putc(out, '"');
}

/* A text field value: bare when it has no space, quote or '=', else quoted like JSON. */
static void put_text_value(buf *out, const char *s)
{
	if (*s && !strpbrk(s, " \t\n\"="))
		buf_puts(out, s);
	else
		put_json_string(out, s);
}

/* Writes one line; fields (name, value pairs ended by NULL) may be NULL. */
static void log_emit(log_level level, const char *msg, va_list *fields)
{
	char now[CLOCK_ISO_LEN];
	int json = atomic_load(&log_line_format) == LOG_FORMAT_JSON;
	const char *name, *value;
	buf line = BUF_INIT;

	clock_iso_now(now);
	if (json) {
		buf_printf(&line, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":", now, log_names[level]);
		put_json_string(&line, msg);
	} else {
		buf_printf(&line, "%s %-5s %s", now, log_names[level], msg);
	}
	while (fields && (name = va_arg(*fields, const char *)) != NULL) {
		value = va_arg(*fields, const char *);
		if (json) {
			buf_putc(&line, ',');
			put_json_string(&line, name);
			buf_putc(&line, ':');
			put_json_string(&line, value ? value : "");
		} else {
			buf_printf(&line, " %s=", name);
			put_text_value(&line, value ? value : "");
		}
	}
	buf_puts(&line, json ? "}\n" : "\n");
	/* One write per line keeps lines from different threads whole (stderr is unbuffered). */
	fwrite(line.data, 1, line.len, stderr);
	buf_release(&line);
}

void log_write(log_level level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_emit(level, msg, NULL);
}

void log_event(log_level level, const char *msg, ...)
{
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, msg);
	log_emit(level, msg, &ap);
	va_end(ap);
}
