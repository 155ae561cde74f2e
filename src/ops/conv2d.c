#include "config.h"
#include "ops_internal.h"
