/*
 * Fuzz target: the MQTT packet parser must never crash, leak or read out of bounds, whatever the bytes
 * and however they are split. The input is fed twice: whole, and in chunks whose sizes come from the
 * input itself (as TCP segments or WebSocket frames would split it). Every packet parsed is answered
 * through the encoders, as the edge would.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "buf.h"
#include "mqtt_codec.h"

const char *fuzz_target_name = "fuzz_mqtt_packet";

static void answer(buf *out, const mqtt_packet *pkt)
{
	uint8_t codes[MQTT_SUBSCRIBE_MAX];

	switch (pkt->type) {
	case MQTT_CONNECT:
		mqtt_encode_connack(out, 0, pkt->protocol_level == 4 ? 0 : MQTT_CONNACK_BAD_PROTOCOL);
		break;
	case MQTT_PUBLISH:
		mqtt_encode_publish(out, pkt->topic.p, pkt->topic.len, pkt->payload.p, pkt->payload.len, pkt->qos,
				    pkt->packet_id);
		if (pkt->qos)
			mqtt_encode_puback(out, pkt->packet_id);
		break;
	case MQTT_SUBSCRIBE:
		for (int i = 0; i < pkt->nfilters; i++)
			codes[i] = pkt->filter_qos[i] ^ pkt->filters[i].p[pkt->filters[i].len - 1];
		mqtt_encode_suback(out, pkt->packet_id, codes, pkt->nfilters);
		break;
	case MQTT_UNSUBSCRIBE:
		mqtt_encode_unsuback(out, pkt->packet_id);
		break;
	default:
		mqtt_encode_pingresp(out);
	}
	out->len = 0; /* keep the buffer, not the bytes */
}

/* Feeds data in chunks of chunk bytes (0 = all at once). */
static void run(const uint8_t *data, size_t size, size_t chunk)
{
	mqtt_parser p;
	mqtt_packet pkt;
	buf out = BUF_INIT;

	mqtt_parser_init(&p);
	for (size_t off = 0; off < size;) {
		size_t n = chunk && size - off > chunk ? chunk : size - off;
		const uint8_t *d = data + off;
		size_t left = n;
		int rc;
		while ((rc = mqtt_parser_next(&p, &d, &left, &pkt)) == 1)
			answer(&out, &pkt);
		if (rc < 0)
			break;
		off += n;
	}
	mqtt_parser_release(&p);
	buf_release(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run(data, size, 0);
	if (size)
		run(data + 1, size - 1, (size_t)(data[0] % 7) + 1);
	return 0;
}
