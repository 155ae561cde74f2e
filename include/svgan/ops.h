/* svgan — the op library.
 *
 * One op family = include/svgan/ops/NAME.h + src/ops/NAME.c + cl/NAME.cl +
 * tests/test_NAME.c.  Every op has a device forward, a device backward, and a
 * plain-C float64 host reference of both (sv_ref_*), which the tests compare
 * against and check by central differences.
 *
 * Conventions shared by all ops
 * - Tensors are NCHW float32, row-major, from the tensor's element offset.
 * - Outputs are written into caller-allocated tensors of the documented shape
 *   (shapes are checked; a mismatch is an SV_ERR_INVALID with a message).
 * - Gradients w.r.t. parameters take an `accumulate` flag: 0 overwrites,
 *   1 adds into the gradient tensor.  This serves frames-share-weights sums and
 *   the two streams of the R1 computation below.
 * - Fixed reduction orders, no float atomics: results are bit-reproducible
 *   on one device.
 *
 * Exact R1 (second order) — the method
 * ------------------------------------
 * The R1 regulariser is R = (γ/2)·Σ_f c_f ‖g_f‖², g = ∂(Σ_b D(x)_b)/∂x, and the
 * training step needs ∂R/∂θ for every D parameter θ.  svgan computes it by
 * *forward-mode tangents followed by reverse mode* (reverse-over-forward):
 *
 *   ∂R/∂θ = γ · (∂g/∂θ)ᵀ (c⊙g) = γ · ∂/∂θ ⟨c⊙g, ∇ₓΣD(x, θ)⟩|_{g fixed}
 *          = γ · ∇θ J(θ),  J(θ) = d/dε ΣD(x + ε·(c⊙g), θ) at ε = 0,
 *
 * i.e. (1) one ordinary forward + backward gives g; (2) a *dual* forward pass
 * carries a tangent ẋ = c⊙g next to every activation (ẏ = J_op(x)·ẋ; the
 * parameters have no tangent); (3) reverse mode through that dual pass, seeded
 * with ∂J/∂ẏ_out = γ and ∂J/∂y_out = 0, yields ∇θ J.  For each D op this needs:
 *   - linear ops (conv, FC without bias, upfirdn2d, concat, reshape, sum): the
 *     tangent is the op itself applied to ẋ (no bias); the dual backward is
 *     the ordinary backward applied to both streams, parameter gradients
 *     accumulated: gW = gy·xᵀ + gẏ·ẋᵀ (hence the accumulate flag);
 *   - bias_act (lrelu/linear, gain, clamp): ẏ = f'(y)·ẋ; dual backward
 *     gẋ = f'·gẏ, gx = f'·gy (f'' = 0 almost everywhere), gb = Σ gx (never
 *     from gẋ: the bias has no tangent) — the tangent and backward kernels
 *     are the same derivative-mask kernel;
 *   - minibatch-std (genuinely second order): sv_mbstd_jvp and
 *     sv_mbstd_jvp_bwd (see ops/mbstd.h);
 *   - the projection head logit = ⟨out, cmap⟩/√C (cmap depends on the times
 *     only, so it has no tangent): with the seed γ on the logit's tangent,
 *     gȯut = γ·cmap/√C, gout = 0, and gcmap = γ·ȯut/√C, which then goes
 *     through the ordinary backward of the time-conditioning MLP, normalize
 *     and embedding table;
 *   - the ADA augmentation in front of D (ops/augment.h): for fixed random
 *     parameters it is affine, y = A·x + b, and R1 is taken w.r.t. the
 *     un-augmented frames: g = Aᵀ·g_y, and ∂R/∂θ = γ·(∂g_y/∂θ)ᵀ·A·(c⊙g),
 *     so the tangent entering D is ẏ = A·(c⊙g) (sv_augment_jvp, the linear
 *     part without the colour translation) and nothing else changes
 *     (sv_discriminator_r1_aug; checked in tests/test_r1_aug.c).
 * Consequences worth knowing (checked in tests/test_r1_host.c, which
 * validates this method on a float64 host-reference D against central
 * differences, worst 3.4e-7): the biases after minibatch-std (b4.conv, b4.fc,
 * b4.out) get exactly zero R1 gradient, as in the official bundles, and every
 * other bias gets its R1 gradient only through minibatch-std's second-order
 * term (small, ~1e-6 in the bundle, so the mbstd jvp_bwd must be accurate).
 * Compared with double backprop (reverse-over-reverse) it needs no
 * "backward of the backward" kernels, and the tangent pass reuses the forward
 * kernels.  Nothing is approximated by finite differences. */
#ifndef SVGAN_OPS_H
#define SVGAN_OPS_H

#include "svgan/ops/bias_act.h"
#include "svgan/ops/fc.h"
#include "svgan/ops/normalize.h"
#include "svgan/ops/elementwise.h"
#include "svgan/ops/optim.h"
#include "svgan/ops/conv2d.h"
#include "svgan/ops/upfirdn2d.h"
#include "svgan/ops/modconv.h"
#include "svgan/ops/conv1d.h"
#include "svgan/ops/timeenc.h"
#include "svgan/ops/mbstd.h"
#include "svgan/ops/augment.h"

#endif
