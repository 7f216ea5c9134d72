/*
 * sqlite_baseline: what raw SQLite does on this machine with rows shaped like devicehub's `identities`
 * table (migrations/001_initial.sql), so bench/run.sh can report every devicehubd figure as a ratio
 * against a baseline measured in the same run. Standalone on purpose: it links only -lsqlite3 and
 * includes nothing of the server.
 *
 *   sqlite_baseline DB_PATH N [SECONDS_PER_PHASE]
 *
 * Creates DB_PATH (must not exist), then prints one "key value" line per figure on stdout:
 *   insert_rows_per_s      N rows in key order, 10,000 per transaction
 *   pk_read_per_s          SELECT by INTEGER PRIMARY KEY, random rows, one connection
 *   key_read_per_s         SELECT * by (device_id, module_id) (the lookup GET /twins does), one connection
 *   key_read2_per_s        the same on two threads, one connection each (devicehubd runs two)
 *   update_per_s           json_set on `desired`, one row per transaction (WAL, synchronous=NORMAL)
 *   count_scan_ms          COUNT over json_extract(tags,'$.region') = 'r3', no index (median)
 *   count_index1_ms        the same with an index on that expression alone (median)
 *   count_index_ms         the same with the index devicehubd makes: (expression, module_id) (median)
 *   group_ms               GROUP BY json_extract(tags,'$.floor') without an index (median)
 * Pragmas are the ones devicehubd sets at open (server/store.c), so the ratio measures the server's
 * own overhead rather than a configuration difference.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH 10000
#define REGIONS 10
#define FLOORS 50

static const char *db_path;
static long n_rows;
static double phase_seconds = 3.0;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(sqlite3 *db, const char *what)
{
	fprintf(stderr, "sqlite_baseline: %s: %s\n", what, db ? sqlite3_errmsg(db) : "?");
	exit(1);
}

static void exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "sqlite_baseline: %s: %s\n", sql, msg ? msg : "?");
		exit(1);
	}
}

static sqlite3_stmt *prepare(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		die(db, sql);
	return st;
}

static sqlite3 *open_db(void)
{
	sqlite3 *db = NULL;

	if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK)
		die(db, "open");
	sqlite3_busy_timeout(db, 5000);
	exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA temp_store=MEMORY;"
		 " PRAGMA cache_size=-65536; PRAGMA mmap_size=1073741824;");
	return db;
}

/* xorshift64*: cheap, per-thread, good enough to pick rows. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static const char schema[] =
	"CREATE TABLE identities ("
	" id INTEGER PRIMARY KEY, device_id TEXT NOT NULL, module_id TEXT NOT NULL DEFAULT '',"
	" generation_id TEXT NOT NULL, etag INTEGER NOT NULL, status TEXT NOT NULL DEFAULT 'enabled',"
	" status_reason TEXT, status_updated_time TEXT NOT NULL,"
	" connection_state TEXT NOT NULL DEFAULT 'Disconnected', connection_state_updated_time TEXT NOT NULL,"
	" last_activity_time TEXT NOT NULL, c2d_count INTEGER NOT NULL DEFAULT 0,"
	" auth_type TEXT NOT NULL DEFAULT 'sas', primary_key TEXT, secondary_key TEXT, primary_thumbprint TEXT,"
	" secondary_thumbprint TEXT, iot_edge INTEGER NOT NULL DEFAULT 0, device_scope TEXT, managed_by TEXT,"
	" model_id TEXT NOT NULL DEFAULT '', twin_version INTEGER NOT NULL, twin_etag INTEGER NOT NULL,"
	" tags TEXT NOT NULL DEFAULT '{}', desired TEXT NOT NULL DEFAULT '{}', desired_meta TEXT NOT NULL DEFAULT '{}',"
	" desired_version INTEGER NOT NULL DEFAULT 1, reported TEXT NOT NULL DEFAULT '{}',"
	" reported_meta TEXT NOT NULL DEFAULT '{}', reported_version INTEGER NOT NULL DEFAULT 1,"
	" UNIQUE (device_id, module_id));"
	"CREATE INDEX identities_kind_status ON identities (module_id, status, connection_state);";

/* Same id spelling as bench/bulk_load.c, so both sides hold the same keys. */
static void device_id(long i, char *out, size_t n)
{
	snprintf(out, n, "bench-%07ld", i);
}

