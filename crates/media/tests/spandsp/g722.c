/*
 * spandsp side of the G.722 interop test (tests/g722_spandsp.rs).
 *
 *   g722 <encode|decode>
 *
 * encode: reads 16 kHz 16-bit little-endian PCM on stdin, writes G.722
 * codes (64 kbit/s, one byte per two samples) on stdout.
 * decode: reads G.722 codes on stdin, writes 16-bit little-endian PCM.
 * One spandsp context per run, so state carries across the whole input.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <spandsp.h>

#define BLOCK 320

int main(int argc, char **argv)
{
    if (argc != 2 || (strcmp(argv[1], "encode") != 0 && strcmp(argv[1], "decode") != 0)) {
        fprintf(stderr, "usage: %s <encode|decode>\n", argv[0]);
        return 2;
    }
    if (strcmp(argv[1], "encode") == 0) {
        g722_encode_state_t *state = g722_encode_init(NULL, 64000, 0);
        uint8_t in[2 * BLOCK];
        int16_t pcm[BLOCK];
        uint8_t codes[BLOCK / 2];
        size_t len;
        if (state == NULL) return 1;
        while ((len = fread(in, 1, sizeof in, stdin)) > 0) {
            int samples = (int)(len / 2);
            for (int i = 0; i < samples; i++)
                pcm[i] = (int16_t)(in[2 * i] | in[2 * i + 1] << 8);
            int out = g722_encode(state, codes, pcm, samples);
            fwrite(codes, 1, (size_t)out, stdout);
        }
        g722_encode_free(state);
    } else {
        g722_decode_state_t *state = g722_decode_init(NULL, 64000, 0);
        uint8_t codes[BLOCK / 2];
        int16_t pcm[BLOCK];
        uint8_t out[2 * BLOCK];
        size_t len;
        if (state == NULL) return 1;
        while ((len = fread(codes, 1, sizeof codes, stdin)) > 0) {
            int samples = g722_decode(state, pcm, codes, (int)len);
            for (int i = 0; i < samples; i++) {
                out[2 * i] = (uint8_t)(pcm[i] & 0xff);
                out[2 * i + 1] = (uint8_t)((uint16_t)pcm[i] >> 8);
            }
            fwrite(out, 1, (size_t)samples * 2, stdout);
        }
        g722_decode_free(state);
    }
    return 0;
}
