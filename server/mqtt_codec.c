/* mqtt_codec: MQTT 3.1.1 packets as bytes (see mqtt_codec.h). */
#include "mqtt_codec.h"

#include "err.h"

#include <string.h>

enum { ST_HEADER, ST_LENGTH, ST_BODY };

#define BODY_KEEP (4 * 1024) /* a bigger buffer is freed after its packet, so idle connections stay small */

void mqtt_parser_init(mqtt_parser *p)
{
	memset(p, 0, sizeof(*p));
}

void mqtt_parser_release(mqtt_parser *p)
{
	buf_release(&p->body);
	mqtt_parser_init(p);
}

const char *mqtt_type_name(int type)
{
	static const char *const names[] = {"?", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC",
					    "PUBREL", "PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK",
					    "PINGREQ", "PINGRESP", "DISCONNECT", "?"};

	return type >= 0 && type < 16 ? names[type] : "?";
}

/* ---- reading fields ---- */

typedef struct reader {
	const uint8_t *p;
	size_t len;
} reader;

static int read_u8(reader *r, uint8_t *out)
{
	if (r->len < 1)
		return err_set(DH_EINVAL, "packet ends early");
	*out = *r->p++;
	r->len--;
	return 0;
}

static int read_u16(reader *r, uint16_t *out)
{
	if (r->len < 2)
		return err_set(DH_EINVAL, "packet ends early");
	*out = (uint16_t)(r->p[0] << 8 | r->p[1]);
	r->p += 2;
	r->len -= 2;
	return 0;
}

static int read_binary(reader *r, mqtt_str *out)
{
	uint16_t n = 0; /* set by read_u16; initialised for the optimiser, which cannot see err_set return non-zero */

	if (read_u16(r, &n))
		return DH_EINVAL;
	if (r->len < n)
		return err_set(DH_EINVAL, "a field is longer than its packet");
	out->p = (const char *)r->p;
	out->len = n;
	r->p += n;
	r->len -= n;
	return 0;
}

/* Well-formed UTF-8 (no overlongs, surrogates or code points above U+10FFFF) without U+0000. */
static int utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned c = s[i], need, min, cp;
		if (c == 0)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
			need = 1, min = 0x80, cp = c & 0x1F;
		else if (c >= 0xE0 && c <= 0xEF)
			need = 2, min = 0x800, cp = c & 0x0F;
		else if (c >= 0xF0 && c <= 0xF4)
			need = 3, min = 0x10000, cp = c & 0x07;
		else
			return 0;
		if (len - i <= need)
			return 0;
		for (unsigned k = 1; k <= need; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return 0;
		i += need + 1;
	}
	return 1;
}

static int read_string(reader *r, mqtt_str *out, const char *what)
{
	if (read_binary(r, out))
		return DH_EINVAL;
	if (!utf8_valid((const unsigned char *)out->p, out->len))
		return err_set(DH_EINVAL, "%s is not valid UTF-8 (or holds NUL)", what);
	return 0;
}

/* ---- one packet per type ---- */

static int parse_connect(reader *r, mqtt_packet *pkt)
{
	uint8_t flags = 0;

	if (read_string(r, &pkt->protocol_name, "protocol name") || read_u8(r, &pkt->protocol_level) ||
	    read_u8(r, &flags) || read_u16(r, &pkt->keepalive))
		return DH_EINVAL;
	if (flags & 0x01)
		return err_set(DH_EINVAL, "CONNECT reserved flag set");
	pkt->clean_session = (flags >> 1) & 1;
	pkt->has_will = (flags >> 2) & 1;
	pkt->will_qos = (flags >> 3) & 3;
	pkt->will_retain = (flags >> 5) & 1;
	pkt->has_password = (flags >> 6) & 1;
	pkt->has_username = (flags >> 7) & 1;
	if (pkt->will_qos == 3 || (!pkt->has_will && (pkt->will_qos || pkt->will_retain)))
		return err_set(DH_EINVAL, "CONNECT will flags are inconsistent");
	if (pkt->has_password && !pkt->has_username)
		return err_set(DH_EINVAL, "CONNECT has a password without a user name");
	if (read_string(r, &pkt->client_id, "client id"))
		return DH_EINVAL;
	if (pkt->has_will &&
	    (read_string(r, &pkt->will_topic, "will topic") || read_binary(r, &pkt->will_message)))
		return DH_EINVAL;
	if (pkt->has_username && read_string(r, &pkt->username, "user name"))
		return DH_EINVAL;
	if (pkt->has_password && read_binary(r, &pkt->password))
		return DH_EINVAL;
	if (r->len)
		return err_set(DH_EINVAL, "CONNECT has trailing bytes");
	return 0;
}

