/* The loops of loops.h, direct build (see loops.h). */
#define BENCH_MODE_DIRECT
#include "loops.h"
