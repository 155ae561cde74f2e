/* mbstd ops (stub) */
#ifndef SVGAN_OPS_MBSTD_H
#define SVGAN_OPS_MBSTD_H
#include "svgan/tensor.h"
#endif
