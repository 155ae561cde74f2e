/* svgan sample: render videos from a model file (see svgan-sample(1)). */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define DEMO_CHECKPOINT "demo-tiny32.svgan" /* in data/, installed in $(pkgdatadir) */

typedef struct sample_opts {
    const char *checkpoint, *output, *device, *image_format, *network;
    uint64_t *seeds;
    size_t nseeds;
    uint64_t seed0;
    int have_seed, num_videos;
    int64_t frames;
    double seconds, fps, time_scale, time_offset, psi;
    int grid_r, grid_c, cm_grid, batch, quality, force;
} sample_opts;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: svgan sample [--checkpoint FILE] -o OUTPUT [options]\n"
            "Render videos with a model's (EMA) generator; see svgan-sample(1).\n"
            "  --checkpoint FILE       model file (svgan init / svgan train); default: the shipped demo\n"
            "                          model " DEMO_CHECKPOINT " (tiny32, trained on the demo dataset)\n"
            "  -o, --output PATH       video file (.mp4 .mkv .webm .avi .mov) or a directory of frames\n"
            "  --seed N                seed of the first video (default 0); video i uses N+i\n"
            "  --seeds LIST            explicit seeds, e.g. 1,5,10-12\n"
            "  --num-videos N          number of videos (default 1, or the grid size)\n"
            "  --frames N              frames per video (default 64)\n"
            "  --seconds S             duration instead of --frames (round(S*fps) frames)\n"
            "  --fps F                 frame rate of the output (default 25)\n"
            "  --time-scale X          frames per dataset frame, any positive real (2.5 = 2.5x slow motion)\n"
            "  --time-offset T         time of the first frame in dataset frames (default 0)\n"
            "  --truncation PSI        truncation toward the average latent (default 1 = none)\n"
            "  --network G_ema|G       which generator of a training checkpoint (default G_ema when present)\n"
            "  --grid RxC              tile R*C videos into one output\n"
            "  --content-motion-grid   with --grid: rows share content, columns share motion\n"
            "  --batch N               frames per device call (default 16)\n"
            "  --image-format png|jpg  frame format for directory output (default png)\n"
            "  --quality Q             JPEG quality (default 95)\n"
            "  --force                 overwrite existing outputs\n"
            "  --device D              device index, type or name substring\n");
}

