/* A second copy of the direct build: the A/A control. */
#define BENCH_MODE_DIRECT
#define BENCH_COPY
#include "loops.h"
