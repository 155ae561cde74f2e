#include "config.h"
#include "internal.h"
#include "svgan/gemm.h"
void sv_gemm_state_free(sv_ctx *ctx) { (void)ctx; }
