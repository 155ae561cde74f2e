#include "config.h"
#include "svgan/video.h"
