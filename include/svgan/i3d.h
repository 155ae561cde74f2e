/* I3D (Inception-v1 inflated, Kinetics-400), the FVD feature detector
 * (spec fvd.md §2).  Inference only.
 *
 * Weights: the 50,818,176-byte TF checkpoint data file (TF-Hub
 * i3d-kinetics-400/1 variables.data-00000-of-00001 == DeepMind kinetics-i3d
 * rgb_scratch model.ckpt.data-00000-of-00001), read through the layout table
 * i3d-tf-checkpoint-layout.tsv (name, shape, byte offset, byte size of all 230
 * tensors).  BatchNorm (no scale, eps 1e-3) is folded into the convolutions at
 * load time.
 *
 * Identity: sv_i3d_sha1 is the plain SHA-1 of the file (what sha1sum prints);
 * the spec only knows the official file's git blob SHA-1 (SHA-1 of
 * "blob 50818176\0" + data), so sv_i3d_is_official compares that one
 * (SV_I3D_OFFICIAL_GIT_SHA1). */
#ifndef SVGAN_I3D_H
#define SVGAN_I3D_H

#include <stdint.h>

#include "svgan/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SV_I3D_WEIGHTS_BYTES 50818176LL
#define SV_I3D_OFFICIAL_GIT_SHA1 "fa7df95674dbf3579e7fccd954e51e706b4734c1"
#define SV_I3D_FEATURES 400
#define SV_I3D_SIZE 224
/* ceil(ceil(ceil(T/2)/2)/2) >= 2 time steps must reach the (2,7,7) VALID average pool. */
#define SV_I3D_MIN_FRAMES 9
#define SV_I3D_ENDPOINTS 16

typedef struct sv_i3d sv_i3d;

/* Reads the TF checkpoint data file `weights_path` using the layout table
 * `layout_tsv` (NULL: $SVGAN_DATA_DIR/i3d-tf-checkpoint-layout.tsv, else the
 * installed copy in $(pkgdatadir)), checks the size (exactly 50,818,176
 * bytes), computes the SHA-1s, folds BatchNorm into the convolutions and
 * uploads the weights.  Errors: SV_ERR_IO (missing/unreadable file),
 * SV_ERR_FORMAT (wrong size, malformed table, tensor missing or of the wrong
 * shape), messages in ctx. */
int sv_i3d_load(sv_ctx *ctx, const char *weights_path, const char *layout_tsv, sv_i3d **out);
/* A network with random folded weights (conv w ~ U with variance 2/fan_in,
 * biases ~ 0.1·U(−1, 1); logits variance 1/fan_in), deterministic in seed,
 * for benchmarks and tests without the real file; SHA-1s are empty. */
int sv_i3d_load_random(sv_ctx *ctx, uint64_t seed, sv_i3d **out);
void sv_i3d_free(sv_i3d *net);
const char *sv_i3d_sha1(const sv_i3d *net);     /* 40 hex chars, SHA-1 of the file */
const char *sv_i3d_git_sha1(const sv_i3d *net); /* 40 hex chars, git blob SHA-1 */
int sv_i3d_is_official(const sv_i3d *net);      /* git blob SHA-1 == SV_I3D_OFFICIAL_GIT_SHA1 */

/* clips: host uint8 [n, T, 3, H, W] (planar frames); T >= SV_I3D_MIN_FRAMES,
 * H, W >= 1.  Each frame is resized on the device to 224x224 (bilinear,
 * half-pixel centres, no antialias) and scaled x/255*2-1; feats (host,
 * n x 400) = pre-softmax logits averaged over time.  Runs in batches of clips
 * so that device memory stays near sv_i3d_set_batch_bytes (default 1 GiB;
 * at least one clip per batch). */
int sv_i3d_features(sv_i3d *net, const uint8_t *clips, int n, int T, int H, int W, float *feats);

/* Same, plus (acts != NULL) every endpoint's output averaged over T, H, W:
 * acts[e] is n x sv_i3d_endpoint_channels(e) floats (caller-allocated). */
int sv_i3d_features_ex(sv_i3d *net, const uint8_t *clips, int n, int T, int H, int W, float *feats, float **acts);
const char *sv_i3d_endpoint_name(int e); /* "Conv3d_1a_7x7" ... "Mixed_5c"; NULL out of range */
int sv_i3d_endpoint_channels(int e);

void sv_i3d_set_batch_bytes(sv_i3d *net, size_t bytes);

/* Wall-clock split of the forward pass by layer type (seconds, accumulated
 * while enabled; enabling finishes the queue after every stage, which costs a
 * little throughput). */
typedef struct sv_i3d_prof {
    double resize_s, im2col_s, gemm_s, bias_relu_s, maxpool_s, logits_s, upload_s;
} sv_i3d_prof;
void sv_i3d_set_profile(sv_i3d *net, int on);
void sv_i3d_get_profile(const sv_i3d *net, sv_i3d_prof *p);

/* float64 host reference of the whole network, written independently of the
 * device path: reads the weights file itself, applies conv, then BatchNorm
 * (unfolded), then ReLU, with the same preprocessing.  Slow (~27.8 GMAC per
 * 16-frame clip).  acts as above (may be NULL), in double. */
int sv_ref_i3d_features(const char *weights_path, const char *layout_tsv, const uint8_t *clips, int n, int T, int H,
                        int W, double *feats, double **acts, sv_err *e);

#ifdef __cplusplus
}
#endif
#endif
