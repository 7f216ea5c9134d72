/*
 * mqtt_device: IoT Hub's device-side MQTT (3.1.1) edge, as the Azure IoT device SDKs speak it (reference
 * §3): CONNECT with a SAS password (or an X.509 client certificate), twin GET, reported PATCH, desired
 * pushes, direct methods, telemetry. Over TLS (or plain TCP without a certificate) on its own port, and
 * over WebSocket at /$iothub/websocket (subprotocol mqtt or MQTT) on the device port.
 *
 * It runs on the device edge's lws context and service thread (ws_device_ext): one thread serves every
 * device, whatever it speaks, and sessions of both encodings share the session layer, so a method or a
 * desired patch reaches the device whichever encoding it uses. Bytes go through mqtt_codec; no SQL here.
 */
#ifndef DH_MQTT_DEVICE_H
#define DH_MQTT_DEVICE_H

#include "ws_device.h"

typedef struct mqtt_device mqtt_device;

#define MQTT_WS_PATH "/$iothub/websocket"

/* Prepares the edge (no socket yet): port 0 = WebSocket only; cert_path/key_path NULL = plain MQTT on
 * the port. The strings are copied. Returns the edge (caller frees with mqtt_device_free). */
mqtt_device *mqtt_device_new(const char *addr, int port, const char *cert_path, const char *key_path);

/* What ws_device_start_ext needs to carry this edge: its WebSocket subprotocols, path and listener.
 * Owned by m. */
const ws_device_ext *mqtt_device_ext(mqtt_device *m);

/* Frees the edge. Call after ws_device_stop (the context, and so every MQTT connection, is gone). */
void mqtt_device_free(mqtt_device *m);

#endif
