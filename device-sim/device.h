/*
 * device: what one simulated device does, in IoT Hub's device-management patterns. Reports its
 * capabilities on its first connection, applies desired patches and acknowledges them in reported
 * properties, and answers direct methods (reboot, factoryReset, firmwareUpdate; anything else 501),
 * with the failure injection the options ask for.
 *
 * It reacts to messages and timers the fleet hands it and acts only through the fleet's functions
 * (fleet.h): it never touches a socket. All of it runs on the lws service thread.
 */
#ifndef SIM_DEVICE_H
#define SIM_DEVICE_H

#include "buf.h"
#include "firmware.h"

#include <jansson.h>
#include <libwebsockets.h>
#include <stdint.h>

typedef struct fw_update fw_update;
typedef struct sim_frame sim_frame;
typedef struct sim_action sim_action;

/* One simulated device. Kept small (10,000 per process): the connection half belongs to fleet.c, the
 * behaviour half to device.c; neither writes the other's fields. */
typedef struct sim_device {
	/* fleet.c */
	struct lws *wsi;                 /* NULL unless connecting or connected */
	lws_sorted_usec_list_t sul_conn; /* reconnect timer */
	lws_sorted_usec_list_t sul_work; /* the earliest of actions */
	sim_frame *out_head, *out_tail;  /* frames waiting for WRITEABLE */
	sim_action *actions;             /* delayed work, by due time */
	buf *rx;                         /* a fragmented message being assembled, else NULL */
	char *key;                       /* primary key, base64 */
	int64_t renew_at;                /* Unix seconds: reconnect with a fresh token from then */
	uint32_t reconnect_ms;           /* delay after a close the device asked for */
	uint8_t state;
	uint8_t conn_flags;
	uint8_t failures; /* consecutive connection failures, for the backoff */
	/* device.c */
	uint8_t flags;
	uint32_t index;
	uint32_t next_rid;
	int64_t desired_applied; /* desired $version applied last (0: none) */
	fw_update *fw;           /* the firmware update in progress, else NULL */
	char fw_version[16];     /* "" until learned from the twin or defaulted */
} sim_device;

void device_init(sim_device *d, uint32_t index);
/* Frees the behaviour state (a running firmware update). */
void device_release(sim_device *d);

/* A message from the hub (borrowed). */
void device_on_message(sim_device *d, const json_t *msg);
/* A delayed action the device asked for with fleet_after; msg is taken (may be NULL). */
void device_on_action(sim_device *d, int kind, json_t *msg);
/* The connection ended (whoever closed it). */
void device_on_closed(sim_device *d);
/* A firmware download finished. */
void device_on_download(sim_device *d, const firmware_result *r);

#endif
