/* svgan — one StyleGAN-V training iteration (issue 4) — being written. */
#ifndef SVGAN_TRAINER_H
#define SVGAN_TRAINER_H
#include "svgan/discriminator.h"
#endif
