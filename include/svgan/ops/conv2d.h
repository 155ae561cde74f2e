/* conv2d ops (stub) */
#ifndef SVGAN_OPS_CONV2D_H
#define SVGAN_OPS_CONV2D_H
#include "svgan/tensor.h"
#endif
