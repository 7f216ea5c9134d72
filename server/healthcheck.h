/*
 * healthcheck: the client side of `GET /healthz`, for `devicehubd healthcheck` (the container image's
 * HEALTHCHECK, monitoring scripts). It asks a running devicehubd over loopback whether it serves, so an
 * image needs no curl. A client only: it never opens the database or touches a server's state.
 */
#ifndef DH_HEALTHCHECK_H
#define DH_HEALTHCHECK_H

/* Sends GET /healthz to addr:port (0.0.0.0 or "" means 127.0.0.1) and returns 0 when the answer is
 * 200. With tls, speaks HTTPS without verifying the certificate (it proves this server answers, not who
 * it is). Without, speaks plain HTTP and, should the port answer something that is not HTTP (TLS set on
 * the server's command line, which this process does not see), retries over HTTPS. Every step is bounded
 * by timeout_ms. Returns a negative dh_err with err_message() saying what failed. */
int healthcheck_run(const char *addr, int port, int tls, int timeout_ms);

#endif
