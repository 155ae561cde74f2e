#include "config.h"
#include "svgan/gemm.h"
