/* svgan — the StyleGAN-V discriminator (spec §3) — being written (issue 4). */
#ifndef SVGAN_DISCRIMINATOR_H
#define SVGAN_DISCRIMINATOR_H
#include "svgan/generator.h"
#endif
