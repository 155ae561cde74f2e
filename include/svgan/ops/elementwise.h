/* elementwise ops (stub) */
#ifndef SVGAN_OPS_ELEMENTWISE_H
#define SVGAN_OPS_ELEMENTWISE_H
#include "svgan/tensor.h"
#endif
