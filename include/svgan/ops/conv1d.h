/* conv1d ops (stub) */
#ifndef SVGAN_OPS_CONV1D_H
#define SVGAN_OPS_CONV1D_H
#include "svgan/tensor.h"
#endif