static void phase_insert(void)
{
	sqlite3 *db = open_db();
	sqlite3_stmt *st;
	char id[32], tags[64];
	const char *now = "2024-01-01T00:00:00.0000000Z";
	const char *meta = "{\"$lastUpdated\":\"2024-01-01T00:00:00.0000000Z\"}";
	const char *key = "Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyMDE=";
	double t0;

	exec(db, schema);
	st = prepare(db, "INSERT INTO identities (device_id, module_id, generation_id, etag, status,"
			 " status_updated_time, connection_state, connection_state_updated_time, last_activity_time,"
			 " auth_type, primary_key, secondary_key, model_id, twin_version, twin_etag, tags, desired,"
			 " desired_meta, reported, reported_meta)"
			 " VALUES (?1,'',?2,1,'enabled',?3,'Disconnected',?3,?3,'sas',?4,?4,'',2,2,?5,'{}',?6,'{}',?6)");
	t0 = now_s();
	for (long i = 0; i < n_rows; i++) {
		if (i % BATCH == 0)
			exec(db, "BEGIN");
		device_id(i, id, sizeof(id));
		snprintf(tags, sizeof(tags), "{\"region\":\"r%ld\",\"floor\":%ld}", i % REGIONS, (i / REGIONS) % FLOORS);
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, "638400000000000000", -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, key, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, tags, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, meta, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			die(db, "insert");
		sqlite3_reset(st);
		if (i % BATCH == BATCH - 1 || i == n_rows - 1)
			exec(db, "COMMIT");
	}
	printf("insert_rows_per_s %.0f\n", (double)n_rows / (now_s() - t0));
	fflush(stdout);
	sqlite3_finalize(st);
	exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
	sqlite3_close(db);
}

typedef struct reader {
	int by_key;            /* 0: INTEGER PRIMARY KEY; 1: (device_id, module_id) with every column */
	uint64_t seed;
	long done;
	double seconds;
} reader;

static void *read_loop(void *arg)
{
	reader *r = arg;
	sqlite3 *db = open_db();
	sqlite3_stmt *st = prepare(db, r->by_key ? "SELECT * FROM identities WHERE device_id = ?1 AND module_id = ''"
						 : "SELECT * FROM identities WHERE id = ?1");
	char id[32];
	double t0 = now_s(), t = t0;

	/* Each read is its own autocommit transaction, as in the server; the clock is read once per 1,000
	 * reads to keep it out of the measured loop. */
	while (t - t0 < phase_seconds) {
		for (int k = 0; k < 1000; k++) {
			long row = (long)(rnd(&r->seed) % (uint64_t)n_rows);
			if (r->by_key) {
				device_id(row, id, sizeof(id));
				sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
			} else {
				sqlite3_bind_int64(st, 1, row + 1);
			}
			if (sqlite3_step(st) != SQLITE_ROW)
				die(db, "read");
			/* Touch the text columns the way a reader that builds a reply would. */
			for (int c = 0; c < sqlite3_column_count(st); c++)
				(void)sqlite3_column_text(st, c);
			sqlite3_reset(st);
			r->done++;
		}
		t = now_s();
	}
	r->seconds = t - t0;
	sqlite3_finalize(st);
	sqlite3_close(db);
	return NULL;
}

