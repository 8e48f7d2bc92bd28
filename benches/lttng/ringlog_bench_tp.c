/* The tracepoint provider's probes (compiled into the load generator). */
#define LTTNG_UST_TRACEPOINT_CREATE_PROBES
#define LTTNG_UST_TRACEPOINT_DEFINE
#include "ringlog_bench_tp.h"
