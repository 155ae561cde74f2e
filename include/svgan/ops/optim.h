/* optim ops (stub) */
#ifndef SVGAN_OPS_OPTIM_H
#define SVGAN_OPS_OPTIM_H
#include "svgan/tensor.h"
#endif