static double run_readers(int by_key, int nthreads)
{
	pthread_t th[8];
	reader r[8];
	double rate = 0;

	for (int i = 0; i < nthreads; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].by_key = by_key;
		r[i].seed = 0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1 + by_key * 8);
		pthread_create(&th[i], NULL, read_loop, &r[i]);
	}
	for (int i = 0; i < nthreads; i++) {
		pthread_join(th[i], NULL);
		rate += (double)r[i].done / r[i].seconds;
	}
	return rate;
}

static void phase_update(void)
{
	sqlite3 *db = open_db();
	sqlite3_stmt *st = prepare(db, "UPDATE identities SET desired = json_set(desired, '$.x', ?1),"
				       " twin_version = twin_version + 1 WHERE device_id = ?2 AND module_id = ''");
	uint64_t seed = 0xD1B54A32D192ED03ULL;
	char id[32];
	long done = 0;
	double t0 = now_s(), t = t0;

	while (t - t0 < phase_seconds) {
		for (int k = 0; k < 100; k++) {
			device_id((long)(rnd(&seed) % (uint64_t)n_rows), id, sizeof(id));
			exec(db, "BEGIN IMMEDIATE");
			sqlite3_bind_int64(st, 1, done);
			sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
			if (sqlite3_step(st) != SQLITE_DONE)
				die(db, "update");
			sqlite3_reset(st);
			exec(db, "COMMIT");
			done++;
		}
		t = now_s();
	}
	printf("update_per_s %.0f\n", (double)done / (t - t0));
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median wall time in ms of `runs` executions of sql, stepping through every row. */
static double time_query(sqlite3 *db, const char *sql, int runs)
{
	double ms[16];
	sqlite3_stmt *st = prepare(db, sql);

	for (int i = 0; i < runs; i++) {
		double t0 = now_s();
		while (sqlite3_step(st) == SQLITE_ROW)
			;
		sqlite3_reset(st);
		ms[i] = (now_s() - t0) * 1000.0;
	}
	sqlite3_finalize(st);
	qsort(ms, (size_t)runs, sizeof(ms[0]), cmp_double);
	return ms[runs / 2];
}

static void phase_queries(void)
{
	sqlite3 *db = open_db();
	const char *count = "SELECT count(*) FROM identities WHERE module_id = '' AND json_extract(tags, '$.region') = 'r3'";

	printf("count_scan_ms %.2f\n", time_query(db, count, 3));
	fflush(stdout);
	printf("group_ms %.1f\n", time_query(db, "SELECT json_extract(tags, '$.floor') AS f, count(*) FROM identities"
						 " WHERE module_id = '' GROUP BY f", 3));
	fflush(stdout);
	/* The index c-libraries.md measured (and devicehubd made before it added module_id): the count
	 * then reads every matching row to check module_id. */
	exec(db, "CREATE INDEX region_idx1 ON identities (json_extract(tags, '$.region'))");
	printf("count_index1_ms %.2f\n", time_query(db, count, 7));
	fflush(stdout);
	/* The index devicehubd's --index makes (server/store_index.c): the count stays inside the index. */
	exec(db, "DROP INDEX region_idx1; CREATE INDEX region_idx ON identities (json_extract(tags, '$.region'), module_id)");
	printf("count_index_ms %.2f\n", time_query(db, count, 7));
	sqlite3_close(db);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: sqlite_baseline DB_PATH N [SECONDS_PER_PHASE]\n");
		return 2;
	}
	db_path = argv[1];
	n_rows = atol(argv[2]);
	if (argc > 3)
		phase_seconds = atof(argv[3]);
	if (n_rows < 1) {
		fprintf(stderr, "sqlite_baseline: N must be positive\n");
		return 2;
	}
	phase_insert();
	printf("pk_read_per_s %.0f\n", run_readers(0, 1));
	fflush(stdout);
	printf("key_read_per_s %.0f\n", run_readers(1, 1));
	fflush(stdout);
	printf("key_read2_per_s %.0f\n", run_readers(1, 2));
	fflush(stdout);
	phase_update();
	fflush(stdout);
	phase_queries();
	return 0;
}
