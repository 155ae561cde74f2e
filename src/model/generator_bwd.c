#include "config.h"
#include "generator_internal.h"
