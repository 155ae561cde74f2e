/* modconv ops (stub) */
#ifndef SVGAN_OPS_MODCONV_H
#define SVGAN_OPS_MODCONV_H
#include "svgan/tensor.h"
#endif
