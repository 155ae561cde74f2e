/* svgan — StyleGAN-V in C11 + OpenCL.  Umbrella header of libsvgan. */
#ifndef SVGAN_SVGAN_H
#define SVGAN_SVGAN_H

#include "svgan/status.h"
#include "svgan/runtime.h"
#include "svgan/tensor.h"
#include "svgan/gemm.h"
#include "svgan/safetensors.h"
#include "svgan/params.h"
#include "svgan/rng.h"
#include "svgan/ops.h"
#include "svgan/ops/conv3d.h"
#include "svgan/generator.h"
#include "svgan/discriminator.h"
#include "svgan/trainer.h"
#include "svgan/video.h"
#include "svgan/dataset.h"
#include "svgan/i3d.h"
#include "svgan/fvd.h"

#endif
