/* Private layout of the generator's forward state (struct sv_gen_fwd),
 * shared by generator_fwd.c (forward, streaming sampler, training forward)
 * and generator_bwd.c (backward).  Not installed. */
#ifndef SVGAN_GENERATOR_LAYOUT_H
#define SVGAN_GENERATOR_LAYOUT_H

#include "generator_internal.h"

#define MAX_BLOCKS 10 /* 4 … 2048 */
#define MAX_MAP 32
#define MAX_MOT 8

/* ---- layer table ---------------------------------------------------------- */

typedef struct gl_layer {
    char name[48];      /* "synthesis.b8.conv0" */
    int blk;            /* block index (b4 = 0) */
    int kind;           /* 0 conv0 (up 2), 1 conv1, 2 torgb */
    sv_tensor *aw, *ab; /* affine weight [Cin, w_dim], bias [Cin] */
    sv_tensor *w, *b;   /* weight [Cout, Cin, k, k], bias [Cout] */
    int64_t cin, cout;
    sv_modconv_params mp;
} gl_layer;

/* scratch slots */
enum {
    S_MAPX, S_MAPY, S_WAVG, S_TOK, S_TOKT, S_MOT0, /* S_MOT0 + i: motion layer i output */
    S_PRED = S_MOT0 + MAX_MOT, /* + 0..8: predictor outputs, sequences, unused right codes */
    S_PR = S_PRED + 9, S_PH, S_AL, S_AR, S_T, S_V,
    S_CB, S_VB, S_IN4,
    S_LAYER0 /* + layer index: layer outputs; then per block: upsampled img, img;
                then the training slots (f->t_map0, f->t_pre0) */
};

/* Per-video state: the styles of every layer. */
typedef struct vstate {
    int64_t B;
    sv_tensor *s; /* [3·MAX_BLOCKS], layer i: [B, Cin] (ToRGB: already ·1/√Cin) */
} vstate;

/* What a training forward keeps for sv_generator_backward (besides the
 * scratch slots, which hold every intermediate of the last forward). */
typedef struct gen_train {
    int valid;      /* set by a training forward; cleared by any other forward */
    int64_t B, F, NF, nr;
    double *tg;     /* [NF] gather times of the motion-code rows */
    vstate vs;      /* styles */
    const sv_tensor *w; /* w [B, w_dim] (a slot) */
} gen_train;

struct sv_gen_fwd {
    int nmap, nmot, nblocks, nlayers;
    sv_tensor *map_w[MAX_MAP], *map_b[MAX_MAP];
    sv_tensor *mot_w[MAX_MOT], *mot_b[MAX_MOT];
    int64_t mot_shrink; /* Σ (K_i − 1) */
    sv_tensor *Wper, *Wph, *Wal, *freqs, *pscales, *w_avg, *cst;
    gl_layer *L;
    int nslots;
    sv_tensor *slot;
    /* training mode: the forward in progress keeps everything */
    int training;
    int t_map0;             /* slot of mapping layer i's output: t_map0 + i */
    int t_pre0;             /* slot of layer i's modconv output (before bias_act): t_pre0 + i */
    sv_modconv_cache *mc;   /* [nlayers] */
    gen_train tr;
};

void sv_gen_vstate_free(vstate *vs);

#endif
