/* Unit tests for server/healthcheck.c: what `devicehubd healthcheck` makes of what a port answers. A
 * thread on 127.0.0.1 plays the server with a canned answer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "err.h"
#include "healthcheck.h"

typedef struct fake_server {
	int listen_fd;
	int port;
	int connections;    /* how many to accept */
	const char *answer; /* written after the request arrives; NULL: say nothing, hold the connection */
	pthread_t thread;
} fake_server;

static void *serve(void *arg)
{
	fake_server *s = arg;
	char req[512];

	for (int i = 0; i < s->connections; i++) {
		int fd = accept(s->listen_fd, NULL, NULL);

		if (fd < 0)
			break;
		if (recv(fd, req, sizeof(req), 0) > 0 && s->answer)
			send(fd, s->answer, strlen(s->answer), MSG_NOSIGNAL);
		if (!s->answer)
			usleep(500 * 1000); /* longer than the client's timeout */
		close(fd);
	}
	return NULL;
}

static void fake_start(fake_server *s, const char *answer, int connections)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);

	s->answer = answer;
	s->connections = connections;
	s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s->listen_fd >= 0);
	assert_int_equal(bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(s->listen_fd, 4), 0);
	assert_int_equal(getsockname(s->listen_fd, (struct sockaddr *)&sa, &len), 0);
	s->port = ntohs(sa.sin_port);
	assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
}

static void fake_stop(fake_server *s)
{
	pthread_join(s->thread, NULL);
	close(s->listen_fd);
}

static void test_healthcheck__200_is_healthy(void **state)
{
	fake_server s;

	fake_start(&s, "HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n{\"status\":\"ok\"}", 1);
	assert_int_equal(healthcheck_run("0.0.0.0", s.port, 0, 2000), 0);
	fake_stop(&s);
}

static void test_healthcheck__other_status_is_unhealthy(void **state)
{
	fake_server s;

	fake_start(&s, "HTTP/1.1 503 Service Unavailable\r\n\r\n", 1);
	assert_int_equal(healthcheck_run("127.0.0.1", s.port, 0, 2000), DH_EBUSY);
	assert_non_null(strstr(err_message(), "503"));
	fake_stop(&s);
}

static void test_healthcheck__closed_port_is_unhealthy(void **state)
{
	fake_server s;

	fake_start(&s, "HTTP/1.1 200 OK\r\n\r\n", 1);
	assert_int_equal(healthcheck_run("", s.port, 0, 2000), 0);
	fake_stop(&s); /* nothing listens on the port any more */
	assert_int_equal(healthcheck_run("", s.port, 0, 2000), DH_EIO);
}

static void test_healthcheck__silence_times_out(void **state)
{
	fake_server s;

	fake_start(&s, NULL, 1);
	assert_int_equal(healthcheck_run("127.0.0.1", s.port, 0, 200), DH_ETIMEOUT);
	fake_stop(&s);
}

/* Not HTTP: the check retries over TLS (a second connection), which this server does not speak either. */
static void test_healthcheck__not_http_tries_tls_then_fails(void **state)
{
	fake_server s;

	fake_start(&s, "SSH-2.0-OpenSSH_9.2\r\n", 2);
	assert_int_equal(healthcheck_run("127.0.0.1", s.port, 0, 2000), DH_EIO);
	assert_non_null(strstr(err_message(), "HTTPS"));
	fake_stop(&s);
}

static void test_healthcheck__addr_must_be_ipv4(void **state)
{
	assert_int_equal(healthcheck_run("localhost", 8080, 0, 200), DH_EINVAL);
	assert_non_null(strstr(err_message(), "IPv4"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_healthcheck__200_is_healthy),
	    cmocka_unit_test(test_healthcheck__other_status_is_unhealthy),
	    cmocka_unit_test(test_healthcheck__closed_port_is_unhealthy),
	    cmocka_unit_test(test_healthcheck__silence_times_out),
	    cmocka_unit_test(test_healthcheck__not_http_tries_tls_then_fails),
	    cmocka_unit_test(test_healthcheck__addr_must_be_ipv4),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
