/* A second copy of the direct build (see loops.h): the A/A control. */
#define BENCH_MODE_DIRECT
#define BENCH_COPY
#include "loops.h"
