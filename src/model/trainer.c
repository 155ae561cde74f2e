#include "config.h"
#include "svgan/svgan.h"
#include "svgan/trainer.h"
