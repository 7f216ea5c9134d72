/*
 * method: direct method calls in flight. A call is registered with a completion function, delivered to
 * the identity's session (at once, or when it connects within connectTimeoutInSeconds), and completed
 * exactly once: by the device's answer, by a timeout (404103 DeviceNotOnline / 504101 GatewayTimeout),
 * or by shutdown. No thread waits: the REST edge suspends its request and resumes it in the completion.
 */
#ifndef DH_METHOD_H
#define DH_METHOD_H

#include <jansson.h>

#define METHOD_PAYLOAD_MAX (128 * 1024)

/* Completion: code 0 with the device's status and payload (taken: the callee owns it), or DH_EOFFLINE /
 * DH_ETIMEOUT / DH_EBUSY (shutdown) with payload NULL. Called exactly once, from any thread (the edge's,
 * the timer's, or inside method_invoke itself), never with method's lock held. */
typedef void (*method_done_fn)(void *ctx, int code, int status, json_t *payload);

/* Starts the timer thread that expires calls. */
int method_init(void);
/* Completes every pending call with DH_EBUSY and stops the timer. */
void method_shutdown(void);

/* Validates a REST request body {methodName, payload, responseTimeoutInSeconds, connectTimeoutInSeconds}
 * (reference §1.5) and starts the call. Returns 0 when done will be called, or an error (DH_EINVAL for a
 * bad body, DH_ENODEVICE / DH_ENOMODULE for an unknown identity) and done is never called. */
int method_invoke(const char *device_id, const char *module_id, const json_t *request, method_done_fn done,
		  void *ctx);

/* The edge's delivery of a device's answer to request rid. Takes payload. Unknown rids (late answers
 * after a timeout) are dropped. */
void method_response(const char *device_id, const char *module_id, const char *rid, int status, json_t *payload);

/* The session layer's word that an identity connected: calls waiting for it are delivered now. */
void method_identity_connected(const char *device_id, const char *module_id);

#endif
