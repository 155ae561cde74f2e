/* normalize ops (stub) */
#ifndef SVGAN_OPS_NORMALIZE_H
#define SVGAN_OPS_NORMALIZE_H
#include "svgan/tensor.h"
#endif
