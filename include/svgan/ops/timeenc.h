/* timeenc ops (stub) */
#ifndef SVGAN_OPS_TIMEENC_H
#define SVGAN_OPS_TIMEENC_H
#include "svgan/tensor.h"
#endif