static int parse_double(const char *opt, const char *v, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (!*v || *end || errno || !isfinite(x) || x < lo || x > hi) {
        cli_error("sample: %s '%s': expected a number in [%g, %g]", opt, v, lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

static int parse_long(const char *opt, const char *v, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || errno || x < lo || x > hi) {
        cli_error("sample: %s '%s': expected an integer in [%lld, %lld]", opt, v, lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

/* "1,5,10-12" */
static int parse_seeds(const char *v, sample_opts *o)
{
    const char *p = v;
    while (*p) {
        char *end;
        errno = 0;
        unsigned long long a = strtoull(p, &end, 10), b;
        if (end == p || errno || *p == '-')
            goto bad;
        b = a;
        p = end;
        if (*p == '-') {
            p++;
            b = strtoull(p, &end, 10);
            if (end == p || errno || b < a || b - a > 100000)
                goto bad;
            p = end;
        }
        for (unsigned long long s = a;; s++) {
            uint64_t *n = realloc(o->seeds, (o->nseeds + 1) * sizeof *n);
            if (!n) {
                cli_error("sample: out of memory");
                return -1;
            }
            o->seeds = n;
            o->seeds[o->nseeds++] = s;
            if (s == b)
                break;
        }
        if (*p == ',')
            p++;
        else if (*p)
            goto bad;
    }
    if (o->nseeds == 0)
        goto bad;
    return 0;
bad:
    cli_error("sample: --seeds '%s': expected comma-separated seeds or ranges like 1,5,10-12", v);
    return -1;
}

static int has_video_ext(const char *path)
{
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash))
        return 0;
    const char *exts[] = {".mp4", ".mkv", ".webm", ".avi", ".mov"};
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
        if (!strcasecmp(dot, exts[i]))
            return 1;
    return 0;
}

/* path with "-seedN" before the extension */
static char *seeded_path(const char *path, uint64_t seed)
{
    const char *dot = strrchr(path, '.');
    size_t n = strlen(path) + 32;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%.*s-seed%llu%s", (int)(dot - path), path, (unsigned long long)seed, dot);
    return s;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void progress(int tty, int64_t done, int64_t total, double t0)
{
    if (!tty)
        return;
    double el = now_s() - t0, rate = el > 0 ? (double)done / el : 0, eta = rate > 0 ? (double)(total - done) / rate : 0;
    fprintf(stderr, "\rsvgan sample: frame %lld/%lld  %.2f frames/s  ETA %02d:%02d:%02d ", (long long)done,
            (long long)total, rate, (int)(eta / 3600), (int)fmod(eta / 60, 60), (int)fmod(eta, 60));
    if (done == total)
        fputc('\n', stderr);
    fflush(stderr);
}

/* One output: a video writer or a directory of frames. */
typedef struct sink {
    sv_video_writer *vw;
    char *dir; /* frames directory (NULL for video) */
    int64_t n;
} sink;

static int sink_put(sink *s, const uint8_t *rgb, int W, int H, const sample_opts *o, sv_err *e)
{
    if (s->vw)
        return sv_video_writer_put(s->vw, rgb, 0, e);
    char path[4096];
    snprintf(path, sizeof path, "%s/%06lld.%s", s->dir, (long long)s->n, o->image_format);
    s->n++;
    return sv_image_write(path, rgb, W, H, o->quality, e);
}

/* Use an existing directory (frames are written under new names and replace
 * same-named files atomically) or create it. */
static int make_dir(const char *d)
{
    struct stat st;
    if (stat(d, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            cli_error("sample: %s exists and is not a directory", d);
            return -1;
        }
        return 0;
    }
    if (mkdir(d, 0777) != 0) {
        cli_error("sample: cannot create directory %s: %s", d, strerror(errno));
        return -1;
    }
    return 0;
}

/* The demo model shipped in data/ (trained by svgan train; see README): $SVGAN_DATA_DIR, then
 * data/ next to $SVGAN_KERNEL_DIR (a source tree), then the install directory. */
static const char *default_checkpoint(char *buf, size_t n)
{
    const char *dd = getenv("SVGAN_DATA_DIR"), *kd = getenv("SVGAN_KERNEL_DIR");
    if (dd && *dd) {
        snprintf(buf, n, "%s/%s", dd, DEMO_CHECKPOINT);
        if (access(buf, R_OK) == 0)
            return buf;
    }
    if (kd && *kd) {
        snprintf(buf, n, "%s/../data/%s", kd, DEMO_CHECKPOINT);
        if (access(buf, R_OK) == 0)
            return buf;
    }
    snprintf(buf, n, "%s/%s", SVGAN_DATADIR, DEMO_CHECKPOINT);
    return access(buf, R_OK) == 0 ? buf : NULL;
}

int cmd_sample(int argc, char **argv)
{
    char default_ck[4200];
    sample_opts o;
    memset(&o, 0, sizeof o);
    o.frames = -1;
    o.seconds = -1;
    o.fps = 25;
    o.time_scale = 1;
    o.psi = 1;
    o.batch = 16;
    o.quality = 95;
    o.image_format = "png";
    int rc = 2;
    sv_err e = {0};
    sv_ctx *ctx = NULL;
    sv_st_file *f = NULL;
    sv_generator *g = NULL;
    static const char *const valued[] = {"--checkpoint", "-o", "--output", "--seed", "--seeds", "--num-videos",
                                         "--frames", "--seconds", "--fps", "--time-scale", "--time-offset",
                                         "--truncation", "--network", "--grid", "--batch", "--image-format",
                                         "--quality", NULL};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = cli_device_opt(argc, argv, &i, &o.device);
        if (r < 0)
            goto out;
        if (r > 0)
            continue;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            rc = 0;
            goto out;
        }
        if (!strcmp(a, "--content-motion-grid")) {
            o.cm_grid = 1;
            continue;
        }
        if (!strcmp(a, "--force")) {
            o.force = 1;
            continue;
        }
        const char *v = NULL;
        int which = cli_take_value("sample", argc, argv, &i, valued, &v);
        if (which == -2)
            goto out;
        if (which < 0) {
            cli_error("sample: unknown option '%s' (see 'svgan sample --help')", a);
            goto out;
        }
        a = valued[which]; /* the option's name also when given as --name=value */
        long long ll;
        if (!strcmp(a, "--checkpoint"))
            o.checkpoint = v;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output"))
            o.output = v;
        else if (!strcmp(a, "--seed")) {
            if (parse_long(a, v, 0, (long long)(INT64_MAX / 2), &ll))
                goto out;
            o.seed0 = (uint64_t)ll;
            o.have_seed = 1;
        } else if (!strcmp(a, "--seeds")) {
            if (parse_seeds(v, &o))
                goto out;
        } else if (!strcmp(a, "--num-videos")) {
            if (parse_long(a, v, 1, 100000, &ll))
                goto out;
            o.num_videos = (int)ll;
        } else if (!strcmp(a, "--frames")) {
            if (parse_long(a, v, 1, (long long)1 << 40, &ll))
                goto out;
            o.frames = ll;
        } else if (!strcmp(a, "--seconds")) {
            if (parse_double(a, v, 1e-6, 1e9, &o.seconds))
                goto out;
        } else if (!strcmp(a, "--fps")) {
            if (parse_double(a, v, 1e-3, 1000, &o.fps))
                goto out;
        } else if (!strcmp(a, "--time-scale")) {
            if (parse_double(a, v, 1e-6, 1e9, &o.time_scale))
                goto out;
        } else if (!strcmp(a, "--time-offset")) {
            if (parse_double(a, v, 0, 1e12, &o.time_offset))
                goto out;
        } else if (!strcmp(a, "--truncation")) {
            if (parse_double(a, v, -10, 10, &o.psi))
                goto out;
        } else if (!strcmp(a, "--network")) {
            if (strcmp(v, "G_ema") && strcmp(v, "G")) {
                cli_error("sample: --network '%s': expected G_ema or G", v);
                goto out;
            }
            o.network = v;
        } else if (!strcmp(a, "--grid")) {
            int r2, c2;
            char x;
            if (sscanf(v, "%d%c%d", &r2, &x, &c2) != 3 || (x != 'x' && x != 'X') || r2 < 1 || c2 < 1 ||
                r2 * c2 > 4096) {
                cli_error("sample: --grid '%s': expected RxC, e.g. 2x3", v);
                goto out;
            }
            o.grid_r = r2;
            o.grid_c = c2;
        } else if (!strcmp(a, "--batch")) {
            if (parse_long(a, v, 1, 4096, &ll))
                goto out;
            o.batch = (int)ll;
        } else if (!strcmp(a, "--image-format")) {
            if (strcmp(v, "png") && strcmp(v, "jpg")) {
                cli_error("sample: --image-format '%s': expected png or jpg", v);
                goto out;
            }
            o.image_format = v;
        } else if (!strcmp(a, "--quality")) {
            if (parse_long(a, v, 1, 100, &ll))
                goto out;
            o.quality = (int)ll;
        } else {
            cli_error("sample: unknown option '%s' (see 'svgan sample --help')", a);
            goto out;
        }
    }
    if (!o.output) {
        cli_error("sample: -o OUTPUT is required (see 'svgan sample --help')");
        goto out;
    }
    if (!o.checkpoint && !(o.checkpoint = default_checkpoint(default_ck, sizeof default_ck))) {
        cli_error("sample: no --checkpoint and no demo model %s found (set SVGAN_DATA_DIR or install svgan)",
                  DEMO_CHECKPOINT);
        goto out;
    }
    if (o.cm_grid && !o.grid_r) {
        cli_error("sample: --content-motion-grid needs --grid RxC");
        goto out;
    }
    if (o.frames > 0 && o.seconds > 0) {
        cli_error("sample: give --frames or --seconds, not both");
        goto out;
    }
    if (o.seconds > 0)
        o.frames = (int64_t)llround(o.seconds * o.fps);
    if (o.frames < 1)
        o.frames = o.seconds > 0 ? 1 : 64;
    if (o.have_seed && o.nseeds) {
        cli_error("sample: give --seed or --seeds, not both");
        goto out;
    }
    const int per_output = o.grid_r ? o.grid_r * o.grid_c : 1;
    /* videos to render (grid cells count as videos) */
    int nvid = o.num_videos ? o.num_videos : (o.nseeds ? (int)o.nseeds : per_output);
    if (o.grid_r && nvid % per_output) {
        cli_error("sample: --num-videos %d is not a multiple of the grid's %d cells", nvid, per_output);
        goto out;
    }
    if (o.nseeds && (size_t)nvid > o.nseeds && !o.cm_grid) {
        cli_error("sample: %d videos but only %zu seeds", nvid, o.nseeds);
        goto out;
    }
    const int video_out = has_video_ext(o.output);

    /* ---- model ---- */
    rc = 1;
    sv_mconfig cfg;
    if (sv_checkpoint_open(o.checkpoint, &f, &cfg, &e)) {
        cli_error("%s", e.msg);
        goto out;
    }
    if (sv_ctx_create(&ctx, o.device, &e)) {
        cli_error("%s", e.msg);
        goto out;
    }
    if (sv_generator_new(ctx, &cfg, &g) || sv_checkpoint_load_generator(f, o.network, g, &e)) {
        cli_error("%s", e.msg[0] ? e.msg : sv_ctx_errmsg(ctx));
        goto out;
    }
    sv_st_close(f);
    f = NULL;

    const int R = cfg.resolution, z_dim = cfg.z_dim;
    const int64_t batch_frames = o.batch;
    int tty = isatty(2);
    double t0 = now_s();
    int64_t total = (int64_t)nvid / per_output * o.frames, done = 0;
    int GH = R, GW = R;
    if (o.grid_r)
        sv_grid_size(o.grid_r, o.grid_c, R, R, -1, &GH, &GW);
    size_t frame_floats = (size_t)3 * R * R;
    float *host = NULL, *z = NULL;
    uint8_t *rgb = NULL, *grid = NULL;
    uint64_t *mseed = NULL, *mstream = NULL;
    double *t = NULL;
    const uint8_t **tiles = NULL;
    sv_gen_video *gv = NULL;
    sv_tensor frames = {0};
    sink sk = {0};
    char *opath = NULL;
    const char *encoder = NULL;

    for (int out_i = 0; out_i < nvid / per_output; out_i++) {
        const int B = per_output;
        /* seeds of this output's videos */
        free(z);
        free(mseed);
        free(mstream);
        z = malloc((size_t)B * z_dim * sizeof *z);
        mseed = malloc((size_t)B * sizeof *mseed);
        mstream = calloc((size_t)B, sizeof *mstream);
        if (!z || !mseed || !mstream) {
            cli_error("sample: out of memory");
            goto fail;
        }
        uint64_t first_seed = 0;
        for (int b = 0; b < B; b++) {
            int vi = out_i * B + b;
            int ci = vi, mi = vi; /* content and motion video index */
            if (o.cm_grid) {
                ci = out_i * B + (b / o.grid_c) ;   /* row r: content r */
                mi = out_i * B + (b % o.grid_c);    /* column c: motion c */
            }
            uint64_t cs = o.nseeds ? o.seeds[ci % (int)o.nseeds] : o.seed0 + (uint64_t)ci;
            uint64_t ms = o.nseeds ? o.seeds[mi % (int)o.nseeds] : o.seed0 + (uint64_t)mi;
            if (b == 0)
                first_seed = cs;
            sv_rng_normal(cs, SV_STREAM_Z, 0, (size_t)z_dim, z + (size_t)b * z_dim);
            mseed[b] = ms;
            mstream[b] = 0;
        }
        sv_gen_video_free(gv);
        gv = NULL;
        if (sv_generator_begin(g, B, z, mseed, mstream, (float)o.psi, &gv)) {
            cli_error("%s", sv_ctx_errmsg(ctx));
            goto fail;
        }
        /* output sink */
        memset(&sk, 0, sizeof sk);
        free(opath);
        opath = NULL;
        if (video_out) {
            opath = (nvid / per_output > 1) ? seeded_path(o.output, first_seed) : strdup(o.output);
            if (!opath) {
                cli_error("sample: out of memory");
                goto fail;
            }
            if (!o.force && access(opath, F_OK) == 0) {
                cli_error("sample: %s exists (use --force to overwrite)", opath);
                goto fail;
            }
            int num, den;
            if (sv_video_fps_rational(o.fps, &num, &den, &e) ||
                sv_video_writer_open(opath, GW, GH, num, den, NULL, &sk.vw, &e)) {
                cli_error("%s", e.msg);
                goto fail;
            }
            encoder = sv_video_writer_encoder(sk.vw);
        } else {
            if (make_dir(o.output))
                goto fail;
            size_t n = strlen(o.output) + 64;
            opath = malloc(n);
            if (!opath) {
                cli_error("sample: out of memory");
                goto fail;
            }
            if (o.grid_r && nvid / per_output == 1)
                snprintf(opath, n, "%s", o.output); /* one grid: frames directly in the directory */
            else if (o.grid_r)
                snprintf(opath, n, "%s/grid%04d", o.output, out_i);
            else
                snprintf(opath, n, "%s/seed%llu", o.output, (unsigned long long)first_seed);
            if (make_dir(opath))
                goto fail;
            sk.dir = opath;
        }
        /* frames in chunks of Fc frames per video */
        int64_t Fc = batch_frames / B;
        if (Fc < 1)
            Fc = 1;
        if (Fc > o.frames)
            Fc = o.frames;
        sv_tensor_free(&frames);
        int64_t fs[4] = {(int64_t)B * Fc, 3, R, R};
        free(host);
        free(t);
        free(rgb);
        free(grid);
        free(tiles);
        host = malloc((size_t)B * Fc * frame_floats * sizeof *host);
        t = malloc((size_t)B * Fc * sizeof *t);
        rgb = malloc((size_t)B * Fc * R * R * 3);
        grid = malloc((size_t)GH * GW * 3);
        tiles = calloc((size_t)B, sizeof *tiles);
        if (!host || !t || !rgb || !grid || !tiles || sv_tensor_new(ctx, &frames, 4, fs)) {
            cli_error("sample: out of memory");
            goto fail;
        }
        for (int64_t k0 = 0; k0 < o.frames; k0 += Fc) {
            int64_t nf = o.frames - k0 < Fc ? o.frames - k0 : Fc;
            sv_tensor view;
            int64_t vs[4] = {(int64_t)B * nf, 3, R, R};
            if (sv_tensor_view(&frames, &view, 0, 4, vs)) {
                cli_error("%s", sv_ctx_errmsg(ctx));
                goto fail;
            }
            for (int b = 0; b < B; b++)
                for (int64_t k = 0; k < nf; k++)
                    t[b * nf + k] = o.time_offset + (double)(k0 + k) / o.time_scale;
            int r2 = sv_generator_frames(gv, t, nf, &view);
            if (!r2)
                r2 = sv_tensor_read(&view, host, (size_t)B * nf * frame_floats);
            sv_tensor_free(&view);
            if (r2) {
                cli_error("%s", sv_ctx_errmsg(ctx));
                goto fail;
            }
            for (int64_t k = 0; k < nf; k++) {
                for (int b = 0; b < B; b++) {
                    size_t fi = (size_t)b * nf + k;
                    sv_frames_to_rgb24(host + fi * frame_floats, R, R, rgb + fi * R * R * 3);
                    tiles[b] = rgb + fi * R * R * 3;
                }
                const uint8_t *img = tiles[0];
                if (o.grid_r) {
                    sv_grid_compose(tiles, o.grid_r, o.grid_c, R, R, -1, grid);
                    img = grid;
                }
                if (sink_put(&sk, img, GW, GH, &o, &e)) {
                    cli_error("%s", e.msg);
                    goto fail;
                }
                progress(tty, ++done, total, t0);
            }
        }
        if (sk.vw) {
            sv_video_writer *w = sk.vw;
            sk.vw = NULL;
            if (sv_video_writer_close(w, &e)) {
                cli_error("%s", e.msg);
                goto fail;
            }
        }
        printf("{\"output\": \"%s\", \"frames\": %lld, \"fps\": %g, \"time_offset\": %g, \"time_scale\": %g, "
               "\"videos\": %d, \"encoder\": \"%s\"}\n",
               opath, (long long)o.frames, o.fps, o.time_offset, o.time_scale, B,
               video_out ? (encoder ? encoder : "?") : o.image_format);
        fflush(stdout);
    }
    rc = 0;
fail:
    if (sk.vw)
        sv_video_writer_abort(sk.vw);
    if (tty && rc)
        fputc('\n', stderr);
    sv_tensor_free(&frames);
    sv_gen_video_free(gv);
    free(host);
    free(z);
    free(rgb);
    free(grid);
    free(tiles);
    free(mseed);
    free(mstream);
    free(t);
    free(opath);
out:
    sv_generator_free(g);
    sv_st_close(f);
    sv_ctx_destroy(ctx);
    free(o.seeds);
    return rc;
}
