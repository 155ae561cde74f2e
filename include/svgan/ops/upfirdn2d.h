/* upfirdn2d ops (stub) */
#ifndef SVGAN_OPS_UPFIRDN2D_H
#define SVGAN_OPS_UPFIRDN2D_H
#include "svgan/tensor.h"
#endif
