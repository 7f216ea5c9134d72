/*
 * Fuzz target: a device's frame (devicehub.v1) and connect path must never crash, leak or read out of
 * bounds, whatever the bytes. Every parsed message is also answered through the encoders, as the edge
 * would, and the same bytes are tried as a connect path.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "buf.h"
#include "device_msg.h"
#include "err.h"

const char *fuzz_target_name = "fuzz_device_msg";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char device_id[129], module_id[129], rid[DEVICE_MSG_RID_MAX + 1];
	buf reply = BUF_INIT;
	device_msg msg;

	if (device_msg_parse((const char *)data, size, &msg) == 0) {
		device_msg_rid_text(&msg, rid);
		if (msg.type == DEVICE_MSG_REPORTED_PATCH)
			device_msg_encode_desired_patch(&reply, msg.body, 1);
		else if (msg.type == DEVICE_MSG_METHOD_RESPONSE)
			device_msg_encode_method_request(&reply, rid, device_msg_type_name(msg.type), msg.payload);
		device_msg_encode_reported_ack(&reply, msg.rid, 2);
	} else {
		device_msg_encode_error(&reply, msg.rid, 400, 400004, err_message());
	}
	device_msg_release(&msg);
	buf_release(&reply);
	device_msg_parse_path((const char *)data, size, 1, device_id, module_id);
	device_msg_parse_path((const char *)data, size, 0, device_id, module_id);
	return 0;
}
