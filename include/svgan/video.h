/* svgan — video and image output (placeholder; see issue 3). */
#ifndef SVGAN_VIDEO_H
#define SVGAN_VIDEO_H
#include "svgan/status.h"
#endif
