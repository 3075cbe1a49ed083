/* The loops of loops.h, ctx build. */
#define BENCH_MODE_CTX
#include "loops.h"
