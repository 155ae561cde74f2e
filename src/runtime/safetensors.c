#include "config.h"
#include "svgan/safetensors.h"
