/* The loops of loops.h, legacy build. */
#define BENCH_MODE_LEGACY
#include "loops.h"
