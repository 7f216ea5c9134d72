/*
 * telemetry: device-to-cloud messages as devicehub keeps them: a count, and per device the last
 * TELEMETRY_KEEP messages in memory (for the dashboard and tests; there is no event hub to route to).
 * Nothing is stored on disk, and a restart forgets them. Thread-safe; knows no wire format.
 */
#ifndef DH_TELEMETRY_H
#define DH_TELEMETRY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define TELEMETRY_KEEP 10
#define TELEMETRY_BODY_KEEP (16 * 1024) /* longer bodies are kept cut to this, marked truncated */

/* Records a message from device_id (module_id "" for the device): properties is an object of string
 * values (taken), body the raw bytes (copied, cut to TELEMETRY_BODY_KEEP). */
void telemetry_record(const char *device_id, const char *module_id, json_t *properties, const void *body,
		      size_t len);

/* The device's kept messages, oldest first, as a new JSON array of
 * {enqueuedTime, moduleId?, properties, body, bodyEncoding ("utf-8" or "base64"), size, truncated?}.
 * An unknown device or one that never sent gives []. */
json_t *telemetry_list(const char *device_id);

/* Messages recorded since start. */
uint64_t telemetry_count(void);

/* Forgets everything (tests; shutdown). */
void telemetry_reset(void);

#endif
