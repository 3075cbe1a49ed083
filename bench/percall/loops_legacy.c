/* The loops of loops.h, legacy build (see loops.h). */
#define BENCH_MODE_LEGACY
#include "loops.h"
