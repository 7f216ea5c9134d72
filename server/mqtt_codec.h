/*
 * mqtt_codec: the MQTT 3.1.1 packets devicehub's MQTT edge reads and writes, as bytes. An incremental
 * parser (bytes arrive in any split: TCP segments, WebSocket frames) and encoders that append packets to
 * a buf. Covers the server side of IoT Hub's subset: CONNECT, PUBLISH (QoS 0/1/2 parsed; the edge decides),
 * PUBACK, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT in; CONNACK, PUBLISH, PUBACK, SUBACK, UNSUBACK,
 * PINGRESP out.
 *
 * A leaf: knows no socket, no lws, no IoT Hub topic. Untrusted input only ever gets an error return.
 */
#ifndef DH_MQTT_CODEC_H
#define DH_MQTT_CODEC_H

#include "buf.h"

#include <stddef.h>
#include <stdint.h>

/* IoT Hub's message limit (256 KB) plus room for a topic with a property bag and the headers. */
#define MQTT_PACKET_MAX (256 * 1024 + 16 * 1024)
#define MQTT_SUBSCRIBE_MAX 16 /* topic filters in one SUBSCRIBE / UNSUBSCRIBE */

typedef enum mqtt_type {
	MQTT_CONNECT = 1,
	MQTT_CONNACK = 2,
	MQTT_PUBLISH = 3,
	MQTT_PUBACK = 4,
	MQTT_PUBREC = 5,
	MQTT_PUBREL = 6,
	MQTT_PUBCOMP = 7,
	MQTT_SUBSCRIBE = 8,
	MQTT_SUBACK = 9,
	MQTT_UNSUBSCRIBE = 10,
	MQTT_UNSUBACK = 11,
	MQTT_PINGREQ = 12,
	MQTT_PINGRESP = 13,
	MQTT_DISCONNECT = 14,
} mqtt_type;

/* CONNACK return codes (MQTT 3.1.1 §3.2.2.3). */
enum {
	MQTT_CONNACK_ACCEPTED = 0,
	MQTT_CONNACK_BAD_PROTOCOL = 1,
	MQTT_CONNACK_BAD_CLIENT_ID = 2,
	MQTT_CONNACK_UNAVAILABLE = 3,
	MQTT_CONNACK_BAD_CREDENTIALS = 4,
	MQTT_CONNACK_NOT_AUTHORIZED = 5,
};

/* A string or binary field: points into the parser's buffer, not NUL-terminated. UTF-8 strings are
 * checked valid and free of NUL. */
typedef struct mqtt_str {
	const char *p;
	size_t len;
} mqtt_str;

typedef struct mqtt_packet {
	mqtt_type type;
	uint8_t flags;     /* the fixed header's low nibble */
	uint16_t packet_id; /* PUBLISH QoS>0, PUBACK, SUBSCRIBE, UNSUBSCRIBE */
	/* CONNECT */
	mqtt_str protocol_name, client_id, username, password, will_topic, will_message;
	uint8_t protocol_level, clean_session, has_username, has_password, has_will, will_qos, will_retain;
	uint16_t keepalive;
	/* PUBLISH */
	mqtt_str topic, payload;
	uint8_t qos, retain, dup;
	/* SUBSCRIBE (filters with their requested QoS) and UNSUBSCRIBE (filters) */
	int nfilters;
	mqtt_str filters[MQTT_SUBSCRIBE_MAX];
	uint8_t filter_qos[MQTT_SUBSCRIBE_MAX];
} mqtt_packet;

/* An incremental parser for one connection. Zeroed memory (or mqtt_parser_init) is a ready parser. */
typedef struct mqtt_parser {
	int state;          /* internal */
	uint8_t header;
	uint32_t remaining; /* body bytes announced */
	int len_bytes;      /* varint bytes read so far */
	uint32_t multiplier;
	buf body;
	int handed_out;     /* a packet pointing into body was returned */
	int failed;
} mqtt_parser;

void mqtt_parser_init(mqtt_parser *p);
/* Frees the buffer; p may be reused after mqtt_parser_init. */
void mqtt_parser_release(mqtt_parser *p);

/* Consumes bytes from *data / *len (advancing both) until a packet is complete.
 * Returns 1 with OUT *pkt filled (its strings point into p and stay valid until the next call), 0 when
 * every byte was consumed without completing a packet, or -1 when the stream is malformed (a message
 * in err_message(); the parser stays failed and the connection must be closed). */
int mqtt_parser_next(mqtt_parser *p, const uint8_t **data, size_t *len, mqtt_packet *pkt);

/* Parses one complete packet body (fixed header byte plus its body bytes). Returns 0 or -1 (DH_EINVAL
 * recorded with a message). OUT: *pkt pointing into body. Exposed for the tests. */
int mqtt_parse_packet(uint8_t header, const uint8_t *body, size_t len, mqtt_packet *pkt);

/* Encoders: append one packet to out. */
void mqtt_encode_connack(buf *out, int session_present, int return_code);
/* qos 0 ignores packet_id. */
void mqtt_encode_publish(buf *out, const char *topic, size_t topic_len, const void *payload, size_t payload_len,
			 int qos, uint16_t packet_id);
void mqtt_encode_puback(buf *out, uint16_t packet_id);
void mqtt_encode_suback(buf *out, uint16_t packet_id, const uint8_t *codes, int n);
void mqtt_encode_unsuback(buf *out, uint16_t packet_id);
void mqtt_encode_pingresp(buf *out);

/* The packet type's name for logs and metrics ("CONNECT", ...; "?" when unknown). */
const char *mqtt_type_name(int type);

#endif
