/*
 * libsrtp2 side of the interop test (tests/libsrtp_interop.rs).
 *
 *   interop <80|32> <key||salt as 60 hex digits> <protect-rtp|unprotect-rtp|protect-rtcp|unprotect-rtcp>
 *
 * Reads one packet per line as hex on stdin, writes one line per packet on
 * stdout: the processed packet as hex, or "ERR <srtp_err_status_t>".
 * One libsrtp session per run, with an SSRC-wildcard stream (outbound for
 * protect, inbound for unprotect), a 64-packet replay window and no MKI.
 * For AES_CM_128_HMAC_SHA1_32, SRTCP uses an 80-bit tag (RFC 4568
 * section 6.2.2), as libsrtp's profile helpers do.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <srtp2/srtp.h>

#define MAX_PACKET 4096

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes hex into out; returns the byte count or -1. */
static int from_hex(const char *text, size_t len, unsigned char *out, size_t cap)
{
    if (len % 2 != 0 || len / 2 > cap) return -1;
    for (size_t i = 0; i < len / 2; i++) {
        int hi = hex_value(text[2 * i]), lo = hex_value(text[2 * i + 1]);
        if (hi < 0 || lo < 0) return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return (int)(len / 2);
}

static void print_hex(const unsigned char *data, int len)
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < len; i++) {
        putchar(digits[data[i] >> 4]);
        putchar(digits[data[i] & 15]);
    }
    putchar('\n');
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s <80|32> <key||salt hex> <operation>\n", argv[0]);
        return 2;
    }
    unsigned char key[SRTP_MAX_KEY_LEN];
    if (from_hex(argv[2], strlen(argv[2]), key, sizeof key) != 30) {
        fprintf(stderr, "key||salt must be 30 bytes of hex\n");
        return 2;
    }
    const char *op = argv[3];
    int protect = strncmp(op, "protect", 7) == 0;
    int rtcp = strstr(op, "rtcp") != NULL;

    if (srtp_init() != srtp_err_status_ok) {
        fprintf(stderr, "srtp_init failed\n");
        return 1;
    }
    srtp_policy_t policy;
    memset(&policy, 0, sizeof policy);
    if (strcmp(argv[1], "32") == 0) {
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&policy.rtp);
    } else {
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtp);
    }
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtcp);
    policy.ssrc.type = protect ? ssrc_any_outbound : ssrc_any_inbound;
    policy.key = key;
    policy.window_size = 64;
    policy.allow_repeat_tx = 0;
    policy.next = NULL;

    srtp_t session;
    srtp_err_status_t status = srtp_create(&session, &policy);
    if (status != srtp_err_status_ok) {
        fprintf(stderr, "srtp_create failed: %d\n", status);
        return 1;
    }

    static char line[2 * MAX_PACKET + 16];
    static unsigned char packet[MAX_PACKET + SRTP_MAX_TRAILER_LEN];
    while (fgets(line, sizeof line, stdin) != NULL) {
        size_t len = strcspn(line, "\r\n");
        int n = from_hex(line, len, packet, MAX_PACKET);
        if (n < 0) {
            fprintf(stderr, "bad hex line\n");
            return 2;
        }
        if (protect && !rtcp) {
            status = srtp_protect(session, packet, &n);
        } else if (protect) {
            status = srtp_protect_rtcp(session, packet, &n);
        } else if (!rtcp) {
            status = srtp_unprotect(session, packet, &n);
        } else {
            status = srtp_unprotect_rtcp(session, packet, &n);
        }
        if (status == srtp_err_status_ok) {
            print_hex(packet, n);
        } else {
            printf("ERR %d\n", status);
        }
    }
    srtp_dealloc(session);
    srtp_shutdown();
    return 0;
}
