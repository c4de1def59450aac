/* wsload.c - WebSocket echo load generator (epoll, non-blocking).
 *
 * N connections, each keeps D masked messages of S bytes in flight
 * (pipelined), re-sending as each echo arrives; runs T seconds after a
 * warm-up and prints msgs/s and p50/p99/p999 round-trip latency.
 *
 *   gcc -O2 -o wsload wsload.c
 *   ./wsload -h 127.0.0.1 -p 9001 -c 16 -d 1 -s 32 -t 10 [-w 1] [-b] [-u /path] [-P pid]
 *
 * -b sends binary frames (default text, payload is ASCII 'x').
 * -P pid: also report that process's CPU time (utime+stime from /proc/PID/stat, all its threads) over
 *    exactly the measured window, as cpu_ms= and cpu_us_per_msg= (the server's cost per echoed message).
 *
 * pbxkit's copy of ../shared/bench/wsload.c; the only change is -P.
 * The server is assumed to echo in order and unfragmented-or-fragmented;
 * fragmented echoes are reassembled by counting FIN data frames.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

typedef struct {
    int fd;
    unsigned char *out;   /* pending bytes to write */
    size_t out_len, out_off, out_cap;
    unsigned char hdr[14]; /* partial frame header being parsed */
    int hdr_have;
    uint64_t skip;         /* payload bytes still to skip in current frame */
    int cur_fin, cur_op;   /* current frame fin/opcode */
    uint64_t *sent;        /* FIFO of send timestamps, capacity depth */
    int q_head, q_len;
    int want_out;
} conn_t;

static int depth = 1, binary = 0, nconn = 1;
static size_t msg_size = 32;
static unsigned char *frame; static size_t frame_len;
static uint32_t *lat; static size_t lat_n, lat_cap; /* latencies in ns/16 (fits 68 s) */
static uint64_t msgs, errors;
static int measuring;

static int server_pid;

/* utime+stime of server_pid in clock ticks (fields 14 and 15 of /proc/PID/stat), or -1. */
static long long proc_ticks(void) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", server_pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');   /* comm may contain spaces: fields restart after its ')' */
    if (!p) return -1;
    unsigned long long ut, st;
    /* after ')': state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15) */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) return -1;
    return (long long)(ut + st);
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void die(const char *m) { perror(m); exit(2); }

static void build_frame(void) {
    size_t n = msg_size, h = 2;
    frame = malloc(n + 14);
    frame[0] = 0x80 | (binary ? 2 : 1);
    if (n < 126) { frame[1] = 0x80 | n; }
    else if (n < 65536) { frame[1] = 0x80 | 126; frame[2] = n >> 8; frame[3] = n; h = 4; }
    else { frame[1] = 0x80 | 127; for (int i = 0; i < 8; i++) frame[2 + i] = (uint64_t)n >> (56 - 8 * i); h = 10; }
    unsigned char key[4] = {0x37, 0xfa, 0x21, 0x3d};
    memcpy(frame + h, key, 4);
    for (size_t i = 0; i < n; i++) frame[h + 4 + i] = 'x' ^ key[i & 3];
    frame_len = h + 4 + n;
}

static void queue_msg(conn_t *c) {
    if (c->out_len + frame_len > c->out_cap) {
        if (c->out_off) { memmove(c->out, c->out + c->out_off, c->out_len - c->out_off); c->out_len -= c->out_off; c->out_off = 0; }
        if (c->out_len + frame_len > c->out_cap) { c->out_cap = (c->out_len + frame_len) * 2; c->out = realloc(c->out, c->out_cap); }
    }
    memcpy(c->out + c->out_len, frame, frame_len);
    c->out_len += frame_len;
    c->sent[(c->q_head + c->q_len) % depth] = now_ns();
    c->q_len++;
}

static int flush_out(conn_t *c) {
    while (c->out_off < c->out_len) {
        ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (w < 0) { if (errno == EAGAIN) return 0; return -1; }
        c->out_off += w;
    }
    c->out_off = c->out_len = 0;
    return 1;
}

static void record(uint64_t ns) {
    if (!measuring) return;
    msgs++;
    if (lat_n == lat_cap) { lat_cap = lat_cap ? lat_cap * 2 : 1 << 20; lat = realloc(lat, lat_cap * sizeof *lat); }
    uint64_t v = ns >> 4; lat[lat_n++] = v > 0xffffffffu ? 0xffffffffu : (uint32_t)v;
}

/* parse incoming bytes; returns number of complete echoed messages */
static int consume(conn_t *c, unsigned char *p, size_t n) {
    int done = 0;
    while (n) {
        if (c->skip) {
            size_t k = n < c->skip ? n : c->skip;
            p += k; n -= k; c->skip -= k;
            if (!c->skip && c->cur_fin && c->cur_op < 8) done++;
            continue;
        }
        c->hdr[c->hdr_have++] = *p++; n--;
        if (c->hdr_have < 2) continue;
        int l7 = c->hdr[1] & 0x7f;
        int need = 2 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0);
        if (c->hdr_have < need) continue;
        uint64_t len = l7;
        if (l7 == 126) len = (c->hdr[2] << 8) | c->hdr[3];
        else if (l7 == 127) { len = 0; for (int i = 0; i < 8; i++) len = (len << 8) | c->hdr[2 + i]; }
        c->cur_fin = c->hdr[0] >> 7; c->cur_op = c->hdr[0] & 15;
        c->hdr_have = 0;
        if (c->cur_op == 8) { errors++; return -1; }   /* server closed */
        c->skip = len;
        if (!len && c->cur_fin && c->cur_op < 8) done++;
    }
    return done;
}

