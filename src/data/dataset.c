/* svgan — video datasets (spec §5): frame folders, zips of them, directories of video files and a
 * procedural "demo" source, read through one interface.  See include/svgan/dataset.h and
 * svgan-dataset(1) for the contracts.
 *
 * Pipeline of one frame: the source's decoder gives packed RGB24 W×H (JPEG: libturbojpeg; PNG and
 * video: libavcodec + libswscale) → fit_frame() checks it is R×R (REJECT) or crops / pads it to a
 * square and resizes it (AUTO; own separable area / bicubic code below) → planar CHW uint8, mirrored
 * when asked. */
#include "config.h"
#include "svgan/dataset.h"
#include "../io/avlog.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
#include <turbojpeg.h>
#include <zip.h>

#include "svgan/rng.h"

#define DEMO_FPS 25.0
#define DEMO_DEFAULT_RES 64
#define DEMO_MAX_OBJ 3
/* Stream of the demo source's per-video parameters (seed = the demo seed). */
#define DEMO_STREAM ((uint64_t)SV_STREAM_USER + (1u << 16))
#define MAX_SIDE 16384
/* Video files: a request up to this many frames after the decoder's position decodes forward
 * instead of seeking. */
#define SEQ_WINDOW 48
#define PAD AV_INPUT_BUFFER_PADDING_SIZE

void sv_dataset_opts_default(sv_dataset_opts *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->resolution = 0;
    o->resize = SV_DS_RESIZE_REJECT;
    o->on_error = SV_DS_SKIP;
    o->min_frames = 3;
    o->demo_seed = 0;
    o->demo_videos = 32;
    o->demo_frames = 64;
    o->fit = SV_DS_FIT_CROP;
}

/* ================================================================================================
 * The dataset object
 * ============================================================================================== */

typedef struct demo_obj {
    int square;        /* 0: disc, 1: square */
    int circular;      /* 0: straight line with bounces, 1: circle */
    double rad;        /* half size, fraction of R */
    double col[3];     /* 0..255 */
    double x0, y0;     /* start (line) or centre (circle), fraction of R */
    double vx, vy;     /* line: fraction of R per frame */
    double orbit, w, phase; /* circle: radius (fraction of R), rad per frame, start angle */
} demo_obj;

typedef struct demo_video {
    double bg0[3], bg1[3]; /* gradient end colours */
    double gdx, gdy;       /* gradient direction (unit) */
    double gw, gphase;     /* slow drift of the gradient: rad per frame, phase */
    int nobj;
    demo_obj obj[DEMO_MAX_OBJ];
} demo_video;

typedef struct ds_video {
    char *name;
    int64_t frames;
    double fps;
    demo_video *demo;   /* demo */
    char *path;         /* frames: the folder; video: the file; zip: the folder's name in the zip */
    char **files;       /* frames: frame file names, sorted */
    zip_uint64_t *zidx; /* zip: entry indices of the frames, sorted by file name */
    int64_t *pts;       /* video: sorted presentation timestamps (frame i has pts[i]); NULL: sequential */
    int64_t seek_back;  /* video: max(pts - dts) over the packets, subtracted from seek targets */
    int w, h;           /* size of the first frame (from the header) */
} ds_video;

/* The open decoder of one video file, kept between reads. */
typedef struct vdec {
    int64_t v; /* -1: none */
    AVFormatContext *fmt;
    AVCodecContext *cc;
    int stream;
    AVPacket *pkt;
    AVFrame *frm;
    int64_t next;  /* sequential mode: index of the next frame out; pts mode: last index out + 1; -1 unknown */
    int flushing;  /* end of file reached, decoder drained with a NULL packet */
} vdec;

