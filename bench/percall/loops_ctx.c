/* The loops of loops.h, ctx build (see loops.h). */
#define BENCH_MODE_CTX
#include "loops.h"
