/* safetensors (stub; see issue 2) */
#ifndef SVGAN_SAFETENSORS_H
#define SVGAN_SAFETENSORS_H
#include "svgan/status.h"
#endif