struct sv_dataset {
    char *path;
    const char *kind;
    sv_dataset_opts opts;
    int R;
    ds_video *v;
    int64_t nv, capv;
    char **warn;
    int64_t nwarn;
    uint64_t demo_seed;
    zip_t *zip;
    tjhandle tj;
    AVCodecContext *png;
    AVPacket *ipkt;
    AVFrame *ifrm;
    struct SwsContext *sws;
    vdec dec;
    uint8_t *rgb; /* decoded packed RGB24 */
    size_t rgb_cap;
    uint8_t *file; /* file bytes (+PAD zero bytes) */
    size_t file_cap;
    uint8_t *tmp; /* fit_frame scratch (bytes) */
    size_t tmp_cap;
    double *acc; /* fit_frame scratch (doubles) */
    size_t acc_cap;
};

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static char *xprintf(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
static char *xprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

static int grow(void **p, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 4096;
    while (c < need)
        c *= 2;
    void *n = realloc(*p, c);
    if (!n)
        return -1;
    *p = n;
    *cap = c;
    return 0;
}

static void vdec_close(vdec *d)
{
    avcodec_free_context(&d->cc);
    avformat_close_input(&d->fmt);
    av_packet_free(&d->pkt);
    av_frame_free(&d->frm);
    d->v = -1;
    d->next = -1;
    d->flushing = 0;
}

static void video_free(ds_video *v)
{
    free(v->name);
    free(v->demo);
    free(v->path);
    if (v->files) {
        for (int64_t i = 0; i < v->frames; i++)
            free(v->files[i]);
        free(v->files);
    }
    free(v->zidx);
    free(v->pts);
    memset(v, 0, sizeof *v);
}

void sv_dataset_close(sv_dataset *ds)
{
    if (!ds)
        return;
    for (int64_t i = 0; i < ds->nv; i++)
        video_free(&ds->v[i]);
    free(ds->v);
    for (int64_t i = 0; i < ds->nwarn; i++)
        free(ds->warn[i]);
    free(ds->warn);
    vdec_close(&ds->dec);
    if (ds->zip)
        zip_discard(ds->zip);
    if (ds->tj)
        tjDestroy(ds->tj);
    avcodec_free_context(&ds->png);
    av_packet_free(&ds->ipkt);
    av_frame_free(&ds->ifrm);
    sws_freeContext(ds->sws);
    free(ds->rgb);
    free(ds->file);
    free(ds->tmp);
    free(ds->acc);
    free(ds->path);
    free(ds);
}

static ds_video *add_video(sv_dataset *ds, const char *name)
{
    if (ds->nv == ds->capv) {
        int64_t cap = ds->capv ? 2 * ds->capv : 64;
        ds_video *n = realloc(ds->v, (size_t)cap * sizeof *n);
        if (!n)
            return NULL;
        ds->v = n;
        ds->capv = cap;
    }
    ds_video *v = &ds->v[ds->nv];
    memset(v, 0, sizeof *v);
    if (!(v->name = xstrdup(name)))
        return NULL;
    ds->nv++;
    return v;
}

/* Drop the last video added (left out at open). */
static void drop_last(sv_dataset *ds)
{
    video_free(&ds->v[--ds->nv]);
}

static int add_warning(sv_dataset *ds, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static int add_warning(sv_dataset *ds, const char *fmt, ...)
{
    char **n = realloc(ds->warn, (size_t)(ds->nwarn + 1) * sizeof *n);
    if (!n)
        return -1;
    ds->warn = n;
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    if (!s)
        return -1;
    ds->warn[ds->nwarn++] = s;
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static const char *ext_of(const char *name)
{
    const char *d = strrchr(name, '.');
    const char *s = strrchr(name, '/');
    return d && (!s || d > s) ? d : "";
}

static int is_image_name(const char *name)
{
    const char *e = ext_of(name);
    return !strcasecmp(e, ".jpg") || !strcasecmp(e, ".jpeg") || !strcasecmp(e, ".png");
}

static int is_video_name(const char *name)
{
    static const char *const exts[] = {".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".ogv", NULL};
    const char *e = ext_of(name);
    for (int i = 0; exts[i]; i++)
        if (!strcasecmp(e, exts[i]))
            return 1;
    return 0;
}

static int is_jpeg_name(const char *name)
{
    const char *e = ext_of(name);
    return !strcasecmp(e, ".jpg") || !strcasecmp(e, ".jpeg");
}

/* ================================================================================================
 * Demo source: 1–3 anti-aliased discs / squares moving on straight paths with bounces or on circles,
 * over a slowly drifting two-colour gradient.  Every parameter of video i comes from Philox block
 * values of stream DEMO_STREAM + i under the demo seed; frames are rendered on the fly.
 * ============================================================================================== */

static void hsv_rgb(double h, double s, double v, double rgb[3])
{
    h = fmod(h, 1.0) * 6.0;
    int i = (int)h;
    double f = h - i, p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
    double r, g, b;
    switch (i % 6) {
    case 0: r = v, g = t, b = p; break;
    case 1: r = q, g = v, b = p; break;
    case 2: r = p, g = v, b = t; break;
    case 3: r = p, g = q, b = v; break;
    case 4: r = t, g = p, b = v; break;
    default: r = v, g = p, b = q; break;
    }
    rgb[0] = 255 * r, rgb[1] = 255 * g, rgb[2] = 255 * b;
}

static void demo_params(uint64_t seed, int64_t vi, demo_video *d)
{
    double u[40];
    sv_rng_uniform_f64(seed, DEMO_STREAM + (uint64_t)vi, 0, 40, u);
    double hue = u[0];
    hsv_rgb(hue, 0.35 + 0.3 * u[1], 0.25 + 0.2 * u[2], d->bg0);
    hsv_rgb(hue + 0.15 + 0.2 * u[3], 0.35 + 0.3 * u[4], 0.55 + 0.2 * u[5], d->bg1);
    double ga = 2 * M_PI * u[6];
    d->gdx = cos(ga), d->gdy = sin(ga);
    d->gw = (0.02 + 0.04 * u[7]) * (u[8] < 0.5 ? -1 : 1);
    d->gphase = 2 * M_PI * u[9];
    d->nobj = 1 + (int)(u[10] * DEMO_MAX_OBJ);
    if (d->nobj > DEMO_MAX_OBJ)
        d->nobj = DEMO_MAX_OBJ;
    const int k = 11;
    for (int j = 0; j < d->nobj; j++) {
        demo_obj *o = &d->obj[j];
        double *w = u + k + 9 * j; /* 9 values per object; k = 11 here, so at most 38 < 40 used */
        o->square = w[0] < 0.4;
        o->circular = w[1] < 0.4;
        o->rad = 0.08 + 0.08 * w[2];
        hsv_rgb(hue + 0.4 + 0.2 * j + 0.1 * w[3], 0.75 + 0.25 * w[4], 0.85 + 0.15 * w[5], o->col);
        double ang = 2 * M_PI * w[6], speed = 0.012 + 0.025 * w[7];
        if (o->circular) {
            o->orbit = 0.12 + 0.18 * w[8];
            o->x0 = 0.5 + (0.5 - o->orbit - o->rad) * 0.6 * cos(ang * 3.0);
            o->y0 = 0.5 + (0.5 - o->orbit - o->rad) * 0.6 * sin(ang * 3.0);
            o->w = speed / o->orbit * (w[8] < 0.5 ? -1 : 1);
            o->phase = ang;
        } else {
            o->x0 = o->rad + (1 - 2 * o->rad) * w[8];
            o->y0 = o->rad + (1 - 2 * o->rad) * w[3];
            o->vx = speed * cos(ang);
            o->vy = speed * sin(ang);
        }
    }
}

/* Position x0 + v·t reflected into [lo, hi] (a triangle wave: bounces off the walls). */
static double bounce(double x0, double v, double t, double lo, double hi)
{
    double span = hi - lo;
    if (span <= 0)
        return lo;
    double p = fmod(x0 - lo + v * t, 2 * span);
    if (p < 0)
        p += 2 * span;
    return lo + (p <= span ? p : 2 * span - p);
}

static double clamp01(double x) { return x < 0 ? 0 : (x > 1 ? 1 : x); }

static void demo_render(const demo_video *d, int R, int64_t t, int xflip, uint8_t *out)
{
    const size_t plane = (size_t)R * R;
    double cx[DEMO_MAX_OBJ], cy[DEMO_MAX_OBJ], rp[DEMO_MAX_OBJ];
    for (int j = 0; j < d->nobj; j++) {
        const demo_obj *o = &d->obj[j];
        double x, y;
        if (o->circular) {
            double a = o->phase + o->w * (double)t;
            x = o->x0 + o->orbit * cos(a);
            y = o->y0 + o->orbit * sin(a);
        } else {
            x = bounce(o->x0, o->vx, (double)t, o->rad, 1 - o->rad);
            y = bounce(o->y0, o->vy, (double)t, o->rad, 1 - o->rad);
        }
        cx[j] = x * R, cy[j] = y * R, rp[j] = o->rad * R;
    }
    double shift = 0.25 * sin(d->gphase + d->gw * (double)t);
    for (int yy = 0; yy < R; yy++)
        for (int xx = 0; xx < R; xx++) {
            double px = xx + 0.5, py = yy + 0.5;
            double g = clamp01(0.5 + ((px / R - 0.5) * d->gdx + (py / R - 0.5) * d->gdy) * 0.9 + shift);
            double c[3];
            for (int ch = 0; ch < 3; ch++)
                c[ch] = d->bg0[ch] + (d->bg1[ch] - d->bg0[ch]) * g;
            for (int j = 0; j < d->nobj; j++) {
                const demo_obj *o = &d->obj[j];
                double dx = px - cx[j], dy = py - cy[j], a;
                if (o->square)
                    a = clamp01(rp[j] + 0.5 - fabs(dx)) * clamp01(rp[j] + 0.5 - fabs(dy));
                else
                    a = clamp01(rp[j] + 0.5 - sqrt(dx * dx + dy * dy));
                if (a > 0)
                    for (int ch = 0; ch < 3; ch++)
                        c[ch] += (o->col[ch] - c[ch]) * a;
            }
            size_t at = (size_t)yy * R + (size_t)(xflip ? R - 1 - xx : xx);
            for (int ch = 0; ch < 3; ch++) {
                double q = floor(c[ch] + 0.5);
                out[ch * plane + at] = (uint8_t)(q < 0 ? 0 : (q > 255 ? 255 : q));
            }
        }
}

static int open_demo(sv_dataset *ds, const char *spec, sv_err *err)
{
    uint64_t seed = ds->opts.demo_seed;
    if (spec[4] == ':') {
        char *end;
        const char *s = spec + 5;
        unsigned long long x = strtoull(s, &end, 10);
        if (!*s || *end || *s == '-')
            return sv_seterr(err, SV_ERR_INVALID, "%s: expected demo or demo:SEED (a non-negative integer)", spec);
        seed = x;
    } else if (spec[4])
        return sv_seterr(err, SV_ERR_INVALID, "%s: expected demo or demo:SEED", spec);
    int nvid = ds->opts.demo_videos, nfr = ds->opts.demo_frames;
    if (nvid < 1 || nfr < 1)
        return sv_seterr(err, SV_ERR_INVALID, "%s: demo_videos (%d) and demo_frames (%d) must be positive", spec,
                         nvid, nfr);
    ds->kind = "demo";
    ds->demo_seed = seed;
    ds->R = ds->opts.resolution > 0 ? ds->opts.resolution : DEMO_DEFAULT_RES;
    for (int i = 0; i < nvid; i++) {
        char name[32];
        snprintf(name, sizeof name, "demo%06d", i);
        ds_video *v = add_video(ds, name);
        if (!v || !(v->demo = malloc(sizeof *v->demo)))
            return sv_seterr(err, SV_ERR_NOMEM, "%s: out of memory", spec);
        v->frames = nfr;
        v->fps = DEMO_FPS;
        demo_params(seed, i, v->demo);
    }
    return SV_OK;
}

/* ================================================================================================
 * Frame → R×R planar: check (REJECT) or square + resize (AUTO)
 *
 * Resampling is separable, in double precision, rounded half up at the end:
 *   - area (S > R): output pixel i averages source pixels over [i·S/R, (i+1)·S/R), each weighted by
 *     its overlap with that interval (box filter, exact for integer factors);
 *   - bicubic (S < R): Keys' cubic convolution with a = −0.5 (as PIL), source coordinate
 *     (i + 0.5)·S/R − 0.5, edge pixels repeated.
 * ============================================================================================== */

typedef struct taps {
    int *start, *n; /* per output pixel: first source index, number of taps */
    int *idx;       /* per tap (max taps per output: kmax): clamped source index */
    double *w;
    int kmax;
} taps;

static void taps_free(taps *t)
{
    free(t->start), free(t->n), free(t->idx), free(t->w);
}

static double cubic(double x)
{
    const double a = -0.5;
    x = fabs(x);
    if (x < 1)
        return ((a + 2) * x - (a + 3)) * x * x + 1;
    if (x < 2)
        return (((x - 5) * x + 8) * x - 4) * a;
    return 0;
}

static int taps_make(taps *t, int S, int R)
{
    memset(t, 0, sizeof *t);
    t->kmax = S > R ? (int)ceil((double)S / R) + 1 : 4;
    t->start = calloc((size_t)R, sizeof *t->start);
    t->n = calloc((size_t)R, sizeof *t->n);
    t->idx = calloc((size_t)R * t->kmax, sizeof *t->idx);
    t->w = calloc((size_t)R * t->kmax, sizeof *t->w);
    if (!t->start || !t->n || !t->idx || !t->w) {
        taps_free(t);
        return -1;
    }
    const double scale = (double)S / R;
    for (int i = 0; i < R; i++) {
        int *ix = t->idx + (size_t)i * t->kmax;
        double *w = t->w + (size_t)i * t->kmax;
        int k = 0;
        if (S > R) {
            double a = i * scale, b = (i + 1) * scale;
            for (int s = (int)floor(a); s < S && s < b && k < t->kmax; s++) {
                double lo = s > a ? s : a, hi = s + 1 < b ? s + 1 : b;
                if (hi > lo) {
                    ix[k] = s;
                    w[k++] = (hi - lo) / scale;
                }
            }
        } else if (S < R) {
            double x = (i + 0.5) * scale - 0.5;
            int f = (int)floor(x);
            for (int s = f - 1; s <= f + 2; s++) {
                ix[k] = s < 0 ? 0 : (s >= S ? S - 1 : s);
                w[k++] = cubic(x - s);
            }
        } else {
            ix[k] = i;
            w[k++] = 1;
        }
        t->n[i] = k;
    }
    return 0;
}

/* rgb: packed RGB24 W×H (rows stride bytes apart) → out: planar [3,R,R], mirrored when xflip. */
static int fit_frame(sv_dataset *ds, const char *what, int64_t idx, const uint8_t *rgb, int W, int H,
                     size_t stride, int xflip, uint8_t *out, sv_err *err)
{
    const int R = ds->R;
    const size_t plane = (size_t)R * R;
    if (W == R && H == R) {
        for (int y = 0; y < R; y++) {
            const uint8_t *row = rgb + (size_t)y * stride;
            for (int x = 0; x < R; x++) {
                size_t at = (size_t)y * R + (size_t)(xflip ? R - 1 - x : x);
                out[at] = row[3 * x];
                out[plane + at] = row[3 * x + 1];
                out[2 * plane + at] = row[3 * x + 2];
            }
        }
        return SV_OK;
    }
    if (ds->opts.resize != SV_DS_RESIZE_AUTO)
        return sv_seterr(err, SV_ERR_FORMAT, "%s: frame %lld is %dx%d, expected %dx%d (resize: reject)", what,
                         (long long)idx, W, H, R, R);
    /* Square source S×S: a crop window, or the frame on a black canvas. */
    int S, ox, oy; /* source pixel (x, y) of the square = rgb pixel (x + ox, y + oy) */
    if (ds->opts.fit == SV_DS_FIT_PAD) {
        S = W > H ? W : H;
        ox = -(S - W) / 2, oy = -(S - H) / 2;
    } else {
        S = W < H ? W : H;
        ox = (W - S) / 2, oy = (H - S) / 2;
    }
    taps tx, ty;
    if (taps_make(&tx, S, R))
        return sv_seterr(err, SV_ERR_NOMEM, "%s: out of memory", what);
    if (taps_make(&ty, S, R)) {
        taps_free(&tx);
        return sv_seterr(err, SV_ERR_NOMEM, "%s: out of memory", what);
    }
    /* Horizontal pass into acc[S rows][R][3], then vertical. */
    if (grow((void **)&ds->acc, &ds->acc_cap, (size_t)S * R * 3 * sizeof(double))) {
        taps_free(&tx), taps_free(&ty);
        return sv_seterr(err, SV_ERR_NOMEM, "%s: out of memory", what);
    }
    double *acc = ds->acc;
    for (int y = 0; y < S; y++) {
        int sy = y + oy;
        int inside_y = sy >= 0 && sy < H;
        const uint8_t *row = inside_y ? rgb + (size_t)sy * stride : NULL;
        for (int i = 0; i < R; i++) {
            double c0 = 0, c1 = 0, c2 = 0;
            for (int k = 0; k < tx.n[i]; k++) {
                int sx = tx.idx[(size_t)i * tx.kmax + k] + ox;
                double w = tx.w[(size_t)i * tx.kmax + k];
                if (row && sx >= 0 && sx < W) {
                    c0 += w * row[3 * sx], c1 += w * row[3 * sx + 1], c2 += w * row[3 * sx + 2];
                }
            }
            double *a = acc + ((size_t)y * R + i) * 3;
            a[0] = c0, a[1] = c1, a[2] = c2;
        }
    }
    for (int j = 0; j < R; j++)
        for (int i = 0; i < R; i++) {
            double c[3] = {0, 0, 0};
            for (int k = 0; k < ty.n[j]; k++) {
                const double *a = acc + ((size_t)ty.idx[(size_t)j * ty.kmax + k] * R + i) * 3;
                double w = ty.w[(size_t)j * ty.kmax + k];
                c[0] += w * a[0], c[1] += w * a[1], c[2] += w * a[2];
            }
            size_t at = (size_t)j * R + (size_t)(xflip ? R - 1 - i : i);
            for (int ch = 0; ch < 3; ch++) {
                double q = floor(c[ch] + 0.5);
                out[ch * plane + at] = (uint8_t)(q < 0 ? 0 : (q > 255 ? 255 : q));
            }
        }
    taps_free(&tx), taps_free(&ty);
    return SV_OK;
}

/* ================================================================================================
 * Images (frame folders and zips): JPEG through libturbojpeg, PNG through libavcodec
 * ============================================================================================== */

/* Width and height from the file header only.  0: ok. */
static int image_dims(sv_dataset *ds, const char *what, const uint8_t *buf, size_t n, int *W, int *H, sv_err *err)
{
    if (is_jpeg_name(what)) {
        int sub, cs;
        if (!ds->tj && !(ds->tj = tjInitDecompress()))
            return sv_seterr(err, SV_ERR_NOMEM, "%s: cannot create a JPEG decoder", what);
        if (n > (size_t)1 << 31 || tjDecompressHeader3(ds->tj, buf, (unsigned long)n, W, H, &sub, &cs))
            return sv_seterr(err, SV_ERR_FORMAT, "%s: not a readable JPEG (%s)", what, tjGetErrorStr2(ds->tj));
        return SV_OK;
    }
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
    if (n < 24 || memcmp(buf, sig, 8) || memcmp(buf + 12, "IHDR", 4))
        return sv_seterr(err, SV_ERR_FORMAT, "%s: not a PNG file (bad signature or header)", what);
    *W = (int)((uint32_t)buf[16] << 24 | (uint32_t)buf[17] << 16 | (uint32_t)buf[18] << 8 | buf[19]);
    *H = (int)((uint32_t)buf[20] << 24 | (uint32_t)buf[21] << 16 | (uint32_t)buf[22] << 8 | buf[23]);
    if (*W < 1 || *H < 1 || *W > MAX_SIDE || *H > MAX_SIDE)
        return sv_seterr(err, SV_ERR_FORMAT, "%s: PNG size %dx%d out of range", what, *W, *H);
    return SV_OK;
}

/* Convert an AVFrame to packed RGB24 in ds->rgb (W*3 stride). */
static int frame_to_rgb(sv_dataset *ds, const char *what, int64_t idx, const AVFrame *f, sv_err *err)
{
    const int W = f->width, H = f->height;
    if (W < 1 || H < 1 || W > MAX_SIDE || H > MAX_SIDE)
        return sv_seterr(err, SV_ERR_FORMAT, "%s: frame %lld: size %dx%d out of range", what, (long long)idx, W, H);
    if (grow((void **)&ds->rgb, &ds->rgb_cap, (size_t)W * H * 3))
        return sv_seterr(err, SV_ERR_NOMEM, "%s: out of memory", what);
    uint8_t *dst = ds->rgb;
    if (f->format == AV_PIX_FMT_RGB24) {
        for (int y = 0; y < H; y++)
            memcpy(dst + (size_t)y * W * 3, f->data[0] + (size_t)y * f->linesize[0], (size_t)W * 3);
        return SV_OK;
    }
    if (f->format == AV_PIX_FMT_GRAY8) { /* grayscale: replicated */
        for (int y = 0; y < H; y++) {
            const uint8_t *s = f->data[0] + (size_t)y * f->linesize[0];
            for (int x = 0; x < W; x++)
                dst[((size_t)y * W + x) * 3] = dst[((size_t)y * W + x) * 3 + 1] = dst[((size_t)y * W + x) * 3 + 2] = s[x];
        }
        return SV_OK;
    }
    if (f->format == AV_PIX_FMT_RGBA) { /* alpha dropped */
        for (int y = 0; y < H; y++) {
            const uint8_t *s = f->data[0] + (size_t)y * f->linesize[0];
            for (int x = 0; x < W; x++)
                memcpy(dst + ((size_t)y * W + x) * 3, s + 4 * x, 3);
        }
        return SV_OK;
    }
    enum AVPixelFormat src = f->format;
    int full = f->color_range == AVCOL_RANGE_JPEG;
    switch (src) { /* the deprecated full-range YUV formats */
    case AV_PIX_FMT_YUVJ420P: src = AV_PIX_FMT_YUV420P, full = 1; break;
    case AV_PIX_FMT_YUVJ422P: src = AV_PIX_FMT_YUV422P, full = 1; break;
    case AV_PIX_FMT_YUVJ444P: src = AV_PIX_FMT_YUV444P, full = 1; break;
    case AV_PIX_FMT_YUVJ440P: src = AV_PIX_FMT_YUV440P, full = 1; break;
    default: break;
    }
    ds->sws = sws_getCachedContext(ds->sws, W, H, src, W, H, AV_PIX_FMT_RGB24,
                                   SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT | SWS_BITEXACT, NULL, NULL,
                                   NULL);
    if (!ds->sws)
        return sv_seterr(err, SV_ERR_UNSUPPORTED, "%s: frame %lld: cannot convert pixel format %s to RGB", what,
                         (long long)idx, av_get_pix_fmt_name(f->format) ? av_get_pix_fmt_name(f->format) : "?");
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(src);
    if (d && !(d->flags & AV_PIX_FMT_FLAG_RGB) && d->nb_components >= 3) {
        int cs = f->colorspace == AVCOL_SPC_UNSPECIFIED ? SWS_CS_DEFAULT : (int)f->colorspace;
        const int *coef = sws_getCoefficients(cs);
        sws_setColorspaceDetails(ds->sws, coef, full, sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16, 1 << 16);
    }
    uint8_t *dd[4] = {dst, NULL, NULL, NULL};
    int dl[4] = {W * 3, 0, 0, 0};
    sws_scale(ds->sws, (const uint8_t *const *)f->data, f->linesize, 0, H, dd, dl);
    return SV_OK;
}

/* Decode an image file's bytes (buf has PAD zero bytes after n) into ds->rgb. */
static int decode_image(sv_dataset *ds, const char *what, int64_t idx, uint8_t *buf, size_t n, int *W, int *H,
                        sv_err *err)
{
    if (is_jpeg_name(what)) {
        int rc = image_dims(ds, what, buf, n, W, H, err);
        if (rc)
            return rc;
        if (*W > MAX_SIDE || *H > MAX_SIDE)
            return sv_seterr(err, SV_ERR_FORMAT, "%s: JPEG size %dx%d out of range", what, *W, *H);
        if (grow((void **)&ds->rgb, &ds->rgb_cap, (size_t)*W * *H * 3))
            return sv_seterr(err, SV_ERR_NOMEM, "%s: out of memory", what);
        /* Default flags (accurate integer DCT, fancy upsampling) as PIL; a warning (truncated or
         * corrupt data) is an error: no partially decoded frames. */
        if (tjDecompress2(ds->tj, buf, (unsigned long)n, ds->rgb, *W, 0, *H, TJPF_RGB, 0))
            return sv_seterr(err, SV_ERR_FORMAT, "%s: corrupt JPEG (%s)", what, tjGetErrorStr2(ds->tj));
        return SV_OK;
    }
    sv_av_begin();
    char why[400];
    if (!ds->png) {
        const AVCodec *c = avcodec_find_decoder(AV_CODEC_ID_PNG);
        if (!c)
            return sv_seterr(err, SV_ERR_UNSUPPORTED, "%s: this libavcodec has no PNG decoder", what);
        if (!(ds->png = avcodec_alloc_context3(c)) || !(ds->ipkt = av_packet_alloc()) || !(ds->ifrm = av_frame_alloc()))
            return sv_seterr(err, SV_ERR_NOMEM, "%s: out of memory", what);
        ds->png->thread_count = 1;
        ds->png->err_recognition = AV_EF_CRCCHECK | AV_EF_EXPLODE;
        int rc = avcodec_open2(ds->png, c, NULL);
        if (rc < 0) {
            avcodec_free_context(&ds->png);
            return sv_seterr(err, SV_ERR_UNSUPPORTED, "%s: cannot open the PNG decoder: %s", what,
                             sv_av_why(rc, why, sizeof why));
        }
    }
    int rc = image_dims(ds, what, buf, n, W, H, err);
    if (rc)
        return rc;
    if (n > INT32_MAX)
        return sv_seterr(err, SV_ERR_FORMAT, "%s: file too large", what);
    av_packet_unref(ds->ipkt);
    ds->ipkt->data = buf;
    ds->ipkt->size = (int)n;
    ds->ipkt->flags = AV_PKT_FLAG_KEY; /* else pngdec treats it as a difference to the previous image */
    rc = avcodec_send_packet(ds->png, ds->ipkt);
    if (rc >= 0)
        rc = avcodec_receive_frame(ds->png, ds->ifrm);
    ds->ipkt->data = NULL;
    ds->ipkt->size = 0;
    if (rc < 0) {
        avcodec_flush_buffers(ds->png);
        return sv_seterr(err, SV_ERR_FORMAT, "%s: corrupt PNG (%s)", what, sv_av_why(rc, why, sizeof why));
    }
    rc = frame_to_rgb(ds, what, idx, ds->ifrm, err);
    *W = ds->ifrm->width, *H = ds->ifrm->height;
    av_frame_unref(ds->ifrm);
    return rc;
}

/* Whole file into ds->file (+PAD zero bytes). */
static int read_file(sv_dataset *ds, const char *path, size_t *n, sv_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return sv_seterr(err, SV_ERR_IO, "%s: %s", path, strerror(errno));
    size_t have = 0;
    for (;;) {
        if (grow((void **)&ds->file, &ds->file_cap, have + 65536 + PAD)) {
            fclose(f);
            return sv_seterr(err, SV_ERR_NOMEM, "%s: out of memory", path);
        }
        size_t r = fread(ds->file + have, 1, ds->file_cap - have - PAD, f);
        have += r;
        if (r == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad)
        return sv_seterr(err, SV_ERR_IO, "%s: read error", path);
    memset(ds->file + have, 0, PAD);
    *n = have;
    return SV_OK;
}

/* Zip entry into ds->file (+PAD zero bytes). */
static int read_zip_entry(sv_dataset *ds, zip_uint64_t ix, const char *what, size_t *n, sv_err *err)
{
    zip_stat_t st;
    if (zip_stat_index(ds->zip, ix, 0, &st) || !(st.valid & ZIP_STAT_SIZE))
        return sv_seterr(err, SV_ERR_FORMAT, "%s: %s: cannot stat the entry: %s", ds->path, what, zip_strerror(ds->zip));
    if (st.size > ((zip_uint64_t)1 << 31))
        return sv_seterr(err, SV_ERR_FORMAT, "%s: %s: entry too large", ds->path, what);
    if (grow((void **)&ds->file, &ds->file_cap, (size_t)st.size + PAD))
        return sv_seterr(err, SV_ERR_NOMEM, "%s: out of memory", ds->path);
    zip_file_t *zf = zip_fopen_index(ds->zip, ix, 0);
    if (!zf)
        return sv_seterr(err, SV_ERR_FORMAT, "%s: %s: %s", ds->path, what, zip_strerror(ds->zip));
    zip_int64_t r = zip_fread(zf, ds->file, st.size);
    int bad = r < 0 || (zip_uint64_t)r != st.size;
    char msg[200];
    snprintf(msg, sizeof msg, "%s", bad ? zip_file_strerror(zf) : "");
    zip_fclose(zf);
    if (bad)
        return sv_seterr(err, SV_ERR_FORMAT, "%s: %s: cannot read the entry: %s", ds->path, what, msg);
    memset(ds->file + st.size, 0, PAD);
    *n = (size_t)st.size;
    return SV_OK;
}

/* ================================================================================================
 * Opening: common checks of one video's first frame
 * ============================================================================================== */

/* A video could not be used: warning (SKIP) or error (FATAL).  Takes the message from err. */
static int leave_out(sv_dataset *ds, sv_err *err)
{
    drop_last(ds);
    if (ds->opts.on_error == SV_DS_FATAL)
        return err ? err->code : SV_ERR_FORMAT;
    if (add_warning(ds, "%s", err ? err->msg : "unreadable video"))
        return sv_seterr(err, SV_ERR_NOMEM, "%s: out of memory", ds->path);
    sv_clearerr(err);
    return SV_OK;
}

/* Decide R from the first usable video; check the first frame's size of every video.  0: keep it,
 * 1: it was left out (warning), < 0: error. */
static int check_first(sv_dataset *ds, ds_video *v, const char *what, sv_err *err)
{
    if (v->frames < (ds->opts.min_frames > 0 ? ds->opts.min_frames : 1)) {
        int bad = add_warning(ds, "%s: %lld frames, fewer than the minimum %d: left out", what, (long long)v->frames,
                              ds->opts.min_frames > 0 ? ds->opts.min_frames : 1);
        drop_last(ds); /* after: `what` may be v->path */
        return bad ? sv_seterr(err, SV_ERR_NOMEM, "out of memory") : 1;
    }
    if (ds->R <= 0) {
        if (v->w == v->h)
            ds->R = v->w;
        else if (ds->opts.resize == SV_DS_RESIZE_AUTO)
            ds->R = ds->opts.fit == SV_DS_FIT_PAD ? (v->w > v->h ? v->w : v->h) : (v->w < v->h ? v->w : v->h);
        else
            return sv_seterr(err, SV_ERR_FORMAT,
                             "%s: the first frame is %dx%d, not square (frames must be square; use resize auto)", what,
                             v->w, v->h);
    }
    if (ds->opts.resize != SV_DS_RESIZE_AUTO && (v->w != ds->R || v->h != ds->R)) {
        sv_seterr(err, SV_ERR_FORMAT, "%s: frames are %dx%d, expected %dx%d (resize: reject)", what, v->w, v->h,
                  ds->R, ds->R);
        int rc = leave_out(ds, err);
        return rc ? rc : 1;
    }
    return 0;
}

/* ================================================================================================
 * Frame folders: <root>/<video>/<frame>
 * ============================================================================================== */

/* Sorted names in dir (no "." / ".." / hidden names); *dirs marks subdirectories. */
static int list_dir(const char *dir, char ***names, int **isdir, size_t *n, sv_err *err)
{
    *names = NULL, *isdir = NULL, *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return sv_seterr(err, SV_ERR_IO, "%s: %s", dir, strerror(errno));
    size_t cap = 0;
    struct dirent *e;
    int rc = SV_OK;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            char **nn = realloc(*names, cap * sizeof *nn);
            if (!nn) {
                rc = sv_seterr(err, SV_ERR_NOMEM, "%s: out of memory", dir);
                break;
            }
            *names = nn;
        }
        if (!((*names)[*n] = xstrdup(e->d_name))) {
            rc = sv_seterr(err, SV_ERR_NOMEM, "%s: out of memory", dir);
            break;
        }
        (*n)++;
    }
    closedir(d);
    if (rc == SV_OK && *n) {
        qsort(*names, *n, sizeof **names, cmp_str);
        if (!(*isdir = calloc(*n, sizeof **isdir)))
            rc = sv_seterr(err, SV_ERR_NOMEM, "%s: out of memory", dir);
        for (size_t i = 0; rc == SV_OK && i < *n; i++) {
            char *p = xprintf("%s/%s", dir, (*names)[i]);
            struct stat st;
            if (!p) {
                rc = sv_seterr(err, SV_ERR_NOMEM, "%s: out of memory", dir);
                break;
            }
            (*isdir)[i] = stat(p, &st) == 0 && S_ISDIR(st.st_mode);
            free(p);
        }
    }
    if (rc != SV_OK) {
        for (size_t i = 0; i < *n; i++)
            free((*names)[i]);
        free(*names), free(*isdir);
        *names = NULL, *isdir = NULL, *n = 0;
    }
    return rc;
}

static void free_list(char **names, int *isdir, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(isdir);
}

/* Returns SV_OK with ds->nv == 0 when no subdirectory holds images (not a frame-folder tree). */
static int open_frames(sv_dataset *ds, char **names, const int *isdir, size_t n, sv_err *err)
{
    for (size_t i = 0; i < n; i++) {
        if (!isdir[i])
            continue;
        char *dir = xprintf("%s/%s", ds->path, names[i]);
        if (!dir)
            return sv_seterr(err, SV_ERR_NOMEM, "out of memory");
        char **fn;
        int *fd;
        size_t nf;
        int rc = list_dir(dir, &fn, &fd, &nf, err);
        if (rc) {
            free(dir);
            return rc;
        }
        ds_video *v = add_video(ds, names[i]);
        if (!v) {
            free(dir), free_list(fn, fd, nf);
            return sv_seterr(err, SV_ERR_NOMEM, "out of memory");
        }
        v->path = dir;
        size_t k = 0;
        for (size_t j = 0; j < nf; j++) {
            if (!fd[j] && is_image_name(fn[j]))
                fn[k++] = fn[j];
            else
                free(fn[j]);
        }
        free(fd);
        v->files = fn;
        v->frames = (int64_t)k;
        if (k == 0) {
            free(fn);
            v->files = NULL;
        }
        if (k > 0) {
            char *first = xprintf("%s/%s", dir, fn[0]);
            size_t bytes;
            if (!first)
                return sv_seterr(err, SV_ERR_NOMEM, "out of memory");
            rc = read_file(ds, first, &bytes, err);
            if (rc == SV_OK)
                rc = image_dims(ds, first, ds->file, bytes, &v->w, &v->h, err);
            free(first);
            if (rc == SV_ERR_NOMEM)
                return rc;
            if (rc) {
                if ((rc = leave_out(ds, err)))
                    return rc;
                continue;
            }
        }
        rc = check_first(ds, v, dir, err);
        if (rc < 0)
            return rc;
    }
    return SV_OK;
}

static int read_frames_file(sv_dataset *ds, const ds_video *v, int64_t idx, int xflip, uint8_t *out, sv_err *err)
{
    char *p = xprintf("%s/%s", v->path, v->files[idx]);
    if (!p)
        return sv_seterr(err, SV_ERR_NOMEM, "out of memory");
    size_t n;
    int W, H;
    int rc = read_file(ds, p, &n, err);
    if (rc == SV_OK)
        rc = decode_image(ds, p, idx, ds->file, n, &W, &H, err);
    if (rc == SV_OK)
        rc = fit_frame(ds, p, idx, ds->rgb, W, H, (size_t)W * 3, xflip, out, err);
    free(p);
    return rc;
}

/* ================================================================================================
 * Zip files of the same tree.  More lenient than the official parser: directory entries are not
 * needed, and the top-level folder may be absent.  Entries are "[root/]video/frame"; when every image
 * entry has three or more components and all share the first one, that one is the root folder and is
 * dropped.  Then image entries of exactly two components ("video/frame") are frames; everything else
 * (deeper entries, files at the top, non-images, __MACOSX/) is ignored.
 * ============================================================================================== */

typedef struct zent {
    const char *name; /* owned by the zip handle */
    zip_uint64_t ix;
} zent;

static int cmp_zent(const void *a, const void *b)
{
    return strcmp(((const zent *)a)->name, ((const zent *)b)->name);
}

static int open_zip(sv_dataset *ds, sv_err *err)
{
    int zerr = 0;
    ds->zip = zip_open(ds->path, ZIP_RDONLY, &zerr);
    if (!ds->zip) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, zerr);
        sv_seterr(err, zerr == ZIP_ER_OPEN || zerr == ZIP_ER_READ ? SV_ERR_IO : SV_ERR_FORMAT,
                  "%s: not a readable zip file: %s", ds->path, zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return err ? err->code : SV_ERR_FORMAT;
    }
    ds->kind = "zip";
    zip_int64_t ne = zip_get_num_entries(ds->zip, 0);
    zent *e = calloc(ne > 0 ? (size_t)ne : 1, sizeof *e);
    if (!e)
        return sv_seterr(err, SV_ERR_NOMEM, "out of memory");
    size_t n = 0;
    for (zip_int64_t i = 0; i < ne; i++) {
        const char *nm = zip_get_name(ds->zip, (zip_uint64_t)i, 0);
        size_t l = nm ? strlen(nm) : 0;
        if (!nm || !l || nm[l - 1] == '/' || !is_image_name(nm) || !strncmp(nm, "__MACOSX/", 9))
            continue;
        e[n].name = nm, e[n].ix = (zip_uint64_t)i;
        n++;
    }
    qsort(e, n, sizeof *e, cmp_zent);
    /* A common root folder? */
    size_t strip = 0;
    if (n > 0) {
        const char *s0 = strchr(e[0].name, '/');
        int all = s0 != NULL;
        size_t rl = s0 ? (size_t)(s0 - e[0].name) + 1 : 0;
        for (size_t i = 0; all && i < n; i++) {
            const char *a = e[i].name;
            const char *s1 = strchr(a, '/');
            all = s1 && strchr(s1 + 1, '/') && !strncmp(a, e[0].name, rl);
        }
        if (all)
            strip = rl;
    }
    int rc = SV_OK;
    for (size_t i = 0; i < n && rc == SV_OK;) {
        const char *a = e[i].name + strip;
        const char *sl = strchr(a, '/');
        if (!sl || strchr(sl + 1, '/') || sl == a) { /* not video/frame */
            i++;
            continue;
        }
        size_t vl = (size_t)(sl - a);
        size_t j = i;
        while (j < n && !strncmp(e[j].name + strip, a, vl + 1))
            j++;
        /* entries i..j-1 share "video/"; keep those with exactly two components */
        char *vname = strndup(a, vl);
        ds_video *v = vname ? add_video(ds, vname) : NULL;
        if (v)
            v->path = strndup(e[i].name, strip + vl);
        free(vname);
        if (!v || !v->path || !(v->zidx = calloc(j - i, sizeof *v->zidx))) {
            free(e);
            return sv_seterr(err, SV_ERR_NOMEM, "out of memory");
        }
        for (size_t k = i; k < j; k++)
            if (!strchr(e[k].name + strip + vl + 1, '/'))
                v->zidx[v->frames++] = e[k].ix;
        i = j;
        if (v->frames > 0) {
            const char *first = zip_get_name(ds->zip, v->zidx[0], 0);
            size_t bytes;
            rc = read_zip_entry(ds, v->zidx[0], first, &bytes, err);
            if (rc == SV_OK)
                rc = image_dims(ds, first, ds->file, bytes, &v->w, &v->h, err);
            if (rc == SV_ERR_NOMEM)
                break;
            if (rc) {
                sv_preferr(err, "%s", ds->path);
                rc = leave_out(ds, err);
                continue;
            }
        }
        char *what = xprintf("%s:%s", ds->path, v->path);
        rc = what ? check_first(ds, v, what, err) : sv_seterr(err, SV_ERR_NOMEM, "out of memory");
        free(what);
        if (rc > 0)
            rc = SV_OK;
    }
    free(e);
    return rc;
}

static int read_zip_frame(sv_dataset *ds, const ds_video *v, int64_t idx, int xflip, uint8_t *out, sv_err *err)
{
    const char *nm = zip_get_name(ds->zip, v->zidx[idx], 0);
    if (!nm)
        return sv_seterr(err, SV_ERR_FORMAT, "%s: entry %llu: %s", ds->path, (unsigned long long)v->zidx[idx],
                         zip_strerror(ds->zip));
    char *what = xprintf("%s:%s", ds->path, nm);
    if (!what)
        return sv_seterr(err, SV_ERR_NOMEM, "out of memory");
    size_t n;
    int W, H;
    int rc = read_zip_entry(ds, v->zidx[idx], nm, &n, err);
    if (rc == SV_OK)
        rc = decode_image(ds, what, idx, ds->file, n, &W, &H, err);
    if (rc == SV_OK)
        rc = fit_frame(ds, what, idx, ds->rgb, W, H, (size_t)W * 3, xflip, out, err);
    free(what);
    return rc;
}

/* ================================================================================================
 * Directories of video files.  Frame i of a video is the frame with the i-th smallest presentation
 * timestamp among the packets of its best video stream (packets flagged "discard", e.g. before an
 * edit list's start, do not count).  Files whose packets lack timestamps or repeat one are read
 * sequentially (frame i = i-th frame the decoder outputs from the start; going back reopens the file).
 * ============================================================================================== */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int vdec_open(sv_dataset *ds, int64_t vi, const char *file, vdec *d, sv_err *err)
{
    char why[400];
    sv_av_begin();
    memset(d, 0, sizeof *d);
    d->v = -1;
    d->next = -1;
    int rc = avformat_open_input(&d->fmt, file, NULL, NULL);
    if (rc < 0) {
        d->fmt = NULL;
        return sv_seterr(err, rc == AVERROR(ENOENT) || rc == AVERROR(EACCES) ? SV_ERR_IO : SV_ERR_FORMAT,
                         "%s: cannot open: %s", file, sv_av_why(rc, why, sizeof why));
    }
    if ((rc = avformat_find_stream_info(d->fmt, NULL)) < 0) {
        vdec_close(d);
        return sv_seterr(err, SV_ERR_FORMAT, "%s: cannot read the stream info: %s", file, sv_av_why(rc, why, sizeof why));
    }
    const AVCodec *c = NULL;
    d->stream = av_find_best_stream(d->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &c, 0);
    if (d->stream < 0 || !c) {
        vdec_close(d);
        return sv_seterr(err, SV_ERR_FORMAT, "%s: no decodable video stream", file);
    }
    for (unsigned i = 0; i < d->fmt->nb_streams; i++)
        d->fmt->streams[i]->discard = (int)i == d->stream ? AVDISCARD_DEFAULT : AVDISCARD_ALL;
    const AVCodecParameters *par = d->fmt->streams[d->stream]->codecpar;
    if (!(d->cc = avcodec_alloc_context3(c)) || !(d->pkt = av_packet_alloc()) || !(d->frm = av_frame_alloc())) {
        vdec_close(d);
        return sv_seterr(err, SV_ERR_NOMEM, "%s: out of memory", file);
    }
    if ((rc = avcodec_parameters_to_context(d->cc, par)) < 0) {
        vdec_close(d);
        return sv_seterr(err, SV_ERR_FORMAT, "%s: %s", file, sv_av_why(rc, why, sizeof why));
    }
    d->cc->thread_count = 1;
    d->cc->err_recognition |= AV_EF_EXPLODE; /* errors are errors, not concealed frames */
    d->cc->pkt_timebase = d->fmt->streams[d->stream]->time_base;
    if ((rc = avcodec_open2(d->cc, c, NULL)) < 0) {
        vdec_close(d);
        return sv_seterr(err, SV_ERR_FORMAT, "%s: cannot open the %s decoder: %s", file, c->name,
                         sv_av_why(rc, why, sizeof why));
    }
    d->v = vi;
    d->next = 0;
    (void)ds;
    return SV_OK;
}

/* Index one video file: count its frames by demuxing, collect timestamps, size from the header. */
static int index_video(sv_dataset *ds, ds_video *v, sv_err *err)
{
    vdec d;
    char why[400];
    int rc = vdec_open(ds, -1, v->path, &d, err);
    if (rc)
        return rc;
    const AVCodecParameters *par = d.fmt->streams[d.stream]->codecpar;
    v->w = par->width, v->h = par->height;
    v->fps = av_q2d(av_guess_frame_rate(d.fmt, d.fmt->streams[d.stream], NULL));
    if (!(v->fps > 0) || !isfinite(v->fps))
        v->fps = 0;
    size_t cap = 256, n = 0;
    int64_t *pts = malloc(cap * sizeof *pts), back = 0;
    int seq = 0;
    if (!pts) {
        vdec_close(&d);
        return sv_seterr(err, SV_ERR_NOMEM, "out of memory");
    }
    for (;;) {
        rc = av_read_frame(d.fmt, d.pkt);
        if (rc == AVERROR_EOF)
            break;
        if (rc < 0) {
            sv_seterr(err, SV_ERR_FORMAT, "%s: demuxing failed after %zu frames: %s", v->path, n,
                      sv_av_why(rc, why, sizeof why));
            free(pts);
            vdec_close(&d);
            return SV_ERR_FORMAT;
        }
        if (d.pkt->stream_index == d.stream && !(d.pkt->flags & AV_PKT_FLAG_DISCARD)) {
            if (n == cap) {
                int64_t *np = realloc(pts, 2 * cap * sizeof *np);
                if (!np) {
                    free(pts), vdec_close(&d);
                    return sv_seterr(err, SV_ERR_NOMEM, "out of memory");
                }
                pts = np, cap *= 2;
            }
            if (d.pkt->pts == AV_NOPTS_VALUE)
                seq = 1;
            else if (d.pkt->dts != AV_NOPTS_VALUE && d.pkt->pts - d.pkt->dts > back)
                back = d.pkt->pts - d.pkt->dts;
            pts[n++] = d.pkt->pts;
        }
        av_packet_unref(d.pkt);
    }
    vdec_close(&d);
    if (!seq) {
        qsort(pts, n, sizeof *pts, cmp_i64);
        for (size_t i = 1; i < n; i++)
            if (pts[i] == pts[i - 1])
                seq = 1;
    }
    if (seq || n == 0) {
        free(pts);
        pts = NULL;
    }
    v->pts = pts;
    v->seek_back = back;
    v->frames = (int64_t)n;
    if (n == 0)
        return sv_seterr(err, SV_ERR_FORMAT, "%s: no video frames", v->path);
    if (v->w < 1 || v->h < 1 || v->w > MAX_SIDE || v->h > MAX_SIDE)
        return sv_seterr(err, SV_ERR_FORMAT, "%s: frame size %dx%d out of range", v->path, v->w, v->h);
    return SV_OK;
}

static int cmp_vname(const void *a, const void *b)
{
    return strcmp((*(ds_video *const *)a)->name, (*(ds_video *const *)b)->name);
}

/* Files sharing a base name ("a.mp4", "a.mkv"): those videos are named by the whole file name. */
static int unique_names(sv_dataset *ds, sv_err *err)
{
    if (ds->nv < 2)
        return SV_OK;
    ds_video **p = malloc((size_t)ds->nv * sizeof *p);
    char *dup = calloc((size_t)ds->nv, 1);
    if (!p || !dup) {
        free(p), free(dup);
        return sv_seterr(err, SV_ERR_NOMEM, "out of memory");
    }
    for (int64_t i = 0; i < ds->nv; i++)
        p[i] = &ds->v[i];
    qsort(p, (size_t)ds->nv, sizeof *p, cmp_vname);
    for (int64_t i = 1; i < ds->nv; i++)
        if (!strcmp(p[i]->name, p[i - 1]->name))
            dup[p[i] - ds->v] = dup[p[i - 1] - ds->v] = 1;
    int rc = SV_OK;
    for (int64_t i = 0; i < ds->nv && rc == SV_OK; i++)
        if (dup[i]) {
            const char *slash = strrchr(ds->v[i].path, '/');
            char *nm = xstrdup(slash ? slash + 1 : ds->v[i].path);
            if (!nm)
                rc = sv_seterr(err, SV_ERR_NOMEM, "out of memory");
            else {
                free(ds->v[i].name);
                ds->v[i].name = nm;
            }
        }
    free(p), free(dup);
    return rc;
}

static int open_videos(sv_dataset *ds, char **names, const int *isdir, size_t n, sv_err *err)
{
    ds->kind = "video";
    for (size_t i = 0; i < n; i++) {
        if (isdir[i] || !is_video_name(names[i]))
            continue;
        char *base = strndup(names[i], strlen(names[i]) - strlen(ext_of(names[i])));
        ds_video *v = base ? add_video(ds, base) : NULL;
        free(base);
        if (!v || !(v->path = xprintf("%s/%s", ds->path, names[i])))
            return sv_seterr(err, SV_ERR_NOMEM, "out of memory");
        int rc = index_video(ds, v, err);
        if (rc == SV_ERR_NOMEM)
            return rc;
        if (rc) {
            if ((rc = leave_out(ds, err)))
                return rc;
            continue;
        }
        rc = check_first(ds, v, v->path, err);
        if (rc < 0)
            return rc;
    }
    return unique_names(ds, err);
}

/* Index of the decoded frame in d->frm: by timestamp, or by counting (sequential mode).  -1: a frame
 * that is not one of the counted ones (skip it). */
static int64_t frame_index(const ds_video *v, vdec *d)
{
    if (!v->pts)
        return d->next++;
    int64_t ts = d->frm->best_effort_timestamp;
    if (ts == AV_NOPTS_VALUE)
        ts = d->frm->pts;
    if (ts == AV_NOPTS_VALUE)
        return -1;
    int64_t lo = 0, hi = v->frames - 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (v->pts[mid] == ts) {
            d->next = mid + 1;
            return mid;
        }
        if (v->pts[mid] < ts)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

/* Next decoded frame into d->frm.  1: a frame, 0: end of stream, < 0: error. */
static int decode_next(vdec *d, const char *file, int64_t want, sv_err *err)
{
    char why[400];
    for (;;) {
        int rc = avcodec_receive_frame(d->cc, d->frm);
        if (rc >= 0)
            return 1;
        if (rc == AVERROR_EOF)
            return 0;
        if (rc != AVERROR(EAGAIN))
            return sv_seterr(err, SV_ERR_FORMAT, "%s: frame %lld: decoding failed: %s", file, (long long)want,
                             sv_av_why(rc, why, sizeof why));
        if (d->flushing)
            return 0;
        for (;;) {
            rc = av_read_frame(d->fmt, d->pkt);
            if (rc == AVERROR_EOF) {
                d->flushing = 1;
                rc = avcodec_send_packet(d->cc, NULL);
                break;
            }
            if (rc < 0)
                return sv_seterr(err, SV_ERR_FORMAT, "%s: frame %lld: demuxing failed: %s", file, (long long)want,
                                 sv_av_why(rc, why, sizeof why));
            if (d->pkt->stream_index != d->stream) {
                av_packet_unref(d->pkt);
                continue;
            }
            rc = avcodec_send_packet(d->cc, d->pkt);
            av_packet_unref(d->pkt);
            break;
        }
        if (rc < 0 && rc != AVERROR_EOF)
            return sv_seterr(err, SV_ERR_FORMAT, "%s: frame %lld: decoding failed: %s", file, (long long)want,
                             sv_av_why(rc, why, sizeof why));
    }
}

/* Position the decoder so that the next frames it outputs include frame m (or start before it). */
static int vdec_seek(sv_dataset *ds, int64_t vi, int64_t m, int restart, sv_err *err)
{
    vdec *d = &ds->dec;
    const ds_video *v = &ds->v[vi];
    if (d->v != vi || restart || !v->pts) {
        if (d->v == vi && !restart && !v->pts && d->next >= 0 && d->next <= m)
            return SV_OK; /* sequential: continue */
        vdec_close(d);
        int rc = vdec_open(ds, vi, v->path, d, err);
        if (rc)
            return rc;
        if (!v->pts || restart || m == 0)
            return SV_OK;
    }
    if (d->next >= 0 && d->next <= m && m - d->next <= SEQ_WINDOW)
        return SV_OK; /* decode forward */
    int64_t target = v->pts[m] - v->seek_back;
    int rc = av_seek_frame(d->fmt, d->stream, target, AVSEEK_FLAG_BACKWARD);
    if (rc < 0) { /* cannot seek: start over */
        vdec_close(d);
        return vdec_open(ds, vi, v->path, d, err);
    }
    avcodec_flush_buffers(d->cc);
    d->flushing = 0;
    d->next = -1;
    return SV_OK;
}

typedef struct want {
    int64_t idx;
    int pos;
} want;

static int cmp_want(const void *a, const void *b)
{
    const want *x = a, *y = b;
    return x->idx < y->idx ? -1 : (x->idx > y->idx ? 1 : (x->pos > y->pos) - (x->pos < y->pos));
}

static int read_video(sv_dataset *ds, int64_t vi, const int64_t *idx, int n, int xflip, uint8_t *out, sv_err *err)
{
    const ds_video *v = &ds->v[vi];
    const size_t fbytes = (size_t)3 * ds->R * ds->R;
    want *w = malloc((size_t)n * sizeof *w);
    if (!w)
        return sv_seterr(err, SV_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++)
        w[i].idx = idx[i], w[i].pos = i;
    qsort(w, (size_t)n, sizeof *w, cmp_want);
    int restarted = 0, rc;
    sv_av_begin();
    if ((rc = vdec_seek(ds, vi, w[0].idx, 0, err)))
        goto done;
    int j = 0;
    while (j < n) {
        int got = decode_next(&ds->dec, v->path, w[j].idx, err);
        if (got < 0) {
            rc = got;
            vdec_close(&ds->dec); /* unknown state */
            goto done;
        }
        if (got == 0) {
            rc = sv_seterr(err, SV_ERR_FORMAT, "%s: frame %lld: not found (the decoder ended before it)", v->path,
                           (long long)w[j].idx);
            vdec_close(&ds->dec);
            goto done;
        }
        int64_t fi = frame_index(v, &ds->dec);
        if (fi < 0 || fi < w[j].idx) {
            av_frame_unref(ds->dec.frm);
            continue;
        }
        if (fi > w[j].idx) { /* the seek landed after the frame: start from the beginning once */
            av_frame_unref(ds->dec.frm);
            if (restarted) {
                rc = sv_seterr(err, SV_ERR_FORMAT, "%s: frame %lld: not produced by the decoder", v->path,
                               (long long)w[j].idx);
                vdec_close(&ds->dec);
                goto done;
            }
            restarted = 1;
            if ((rc = vdec_seek(ds, vi, w[j].idx, 1, err)))
                goto done;
            continue;
        }
        rc = frame_to_rgb(ds, v->path, fi, ds->dec.frm, err);
        int W = ds->dec.frm->width, H = ds->dec.frm->height;
        av_frame_unref(ds->dec.frm);
        if (rc == SV_OK)
            rc = fit_frame(ds, v->path, fi, ds->rgb, W, H, (size_t)W * 3, xflip, out + (size_t)w[j].pos * fbytes, err);
        if (rc)
            goto done;
        int first = w[j].pos;
        for (j++; j < n && w[j].idx == fi; j++)
            memcpy(out + (size_t)w[j].pos * fbytes, out + (size_t)first * fbytes, fbytes);
    }
    rc = SV_OK;
done:
    free(w);
    return rc;
}

/* ================================================================================================
 * Open, queries, read
 * ============================================================================================== */

static int open_dir(sv_dataset *ds, sv_err *err)
{
    char **names;
    int *isdir;
    size_t n;
    int rc = list_dir(ds->path, &names, &isdir, &n, err);
    if (rc)
        return rc;
    size_t nsub = 0, nvf = 0;
    for (size_t i = 0; i < n; i++) {
        nsub += isdir[i] != 0;
        nvf += !isdir[i] && is_video_name(names[i]);
    }
    ds->kind = "frames";
    if (nsub > 0)
        rc = open_frames(ds, names, isdir, n, err);
    if (rc == SV_OK && ds->nv == 0 && nvf > 0) { /* no frame folders: a directory of video files */
        for (int64_t i = 0; i < ds->nwarn; i++)
            free(ds->warn[i]);
        ds->nwarn = 0;
        ds->R = ds->opts.resolution > 0 ? ds->opts.resolution : 0;
        rc = open_videos(ds, names, isdir, n, err);
    }
    free_list(names, isdir, n);
    return rc;
}

int sv_dataset_open(const char *path, const sv_dataset_opts *opts, sv_dataset **out, sv_err *err)
{
    if (!out)
        return sv_seterr(err, SV_ERR_INVALID, "sv_dataset_open: out is NULL");
    *out = NULL;
    if (!path || !*path)
        return sv_seterr(err, SV_ERR_INVALID, "dataset: empty path");
    sv_dataset *ds = calloc(1, sizeof *ds);
    if (!ds || !(ds->path = xstrdup(path))) {
        free(ds);
        return sv_seterr(err, SV_ERR_NOMEM, "%s: out of memory", path);
    }
    ds->dec.v = -1;
    ds->dec.next = -1;
    if (opts)
        ds->opts = *opts;
    else
        sv_dataset_opts_default(&ds->opts);
    int rc = SV_OK;
    if (ds->opts.resolution > MAX_SIDE)
        rc = sv_seterr(err, SV_ERR_INVALID, "%s: resolution %d is too large (at most %d)", path, ds->opts.resolution,
                       MAX_SIDE);
    else if (ds->opts.resize != SV_DS_RESIZE_REJECT && ds->opts.resize != SV_DS_RESIZE_AUTO)
        rc = sv_seterr(err, SV_ERR_INVALID, "%s: unknown resize mode %d", path, (int)ds->opts.resize);
    if (rc) {
        sv_dataset_close(ds);
        return rc;
    }
    ds->R = ds->opts.resolution > 0 ? ds->opts.resolution : 0;
    struct stat st;
    size_t l = strlen(path);
    while (l > 1 && ds->path[l - 1] == '/') /* "dir/" → "dir" (names in messages) */
        ds->path[--l] = 0;
    if (!strncmp(path, "demo", 4) && (path[4] == 0 || path[4] == ':')) /* a directory "demo": ./demo */
        rc = open_demo(ds, path, err);
    else if (stat(ds->path, &st) != 0)
        rc = sv_seterr(err, SV_ERR_IO, "%s: %s", path, strerror(errno));
    else if (S_ISDIR(st.st_mode))
        rc = open_dir(ds, err);
    else if (S_ISREG(st.st_mode) && !strcasecmp(ext_of(ds->path), ".zip"))
        rc = open_zip(ds, err);
    else
        rc = sv_seterr(err, SV_ERR_INVALID, "%s: not a dataset (expected a directory, a .zip file, demo or demo:SEED)",
                       path);
    if (rc == SV_OK && ds->nv == 0) {
        if (ds->nwarn > 0)
            rc = sv_seterr(err, SV_ERR_FORMAT, "%s: no usable videos (%lld left out; first: %s)", ds->path,
                           (long long)ds->nwarn, ds->warn[0]);
        else
            rc = sv_seterr(err, SV_ERR_FORMAT, "%s: no videos found (expected video folders of .jpg/.png frames or "
                           "video files)", ds->path);
    }
    if (rc != SV_OK) {
        sv_dataset_close(ds);
        return rc;
    }
    *out = ds;
    return SV_OK;
}

const char *sv_dataset_kind(const sv_dataset *ds) { return ds ? ds->kind : NULL; }
const char *sv_dataset_path(const sv_dataset *ds) { return ds ? ds->path : NULL; }
int64_t sv_dataset_num_videos(const sv_dataset *ds) { return ds ? ds->nv : 0; }
int sv_dataset_resolution(const sv_dataset *ds) { return ds ? ds->R : 0; }

int64_t sv_dataset_video_frames(const sv_dataset *ds, int64_t v)
{
    return ds && v >= 0 && v < ds->nv ? ds->v[v].frames : 0;
}

const char *sv_dataset_video_name(const sv_dataset *ds, int64_t v)
{
    return ds && v >= 0 && v < ds->nv ? ds->v[v].name : NULL;
}

double sv_dataset_video_fps(const sv_dataset *ds, int64_t v)
{
    return ds && v >= 0 && v < ds->nv ? ds->v[v].fps : 0.0;
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

uint64_t sv_dataset_fingerprint(const sv_dataset *ds)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    if (!ds)
        return h;
    for (int64_t i = 0; i < ds->nv; i++) {
        h = fnv1a(h, ds->v[i].name, strlen(ds->v[i].name) + 1); /* with its NUL */
        unsigned char le[8];
        uint64_t f = (uint64_t)ds->v[i].frames;
        for (int b = 0; b < 8; b++)
            le[b] = (unsigned char)(f >> (8 * b));
        h = fnv1a(h, le, 8);
    }
    if (!strcmp(ds->kind, "demo")) { /* the names do not tell demo seeds apart */
        char s[64];
        int n = snprintf(s, sizeof s, "demo:%llu:%d", (unsigned long long)ds->demo_seed, ds->R);
        h = fnv1a(h, s, (size_t)n);
    }
    return h;
}

int64_t sv_dataset_warnings(const sv_dataset *ds) { return ds ? ds->nwarn : 0; }

const char *sv_dataset_warning(const sv_dataset *ds, int64_t i)
{
    return ds && i >= 0 && i < ds->nwarn ? ds->warn[i] : NULL;
}

int sv_dataset_read(sv_dataset *ds, int64_t v, const int64_t *idx, int n, int xflip, uint8_t *out,
                    sv_err *err)
{
    if (!ds || (n > 0 && (!idx || !out)) || n < 0)
        return sv_seterr(err, SV_ERR_INVALID, "sv_dataset_read: bad arguments");
    if (v < 0 || v >= ds->nv)
        return sv_seterr(err, SV_ERR_INVALID, "%s: video %lld out of range [0, %lld)", ds->path, (long long)v,
                         (long long)ds->nv);
    const ds_video *vid = &ds->v[v];
    for (int i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= vid->frames)
            return sv_seterr(err, SV_ERR_INVALID, "%s: video '%s': frame %lld out of range [0, %lld)", ds->path,
                             vid->name, (long long)idx[i], (long long)vid->frames);
    if (n == 0)
        return SV_OK;
    const size_t fbytes = (size_t)3 * ds->R * ds->R;
    if (vid->demo) {
        for (int i = 0; i < n; i++)
            demo_render(vid->demo, ds->R, idx[i], xflip, out + (size_t)i * fbytes);
        return SV_OK;
    }
    if (vid->pts || !strcmp(ds->kind, "video"))
        return read_video(ds, v, idx, n, xflip, out, err);
    for (int i = 0; i < n; i++) {
        int rc = i > 0 && idx[i] == idx[i - 1]
                     ? (memcpy(out + (size_t)i * fbytes, out + (size_t)(i - 1) * fbytes, fbytes), SV_OK)
                     : vid->zidx ? read_zip_frame(ds, vid, idx[i], xflip, out + (size_t)i * fbytes, err)
                                 : read_frames_file(ds, vid, idx[i], xflip, out + (size_t)i * fbytes, err);
        if (rc)
            return rc;
    }
    return SV_OK;
}