static int parse_publish(reader *r, mqtt_packet *pkt)
{
	pkt->retain = pkt->flags & 1;
	pkt->qos = (pkt->flags >> 1) & 3;
	pkt->dup = (pkt->flags >> 3) & 1;
	if (pkt->qos == 3)
		return err_set(DH_EINVAL, "PUBLISH with QoS 3");
	if (read_string(r, &pkt->topic, "topic"))
		return DH_EINVAL;
	if (pkt->topic.len == 0 || memchr(pkt->topic.p, '+', pkt->topic.len) || memchr(pkt->topic.p, '#', pkt->topic.len))
		return err_set(DH_EINVAL, "PUBLISH topic is empty or has a wildcard");
	if (pkt->qos && read_u16(r, &pkt->packet_id))
		return DH_EINVAL;
	if (pkt->qos && pkt->packet_id == 0)
		return err_set(DH_EINVAL, "PUBLISH packet id 0");
	pkt->payload.p = (const char *)r->p;
	pkt->payload.len = r->len;
	return 0;
}

/* SUBSCRIBE (with a QoS byte per filter) and UNSUBSCRIBE. */
static int parse_filters(reader *r, mqtt_packet *pkt, int with_qos)
{
	if (read_u16(r, &pkt->packet_id))
		return DH_EINVAL;
	if (pkt->packet_id == 0)
		return err_set(DH_EINVAL, "%s packet id 0", mqtt_type_name(pkt->type));
	while (r->len) {
		mqtt_str f;
		uint8_t qos = 0;
		if (pkt->nfilters == MQTT_SUBSCRIBE_MAX)
			return err_set(DH_EINVAL, "more than %d topic filters in one packet", MQTT_SUBSCRIBE_MAX);
		if (read_string(r, &f, "topic filter") || (with_qos && read_u8(r, &qos)))
			return DH_EINVAL;
		if (f.len == 0)
			return err_set(DH_EINVAL, "empty topic filter");
		if (qos > 2)
			return err_set(DH_EINVAL, "requested QoS %u", qos);
		pkt->filters[pkt->nfilters] = f;
		pkt->filter_qos[pkt->nfilters++] = qos;
	}
	if (pkt->nfilters == 0)
		return err_set(DH_EINVAL, "%s without a topic filter", mqtt_type_name(pkt->type));
	return 0;
}

static int parse_packet_id_only(reader *r, mqtt_packet *pkt)
{
	if (read_u16(r, &pkt->packet_id))
		return DH_EINVAL;
	return r->len ? err_set(DH_EINVAL, "%s has trailing bytes", mqtt_type_name(pkt->type)) : 0;
}

int mqtt_parse_packet(uint8_t header, const uint8_t *body, size_t len, mqtt_packet *pkt)
{
	reader r = {body, len};

	memset(pkt, 0, sizeof(*pkt));
	pkt->type = (mqtt_type)(header >> 4);
	pkt->flags = header & 0x0F;
	/* Fixed flags (§2.2.2): 0b0010 for PUBREL, SUBSCRIBE, UNSUBSCRIBE; 0 for the rest but PUBLISH. */
	if (pkt->type != MQTT_PUBLISH &&
	    pkt->flags != (pkt->type == MQTT_PUBREL || pkt->type == MQTT_SUBSCRIBE || pkt->type == MQTT_UNSUBSCRIBE ? 2 : 0))
		return err_set(DH_EINVAL, "%s with fixed-header flags 0x%x", mqtt_type_name(pkt->type), pkt->flags);
	switch (pkt->type) {
	case MQTT_CONNECT:
		return parse_connect(&r, pkt);
	case MQTT_PUBLISH:
		return parse_publish(&r, pkt);
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
		return parse_packet_id_only(&r, pkt);
	case MQTT_SUBSCRIBE:
		return parse_filters(&r, pkt, 1);
	case MQTT_UNSUBSCRIBE:
		return parse_filters(&r, pkt, 0);
	case MQTT_PINGREQ:
	case MQTT_DISCONNECT:
		return len ? err_set(DH_EINVAL, "%s has a body", mqtt_type_name(pkt->type)) : 0;
	default:
		return err_set(DH_EINVAL, "a client may not send packet type %d (%s)", pkt->type,
			       mqtt_type_name(pkt->type));
	}
}

/* ---- the stream ---- */

static int parser_fail(mqtt_parser *p)
{
	p->failed = 1;
	buf_release(&p->body);
	return -1;
}