static int handshake(conn_t *c, const char *host, int port, const char *path) {
    char req[512];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", path, host, port);
    if (write(c->fd, req, n) != n) return -1;
    char buf[4096]; size_t have = 0;
    while (have < sizeof buf - 1) {   /* read byte-wise until end of headers so no frame bytes are lost */
        ssize_t r = read(c->fd, buf + have, 1);
        if (r <= 0) return -1;
        have++;
        if (have >= 4 && !memcmp(buf + have - 4, "\r\n\r\n", 4)) break;
    }
    buf[have] = 0;
    if (strncmp(buf, "HTTP/1.1 101", 12)) { fprintf(stderr, "handshake failed: %.60s\n", buf); return -1; }
    return 0;
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1", *path = "/";
    int port = 9001; double secs = 10, warm = 1;
    int o;
    while ((o = getopt(argc, argv, "h:p:c:d:s:t:w:bu:P:")) != -1) {
        switch (o) {
        case 'h': host = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'c': nconn = atoi(optarg); break;
        case 'd': depth = atoi(optarg); break;
        case 's': msg_size = strtoul(optarg, 0, 10); break;
        case 't': secs = atof(optarg); break;
        case 'w': warm = atof(optarg); break;
        case 'b': binary = 1; break;
        case 'u': path = optarg; break;
        case 'P': server_pid = atoi(optarg); break;
        default: fprintf(stderr, "usage: %s -h host -p port -c conns -d depth -s size -t secs [-w warmup] [-b] [-u path] [-P pid]\n", argv[0]); return 2;
        }
    }
    build_frame();
    int ep = epoll_create1(0);
    conn_t *cs = calloc(nconn, sizeof *cs);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &sa.sin_addr);
    for (int i = 0; i < nconn; i++) {
        conn_t *c = &cs[i];
        c->fd = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1; setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa)) die("connect");
        if (handshake(c, host, port, path)) return 2;
        fcntl(c->fd, F_SETFL, O_NONBLOCK);
        c->sent = calloc(depth, sizeof(uint64_t));
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    }
    for (int i = 0; i < nconn; i++) {
        for (int k = 0; k < depth; k++) queue_msg(&cs[i]);
        if (flush_out(&cs[i]) < 0) die("write");
    }
    uint64_t t0 = now_ns(), t_meas = t0 + (uint64_t)(warm * 1e9), t_end = t_meas + (uint64_t)(secs * 1e9);
    static unsigned char rbuf[1 << 18];
    struct epoll_event evs[512];
    int alive = nconn;
    long long ticks0 = -1, ticks1 = -1;
    while (alive > 0) {
        uint64_t t = now_ns();
        if (!measuring && t >= t_meas) { measuring = 1; if (server_pid) ticks0 = proc_ticks(); }
        if (t >= t_end) break;
        int n = epoll_wait(ep, evs, 512, 100);
        for (int e = 0; e < n; e++) {
            conn_t *c = &cs[evs[e].data.u32];
            if (evs[e].events & EPOLLOUT) {
                int r = flush_out(c);
                if (r < 0) { errors++; close(c->fd); c->fd = -1; alive--; continue; }
                if (r > 0 && c->want_out) {
                    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = evs[e].data.u32};
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev); c->want_out = 0;
                }
            }
            if (!(evs[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
            for (;;) {
                ssize_t r = read(c->fd, rbuf, sizeof rbuf);
                if (r < 0 && errno == EAGAIN) break;
                if (r <= 0) { errors++; epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, 0); close(c->fd); c->fd = -1; alive--; break; }
                int done = consume(c, rbuf, r);
                if (done < 0) { epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, 0); close(c->fd); c->fd = -1; alive--; break; }
                uint64_t tn = now_ns();
                for (int k = 0; k < done && c->q_len; k++) {
                    record(tn - c->sent[c->q_head]);
                    c->q_head = (c->q_head + 1) % depth; c->q_len--;
                    queue_msg(c);
                }
                if (done) {
                    int fr = flush_out(c);
                    if (fr < 0) { errors++; break; }
                    if (fr == 0 && !c->want_out) {
                        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = evs[e].data.u32};
                        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev); c->want_out = 1;
                    }
                }
                if ((size_t)r < sizeof rbuf) break;
            }
        }
    }
    if (server_pid) ticks1 = proc_ticks();
    double el = (double)(now_ns() - t_meas) / 1e9;
    qsort(lat, lat_n, sizeof *lat, cmp_u32);
    double p50 = lat_n ? lat[lat_n / 2] * 16 / 1e3 : 0, p99 = lat_n ? lat[(size_t)(lat_n * 0.99)] * 16 / 1e3 : 0;
    double p999 = lat_n ? lat[(size_t)(lat_n * 0.999)] * 16 / 1e3 : 0;
    printf("conns=%d depth=%d size=%zu %s secs=%.1f msgs=%llu rate=%.0f msg/s p50=%.1fus p99=%.1fus p999=%.1fus errors=%llu\n",
           nconn, depth, msg_size, binary ? "binary" : "text", el, (unsigned long long)msgs, msgs / el, p50, p99, p999,
           (unsigned long long)errors);
    if (server_pid) {
        double ms = ticks0 >= 0 && ticks1 >= 0 ? (double)(ticks1 - ticks0) * 1000.0 / sysconf(_SC_CLK_TCK) : -1;
        printf("cpu_ms=%.0f cpu_us_per_msg=%.2f\n", ms, ms >= 0 && msgs ? ms * 1000.0 / msgs : -1);
    }
    return errors ? 1 : 0;
}
