/*
 * store_artifact: rows of the artifacts table (firmware packages' metadata; the bytes are files that
 * artifact.c owns). All functions run inside the caller's transaction. Must never touch the files.
 */
#ifndef DH_STORE_ARTIFACT_H
#define DH_STORE_ARTIFACT_H

#include "store.h"

#include <stdint.h>

#define STORE_ARTIFACT_ID_MAX 128
#define STORE_ARTIFACT_TEXT_MAX 128    /* version, content type */
#define STORE_ARTIFACT_MODELS_MAX 1200 /* the compatible models as JSON text */

/* One artifact. Plain arrays: copying is assignment and nothing needs freeing. */
typedef struct store_artifact {
	char id[STORE_ARTIFACT_ID_MAX + 1];
	char version[STORE_ARTIFACT_TEXT_MAX + 1];
	char compatible_model[STORE_ARTIFACT_MODELS_MAX]; /* JSON text: "model" or ["a","b"] */
	char sha256[65];                                  /* lowercase hex */
	int64_t size;
	char content_type[STORE_ARTIFACT_TEXT_MAX + 1];
	char created_time[32];
} store_artifact;

/* Inserts a; DH_EARTEXISTS when the id is taken. */
int store_artifact_insert(store *s, const store_artifact *a);

/* OUT: *out the artifact id. DH_ENOARTIFACT when there is none. */
int store_artifact_get(store *s, const char *id, store_artifact *out);

/* Deletes the row; DH_ENOARTIFACT when there was none. */
int store_artifact_delete(store *s, const char *id);

/* Calls fn for every artifact, oldest first; stops early with fn's non-zero result. */
typedef int (*store_artifact_fn)(const store_artifact *a, void *ctx);
int store_artifact_each(store *s, store_artifact_fn fn, void *ctx);

/* 1 when a row with this id exists, 0 when not, or a negative dh_err. */
int store_artifact_exists(store *s, const char *id);

#endif
