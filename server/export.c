/*
 * export: renders the export cursor's devices into JSON lines on demand. Owns the cursor and a buffer
 * of at most one device's line beyond what the reader asked for.
 */
#include "export.h"

#include "buf.h"
#include "err.h"
#include "store_import.h"
#include "twin.h"

#include <stdlib.h>
#include <string.h>

struct export_stream {
	store_export *cursor;
	int with_keys;
	buf pending; /* rendered bytes not yet read */
	size_t sent; /* bytes of pending already read */
	int done;
};

int export_open(int with_keys, export_stream **out)
{
	export_stream *x = xcalloc(1, sizeof(*x));
	int rc;

	*out = NULL;
	buf_init(&x->pending);
	x->with_keys = with_keys;
	if ((rc = store_export_begin(&x->cursor)) != 0) {
		free(x);
		return rc;
	}
	*out = x;
	return 0;
}

static json_t *render_auth(const store_identity *id, int with_keys)
{
	json_t *auth = json_pack("{s:s}", "type", id->auth_type);

	if (with_keys && (id->primary_key[0] || id->secondary_key[0]))
		json_object_set_new(
		    auth, "symmetricKey",
		    json_pack("{s:s, s:s}", "primaryKey", id->primary_key, "secondaryKey", id->secondary_key));
	if (id->primary_thumbprint[0] || id->secondary_thumbprint[0])
		json_object_set_new(auth, "x509Thumbprint",
				    json_pack("{s:s?, s:s?}", "primaryThumbprint",
					      id->primary_thumbprint[0] ? id->primary_thumbprint : NULL,
					      "secondaryThumbprint",
					      id->secondary_thumbprint[0] ? id->secondary_thumbprint : NULL));
	return auth;
}

json_t *export_render(const store_identity *id, const store_twin *tw, int with_keys)
{
	char etag[32], twin_etag[32];

	return json_pack("{s:s, s:s, s:s, s:s?, s:o, s:{s:b}, s:s, s:O*, s:{s:O*, s:O*}}", "id", id->device_id, "eTag",
			 twin_identity_etag_text(id->etag, etag), "status", id->enabled ? "enabled" : "disabled",
			 "statusReason", id->status_reason[0] ? id->status_reason : NULL, "authentication",
			 render_auth(id, with_keys), "capabilities", "iotEdge", id->iot_edge, "twinETag",
			 twin_etag_text(tw->etag, twin_etag), "tags", tw->tags, "properties", "desired", tw->desired,
			 "reported", tw->reported);
}

/* Renders the next device into pending. Returns 1, 0 at the end, or an error. */
static int fill(export_stream *x)
{
	store_identity id;
	store_twin tw = {0};
	json_t *o;
	char *text;
	int rc = store_export_next(x->cursor, &id, &tw);

	if (rc <= 0)
		return rc;
	o = export_render(&id, &tw, x->with_keys);
	text = json_dumps(o, JSON_COMPACT);
	buf_puts(&x->pending, text);
	buf_putc(&x->pending, '\n');
	free(text);
	json_decref(o);
	store_twin_release(&tw);
	return 1;
}

ssize_t export_read(export_stream *x, char *dst, size_t max)
{
	size_t n = 0;
	int rc;

	while (n < max) {
		if (x->sent == x->pending.len) {
			buf_release(&x->pending);
			x->sent = 0;
			if (x->done)
				break;
			if ((rc = fill(x)) < 0)
				return rc;
			if (rc == 0) {
				x->done = 1;
				break;
			}
		}
		size_t take = x->pending.len - x->sent < max - n ? x->pending.len - x->sent : max - n;
		memcpy(dst + n, x->pending.data + x->sent, take);
		x->sent += take;
		n += take;
	}
	return (ssize_t)n;
}

void export_close(export_stream *x)
{
	if (!x)
		return;
	store_export_end(x->cursor);
	buf_release(&x->pending);
	free(x);
}