/* The remaining-length varint, one byte at a time (§2.2.3): at most 4 bytes, no overlong zero tail. */
static int take_length_byte(mqtt_parser *p, uint8_t b)
{
	p->remaining += (uint32_t)(b & 0x7F) * p->multiplier;
	p->multiplier *= 128;
	p->len_bytes++;
	if (b & 0x80) {
		if (p->len_bytes == 4)
			return err_set(DH_EINVAL, "remaining length longer than 4 bytes");
		return 0;
	}
	if (p->len_bytes > 1 && b == 0)
		return err_set(DH_EINVAL, "remaining length not minimally encoded");
	if (p->remaining > MQTT_PACKET_MAX)
		return err_set(DH_EINVAL, "packet of %u bytes exceeds %d", p->remaining, MQTT_PACKET_MAX);
	p->state = ST_BODY;
	return 0;
}

int mqtt_parser_next(mqtt_parser *p, const uint8_t **data, size_t *len, mqtt_packet *pkt)
{
	if (p->failed)
		return err_set(DH_EINVAL, "the stream failed earlier"), -1;
	if (p->handed_out) {
		/* The previous packet's strings pointed into body: its bytes may go now. */
		p->handed_out = 0;
		if (p->body.cap > BODY_KEEP)
			buf_release(&p->body);
		p->body.len = 0;
	}
	while (*len || p->state == ST_BODY) {
		if (p->state == ST_HEADER) {
			p->header = **data;
			(*data)++, (*len)--;
			p->remaining = 0;
			p->len_bytes = 0;
			p->multiplier = 1;
			p->state = ST_LENGTH;
			if (!(p->header >> 4) || (p->header >> 4) == 15)
				return err_set(DH_EINVAL, "reserved packet type %d", p->header >> 4), parser_fail(p);
		} else if (p->state == ST_LENGTH) {
			uint8_t b = **data;
			(*data)++, (*len)--;
			if (take_length_byte(p, b))
				return parser_fail(p);
		} else {
			size_t want = p->remaining - p->body.len, n = *len < want ? *len : want;
			if (n) {
				buf_append(&p->body, *data, n);
				*data += n;
				*len -= n;
			}
			if (p->body.len < p->remaining)
				return 0;
			p->state = ST_HEADER;
			if (mqtt_parse_packet(p->header, (const uint8_t *)p->body.data, p->body.len, pkt))
				return parser_fail(p);
			p->handed_out = 1;
			return 1;
		}
	}
	return 0;
}

/* ---- encoders ---- */

static void put_header(buf *out, uint8_t header, size_t remaining)
{
	uint8_t b[5];
	int n = 0;

	b[n++] = header;
	do {
		uint8_t digit = remaining % 128;
		remaining /= 128;
		b[n++] = (uint8_t)(digit | (remaining ? 0x80 : 0));
	} while (remaining && n < 5);
	buf_append(out, b, (size_t)n);
}

static void put_u16(buf *out, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};

	buf_append(out, b, 2);
}

void mqtt_encode_connack(buf *out, int session_present, int return_code)
{
	uint8_t body[2] = {(uint8_t)(session_present ? 1 : 0), (uint8_t)return_code};

	put_header(out, MQTT_CONNACK << 4, 2);
	buf_append(out, body, 2);
}

void mqtt_encode_publish(buf *out, const char *topic, size_t topic_len, const void *payload, size_t payload_len,
			 int qos, uint16_t packet_id)
{
	put_header(out, (uint8_t)(MQTT_PUBLISH << 4 | (qos & 3) << 1), 2 + topic_len + (qos ? 2 : 0) + payload_len);
	put_u16(out, (uint16_t)topic_len);
	buf_append(out, topic, topic_len);
	if (qos)
		put_u16(out, packet_id);
	if (payload_len)
		buf_append(out, payload, payload_len);
}

void mqtt_encode_puback(buf *out, uint16_t packet_id)
{
	put_header(out, MQTT_PUBACK << 4, 2);
	put_u16(out, packet_id);
}

void mqtt_encode_suback(buf *out, uint16_t packet_id, const uint8_t *codes, int n)
{
	put_header(out, MQTT_SUBACK << 4, 2 + (size_t)n);
	put_u16(out, packet_id);
	buf_append(out, codes, (size_t)n);
}

void mqtt_encode_unsuback(buf *out, uint16_t packet_id)
{
	put_header(out, MQTT_UNSUBACK << 4, 2);
	put_u16(out, packet_id);
}

void mqtt_encode_pingresp(buf *out)
{
	put_header(out, MQTT_PINGRESP << 4, 0);
}
