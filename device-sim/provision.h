/*
 * provision: the simulator's REST side. Parses the service connection string, creates the simulated
 * devices (bulk POST /devices, 100 per call, importMode createOrUpdate, with keys made here) or reads
 * the keys of existing ones (GET /devices/{id}). Blocking; runs before the device fleet starts.
 */
#ifndef SIM_PROVISION_H
#define SIM_PROVISION_H

#include "options.h"

#include <signal.h>

typedef struct hub_credentials {
	char host[256];     /* HostName: the hub's name, the sr of service tokens and device tokens */
	char key_name[128]; /* SharedAccessKeyName */
	char key[128];      /* SharedAccessKey, base64 */
} hub_credentials;

/* Parses "HostName=..;SharedAccessKeyName=..;SharedAccessKey=..". OUT: *out. Returns 0 or -1 after
 * printing what is missing. */
int provision_parse_connection_string(const char *text, hub_credentials *out);

/* Makes sure the opts->count devices exist and learns their primary keys. OUT: keys[0..count), each a
 * new string the caller frees. Returns 0, or -1 after printing the reason (keys are then all NULL).
 * Gives up early when *stop becomes non-zero. */
int provision_devices(const sim_options *opts, const hub_credentials *hub, char **keys, volatile sig_atomic_t *stop);

#endif
