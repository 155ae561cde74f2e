/* svgan augment: show what the ADA "bgc" pipeline does to real clips.  One grid image: a row per
 * clip, its k frames as the trainer samples them, then the same frames augmented with that clip's
 * single draw of parameters (the trainer's pipeline and kernels). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: svgan augment [--data PATH] [--p P] [--clips N] [--k K] [--seed S] [--device X] -o FILE\n"
               "Write a grid image (.png or .jpg) of N real clips of K frames (rows): the frames as the trainer\n"
               "samples them, then the same frames through the ADA bgc augmentation at probability P with one\n"
               "draw of parameters per clip, as svgan train applies it.  Defaults: --data demo, --p 1,\n"
               "--clips 4, --k 3, --seed 0.  See svgan-train(1) (--aug).\n");
}

static int parse_ll(const char *opt, const char *v, long long lo, long long hi, long long *out)
{
    char *end;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || x < lo || x > hi) {
        cli_error("augment: --%s '%s': expected an integer in [%lld, %lld]", opt, v, lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

int cmd_augment(int argc, char **argv)
{
    const char *data = "demo", *out = NULL, *device = NULL;
    double p = 1.0;
    long long clips = 4, k = 3, seed = 0;
    static const char *const names[] = {"--data", "--p", "--clips", "--k", "--seed", "-o", "--output", NULL};
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
        if (cli_device_opt(argc, argv, &i, &device))
            continue;
        int w = cli_take_value("augment", argc, argv, &i, names, &v);
        if (w == -2)
            return 2;
        if (w < 0) {
            cli_error("augment: unknown option '%s' (see 'svgan augment --help')", argv[i]);
            return 2;
        }
        if (w == 0)
            data = v;
        else if (w == 1) {
            char *end;
            p = strtod(v, &end);
            if (!*v || *end || !(p >= 0) || p > 1e6) {
                cli_error("augment: --p '%s': expected a number >= 0", v);
                return 2;
            }
        } else if ((w == 2 && parse_ll("clips", v, 1, 64, &clips)) || (w == 3 && parse_ll("k", v, 1, 16, &k)) ||
                   (w == 4 && parse_ll("seed", v, 0, 0x7fffffffffffffffLL, &seed)))
            return 2;
        else if (w >= 5)
            out = v;
    }
    if (!out) {
        cli_error("augment: an output image is required (-o FILE.png)");
        return 2;
    }

    int rc = 1;
    sv_err e = {0};
    sv_dataset *ds = NULL;
    sv_clip_sampler *cs = NULL;
    sv_ctx *ctx = NULL;
    sv_augment_clip *dr = NULL;
    sv_augment_plan *plan = NULL;
    sv_tensor x = {0}, y = {0};
    int64_t *lens = NULL, *fidx = NULL;
    uint8_t *u8 = NULL, *grid = NULL, *tiles = NULL;
    float *hx = NULL, *hy = NULL;
    const uint8_t **cells = NULL;

    sv_dataset_opts dso;
    sv_dataset_opts_default(&dso);
    if (sv_dataset_open(data, &dso, &ds, &e)) {
        cli_error("augment: %s", e.msg);
        goto out;
    }
    const int64_t NV = sv_dataset_num_videos(ds), R = sv_dataset_resolution(ds), B = clips, K = k;
    const int64_t fr = 3 * R * R;
    if (!(lens = malloc((size_t)NV * sizeof *lens)) || !(fidx = malloc((size_t)K * sizeof *fidx)) ||
        !(u8 = malloc((size_t)(B * K * fr))) || !(hx = malloc((size_t)(B * K * fr) * sizeof *hx)) ||
        !(hy = malloc((size_t)(B * K * fr) * sizeof *hy)) || !(dr = malloc((size_t)B * sizeof *dr)) ||
        !(tiles = malloc((size_t)(2 * B * K * fr))) || !(cells = malloc((size_t)(2 * B * K) * sizeof *cells))) {
        cli_error("augment: out of memory");
        goto out;
    }
    for (int64_t v = 0; v < NV; v++)
        lens[v] = sv_dataset_video_frames(ds, v);
    if (sv_clip_sampler_new(lens, NV, 1, (int)K, 1024, 32, (uint64_t)seed, &cs, &e)) {
        cli_error("augment: %s", e.msg);
        goto out;
    }
    for (int64_t b = 0; b < B; b++) {
        int64_t v;
        int flip;
        if (sv_clip_sampler_get(cs, b, &v, &flip, fidx, NULL) ||
            sv_dataset_read(ds, v, fidx, (int)K, flip, u8 + b * K * fr, &e)) {
            cli_error("augment: %s", e.msg[0] ? e.msg : "clip sampling failed");
            goto out;
        }
    }
    for (int64_t i = 0; i < B * K * fr; i++)
        hx[i] = (float)u8[i] / 127.5f - 1.0f;

    if (sv_ctx_create(&ctx, device, &e)) {
        cli_error("augment: %s", e.msg);
        goto out;
    }
    const int64_t shape[4] = {B * K, 3, R, R};
    if (sv_augment_draw(NULL, p, B, (int)R, (int)R, (uint64_t)seed, SV_TRAIN_AUG_STREAM, dr, &e) ||
        sv_augment_plan_new(ctx, dr, B, K, (int)R, (int)R, &plan) || sv_tensor_new(ctx, &x, 4, shape) ||
        sv_tensor_new(ctx, &y, 4, shape) || sv_tensor_write(&x, hx, (size_t)(B * K * fr)) ||
        sv_augment_fwd(ctx, plan, &x, &y) || sv_tensor_read(&y, hy, (size_t)(B * K * fr))) {
        cli_error("augment: %s", e.msg[0] ? e.msg : sv_ctx_errmsg(ctx));
        goto out;
    }
    /* rows: clips; columns: K original frames, then K augmented */
    for (int64_t b = 0; b < B; b++)
        for (int64_t f = 0; f < 2 * K; f++) {
            const float *src = (f < K ? hx : hy) + (b * K + f % K) * fr;
            uint8_t *t = tiles + (b * 2 * K + f) * fr;
            sv_frames_to_rgb24(src, (int)R, (int)R, t);
            cells[b * 2 * K + f] = t;
        }
    int GH, GW;
    sv_grid_size((int)B, (int)(2 * K), (int)R, (int)R, -1, &GH, &GW);
    if (!(grid = malloc((size_t)GH * (size_t)GW * 3))) {
        cli_error("augment: out of memory");
        goto out;
    }
    sv_grid_compose(cells, (int)B, (int)(2 * K), (int)R, (int)R, -1, grid);
    if (sv_image_write(out, grid, GW, GH, 95, &e)) {
        cli_error("augment: %s", e.msg);
        goto out;
    }
    printf("svgan augment: %s: %lld clips x %lld frames of %s at p = %g (left: as sampled, right: augmented)\n",
           out, (long long)B, (long long)K, data, p);
    for (int64_t b = 0; b < B; b++) {
        printf("clip %lld:", (long long)b);
        static const char *const opn[SV_AUG_NUM_OPS] = {"xflip", "rotate90", "xint", "scale", "rotate", "aniso",
                                                        "rotate2", "xfrac", "brightness", "contrast", "lumaflip",
                                                        "hue", "saturation"};
        int any = 0;
        for (int j = 0; j < SV_AUG_NUM_OPS; j++)
            if (dr[b].fired & (1u << j)) {
                printf(" %s", opn[j]);
                any = 1;
            }
        printf("%s\n", any ? "" : " (identity)");
    }
    rc = 0;
out:
    sv_tensor_free(&x);
    sv_tensor_free(&y);
    sv_augment_plan_free(plan);
    sv_ctx_destroy(ctx);
    sv_clip_sampler_free(cs);
    sv_dataset_close(ds);
    free(lens);
    free(fidx);
    free(u8);
    free(hx);
    free(hy);
    free(dr);
    free(tiles);
    free(cells);
    free(grid);
    return rc;
}
