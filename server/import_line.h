/*
 * import_line: parses one line of a bulk import file (JSON lines or CSV) into IoT Hub's import/export
 * device shape ({"id","importMode","eTag","status","authentication":{..},"tags":{..},
 * "properties":{"desired":{..}}}), the object registry_bulk_apply takes. Pure parsing: no store, no
 * registry rules beyond "an entry has an id". Must never touch the database.
 */
#ifndef DH_IMPORT_LINE_H
#define DH_IMPORT_LINE_H

#include <jansson.h>
#include <stddef.h>

/* Bytes one line may hold (a device with 8 KB tags and 32 KB desired fits comfortably). */
#define IMPORT_LINE_MAX (128 * 1024)

/* One JSON-lines line: an object with a string "id" (or "deviceId"). OUT: *out, a new reference.
 * Returns 0, or DH_EINVAL with err_message() saying why. */
int import_line_json(const char *line, size_t len, json_t **out);

/* A CSV file's header row: columns deviceId (or id), importMode, status, eTag, primaryKey,
 * secondaryKey, tags.<path>, desired.<path> (a dotted path makes nested objects). Unknown columns are
 * refused. OUT: *out, owned by the caller (import_csv_free). Returns 0 or DH_EINVAL. */
typedef struct import_csv import_csv;
int import_csv_header(const char *line, size_t len, import_csv **out);
void import_csv_free(import_csv *h);

/* One CSV data row under hdr. Fields are RFC 4180 (double quotes, "" inside them) but cannot span
 * lines. An empty cell leaves its field out; a tags./desired. cell that parses as JSON (number, true,
 * false, null, "text", {..}, [..]) takes that value, anything else is a string. OUT: *out, a new
 * reference. Returns 0 or DH_EINVAL. */
int import_csv_row(const import_csv *hdr, const char *line, size_t len, json_t **out);

#endif
