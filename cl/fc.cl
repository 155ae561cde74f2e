/* fc — the layer is GEMM (svgan/gemm.h) followed by the bias_act kernels
 * (bias_act.cl); it has no kernels of its own. */
