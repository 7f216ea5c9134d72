/*
 * artifact: firmware packages that devices download from the hub. Owns the files under
 * <data-dir>/artifacts/<id> and their metadata rows (store_artifact), and keeps the two in step: a row
 * exists only once its file is complete and synced, a file without a row (a crash mid-upload or
 * mid-delete) is removed at start-up, and no half-written file is ever visible under an artifact's name.
 * Artifacts are immutable: a new package is a new id, so a rollout's hash never goes stale.
 * Never speaks HTTP (the edge parses Range and writes the file out); never holds SQL.
 */
#ifndef DH_ARTIFACT_H
#define DH_ARTIFACT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define ARTIFACT_MAX_BYTES (64u * 1024 * 1024)
#define ARTIFACT_MAX_MODELS 8

/* Makes <data_dir>/artifacts and removes what an interrupted upload or delete left there. Call once after
 * store_global_init, before any other artifact_* call; calling it again (tests) re-points the module.
 * Returns 0 or DH_EIO with a message. */
int artifact_init(const char *data_dir);

/* What an upload says about its package. */
typedef struct artifact_spec {
	const char *id;                 /* NULL or "": the hub makes one (32 hex digits) */
	const char *version;            /* required: 1-128 printable ASCII characters */
	const json_t *compatible_model; /* required: a model name, or an array of 1-8 of them (1-128
					   printable ASCII characters, none of " \ ,) */
	const char *content_type;       /* NULL: application/octet-stream */
} artifact_spec;

/* Stores data[0..len) as a new artifact: validates the spec, writes and fsyncs a temporary file, then
 * inserts the row and renames the file into place in one step. Nothing is left behind on failure.
 * OUT: *out the metadata (new reference; see artifact_get). Returns 0, DH_EINVAL, DH_ENULL (empty
 * package), DH_ETOOBIG, DH_EARTEXISTS, DH_EIO. */
int artifact_create(const artifact_spec *spec, const void *data, size_t len, json_t **out);

/* {id, version, compatibleModel, sha256, size, createdTimeUtc, contentType, downloadPath}.
 * OUT: *out a new reference. DH_ENOARTIFACT when there is none. */
int artifact_get(const char *id, json_t **out);

/* Every artifact, oldest first. OUT: *out array (new reference). */
int artifact_list(json_t **out);

/* Removes the row and then the file. Downloads already open keep reading the bytes they started with.
 * DH_ENOARTIFACT when there is none. */
int artifact_delete(const char *id);

/* What a rollout (or a download) needs to know about one artifact. Plain arrays, nothing to free. */
typedef struct artifact_ref {
	char id[129];
	char version[129];
	char download_path[448]; /* "/devicehub/artifacts/<percent-encoded id>/content", on the REST port */
	char sha256[65];         /* lowercase hex */
	uint64_t size;
	char content_type[129];
} artifact_ref;

/* The download path, hash and size of artifact id. OUT: *out. DH_EINVAL / DH_ENOARTIFACT. */
int artifact_ref_get(const char *id, artifact_ref *out);

/* Opens artifact id's file for reading, consistently with its metadata (an upload or delete of the same
 * id cannot come between the two). OUT: *fd (the caller owns it and closes it), *out. DH_EINVAL,
 * DH_ENOARTIFACT, DH_EIO (the file is missing or its size is not the recorded one). */
int artifact_open(const char *id, int *fd, artifact_ref *out);

#endif
