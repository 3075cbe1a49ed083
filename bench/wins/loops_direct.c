/* The loops of loops.h, direct build. */
#define BENCH_MODE_DIRECT
#include "loops.h"
