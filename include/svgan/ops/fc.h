/* fc ops (stub) */
#ifndef SVGAN_OPS_FC_H
#define SVGAN_OPS_FC_H
#include "svgan/tensor.h"
#endif
