/* Issue 13's workload through LTTng-UST: THREADS threads each log RECORDS events
 * `request {i} served in {lat} us by {worker}` (i from 0, lat = i / 4, worker "p0-t{t}"),
 * as ringload does. Prints one JSON object: the producers' wall time and rate.
 *
 *   lttng_load THREADS RECORDS
 *
 * Run it with LTTNG_UST_ALLOW_BLOCKING=1 under a session whose channel has
 * --blocking-timeout=inf, so a full buffer makes the caller wait instead of dropping. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ringlog_bench_tp.h"

static uint64_t records;

static void *producer(void *arg) {
    char worker[32];
    snprintf(worker, sizeof worker, "p0-t%lu", (unsigned long)(uintptr_t)arg);
    for (uint64_t i = 0; i < records; i++) {
        lttng_ust_tracepoint(ringlog_bench, request, i, (double)i / 4.0, worker);
    }
    return NULL;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: lttng_load THREADS RECORDS\n");
        return 2;
    }
    char *end;
    unsigned long threads = strtoul(argv[1], &end, 10);
    if (*end || threads == 0 || threads > 4096) {
        fprintf(stderr, "lttng_load: THREADS must be 1..4096, not %s\n", argv[1]);
        return 2;
    }
    records = strtoull(argv[2], &end, 10);
    if (*end || records == 0) {
        fprintf(stderr, "lttng_load: RECORDS must be a positive integer, not %s\n", argv[2]);
        return 2;
    }
    pthread_t *tids = calloc(threads, sizeof *tids);
    if (!tids) {
        fprintf(stderr, "lttng_load: out of memory\n");
        return 1;
    }
    double t0 = now();
    for (unsigned long t = 0; t < threads; t++) {
        if (pthread_create(&tids[t], NULL, producer, (void *)(uintptr_t)t) != 0) {
            fprintf(stderr, "lttng_load: cannot start thread %lu\n", t);
            return 1;
        }
    }
    for (unsigned long t = 0; t < threads; t++) {
        pthread_join(tids[t], NULL);
    }
    double secs = now() - t0;
    double total = (double)threads * (double)records;
    printf("{\"threads\":%lu,\"records\":%.0f,\"secs\":%.6f,\"records_per_s\":%.0f}\n", threads,
           total, secs, total / secs);
    free(tids);
    return 0;
}
