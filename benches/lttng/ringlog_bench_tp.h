/* LTTng-UST tracepoint provider for issue 13's workload: the ringload message
 * `request {i} served in {lat} us by {worker}` as one event with its three arguments. */
#undef LTTNG_UST_TRACEPOINT_PROVIDER
#define LTTNG_UST_TRACEPOINT_PROVIDER ringlog_bench

#undef LTTNG_UST_TRACEPOINT_INCLUDE
#define LTTNG_UST_TRACEPOINT_INCLUDE "./ringlog_bench_tp.h"

#if !defined(RINGLOG_BENCH_TP_H) || defined(LTTNG_UST_TRACEPOINT_HEADER_MULTI_READ)
#define RINGLOG_BENCH_TP_H

#include <lttng/tracepoint.h>
#include <stdint.h>

LTTNG_UST_TRACEPOINT_EVENT(
    ringlog_bench,
    request,
    LTTNG_UST_TP_ARGS(uint64_t, id, double, lat, const char *, worker),
    LTTNG_UST_TP_FIELDS(
        lttng_ust_field_integer(uint64_t, id, id)
        lttng_ust_field_float(double, lat, lat)
        lttng_ust_field_string(worker, worker)
    )
)

LTTNG_UST_TRACEPOINT_LOGLEVEL(ringlog_bench, request, LTTNG_UST_TRACEPOINT_LOGLEVEL_INFO)

#endif

#include <lttng/tracepoint-event.h>
