/* svgan train: the StyleGAN-V training loop (spec §4.5–§4.7) with snapshots,
 * sample grids, a JSON Lines log, progress, signals and full-state resume.
 * See svgan-train(1). */
#include "config.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "svgan/dataset.h"

/* The only mutable file-scope state of the program: the signal that asked
 * us to stop (async-signal-safe flag, CLI layer only). */
static volatile sig_atomic_t g_stop_signal = 0;

/* Written only by on_signal (SIGINT and SIGTERM are blocked while it runs). */
static struct timespec g_stop_time;

/* The first SIGINT/SIGTERM asks for a checkpoint and a clean exit; a second
 * one stops at once, without a checkpoint -- unless it comes within a second
 * of the first: that is the same request delivered twice (GNU timeout, and
 * kill -- -PGID, signal the command and then its whole process group). */
static void on_signal(int sig)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (g_stop_signal) {
        double dt = (double)(now.tv_sec - g_stop_time.tv_sec) + 1e-9 * (double)(now.tv_nsec - g_stop_time.tv_nsec);
        if (dt < 1.0)
            return;
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    g_stop_time = now;
    g_stop_signal = sig;
}

/* ---- options -------------------------------------------------------------- */

typedef struct kv {
    char *key, *val;
} kv;

typedef struct kvlist {
    kv *a;
    size_t n, cap;
} kvlist;

static int kv_push(kvlist *l, const char *k, const char *v)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? 2 * l->cap : 32;
        kv *na = realloc(l->a, nc * sizeof *na);
        if (!na)
            return -1;
        l->a = na;
        l->cap = nc;
    }
    char *kk = strdup(k), *vv = strdup(v);
    if (!kk || !vv) {
        free(kk);
        free(vv);
        return -1;
    }
    for (char *p = kk; *p; p++) /* config-file keys may use underscores */
        if (*p == '_')
            *p = '-';
    l->a[l->n].key = kk;
    l->a[l->n].val = vv;
    l->n++;
    return 0;
}

static void kv_free(kvlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->a[i].key);
        free(l->a[i].val);
    }
    free(l->a);
    memset(l, 0, sizeof *l);
}

/* Options that change the model (not allowed with --resume). */
static const char *const model_keys[] = {"preset", "k", "motion-z-distance", "max-num-frames", "channel-base", "channel-max", NULL};
/* Options of the loop and the data, saved in every checkpoint ("train_loop") and restored by --resume. */
static const char *const loop_keys[] = {"data", "kimg", "tick-kimg", "snap", "xflip", "grid", "sample-frames",
                                        "fps", "resize", "demo-videos", "demo-frames", "samples", NULL};
/* Trainer options (saved in the training state; may be overridden on --resume). */
static const char *const trainer_keys[] = {"batch", "lr", "lr-g", "lr-d", "gamma", "ema-kimg", "ema-rampup", "d-reg-interval",
                                           "max-dist", "nan-policy", "seed", "aug", "aug-p", "aug-target", "ada-kimg", NULL};
/* Per-invocation options (never saved). */
static const char *const run_keys[] = {"out", "resume", "device", "stop-after-iter", "export-ema", "config", NULL};

static int in_list(const char *const *l, const char *k)
{
    for (int i = 0; l[i]; i++)
        if (!strcmp(l[i], k))
            return 1;
    return 0;
}

typedef struct train_opts {
    /* run */
    const char *out, *resume, *device, *export_ema;
    int64_t stop_after_iter;
    /* loop / data */
    char data[4096];
    double kimg, tick_kimg, fps;
    int64_t snap;
    int xflip, grid_r, grid_c, sample_frames, samples, resize_auto, demo_videos, demo_frames;
    /* model + trainer */
    char preset[32];
    sv_mconfig cfg;
    sv_trainer_opts to;
} train_opts;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: svgan train [--data PATH] [--out DIR] [--preset NAME] [options]\n"
            "Train StyleGAN-V; see svgan-train(1).  Without --data the procedural 'demo' dataset is used.\n"
            "  --data PATH             frames directory, .zip, directory of video files, or demo[:SEED]\n"
            "  --out DIR               run directory (default svgan-run): checkpoints, samples, log.jsonl\n"
            "  --preset NAME           model preset: paper256, default64, small, tiny32 (default small)\n"
            "  --config FILE.json      options from a JSON object (keys = option names; \"model\": {...})\n"
            "  --resume FILE|DIR|latest  continue a run from a training checkpoint (bit-exact)\n"
            "  --kimg N                training length in thousands of frames (B*k per iteration; default 25000)\n"
            "  --tick-kimg N           frames per progress tick in thousands (default 5)\n"
            "  --snap N                checkpoint and samples every N ticks (default 200; always at the end)\n"
            "  --batch B               clips per iteration (default 4; preset paper256: 64)\n"
            "  --k K                   frames per clip (default from the preset: 3)\n"
            "  --lr X, --lr-g X, --lr-d X  base learning rates (default 0.0025)\n"
            "  --gamma X               R1 weight (default auto: 0.0002*R^2/B)\n"
            "  --ema-kimg X            EMA half-life in thousands of clips (default B*10/32)\n"
            "  --ema-rampup X|none     EMA half-life at most X times the frames seen so far (default 0.05 for\n"
            "                          the CPU presets small and tiny32, none for paper256/default64 as StyleGAN-V)\n"
            "  --d-reg-interval N      R1 every N iterations (default 16)\n"
            "  --max-dist N            largest clip span in frames (default 32)\n"
            "  --motion-z-distance N   motion code spacing (also sets min_period_len)\n"
            "  --max-num-frames M      window length of long videos (default 1024)\n"
            "  --channel-base N, --channel-max N  widths: a block at resolution r has min(N/r, max) channels\n"
            "                          (default from the preset; small: 4096 and 128)\n"
            "  --seed N                seed of initialisation, latents and clip sampling (default 0)\n"
            "  --xflip | --no-xflip    mirrored copies of the videos (default on)\n"
            "  --resize auto|reject    frames not at the model resolution (default reject)\n"
            "  --aug ada|fixed|none    ADA bgc augmentation: adaptive p (default), fixed p, or off\n"
            "  --aug-p P               initial (ada) or constant (fixed) augmentation probability (default 0)\n"
            "  --aug-target X          ADA target for the mean sign of D(real) (default 0.6)\n"
            "  --ada-kimg N            ADA speed: p may change by 1 per N thousand clips (default 100)\n"
            "  --nan-policy scrub|fail non-finite gradients (default scrub)\n"
            "  --grid RxC              sample grid of each snapshot (default 4x4)\n"
            "  --sample-frames N       frames of each sample video (default 32)\n"
            "  --fps F                 frame rate of sample videos (default the dataset's, else 25)\n"
            "  --no-samples            no sample videos with the snapshots\n"
            "  --demo-videos N, --demo-frames N  size of the demo dataset (32, 64)\n"
            "  --stop-after-iter N     stop (with a checkpoint) once N iterations are done\n"
            "  --export-ema FILE       with --resume: write a sampling-only model file (G_ema) and exit\n"
            "  --device D              device index, type or name substring\n");
}

static int bad(const char *k, const char *v, const char *what)
{
    cli_error("train: --%s '%s': expected %s", k, v, what);
    return -1;
}

static int num(const char *k, const char *v, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (!*v || *end || errno || !isfinite(x) || x < lo || x > hi) {
        char w[96];
        snprintf(w, sizeof w, "a number in [%g, %g]", lo, hi);
        return bad(k, v, w);
    }
    *out = x;
    return 0;
}

static int integer(const char *k, const char *v, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || errno || x < lo || x > hi) {
        char w[96];
        snprintf(w, sizeof w, "an integer in [%lld, %lld]", lo, hi);
        return bad(k, v, w);
    }
    *out = x;
    return 0;
}

static int boolean(const char *k, const char *v, int *out)
{
    if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on"))
        *out = 1;
    else if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off"))
        *out = 0;
    else
        return bad(k, v, "true or false");
    return 0;
}

/* Apply one option (not "preset", handled first). */
static int apply(train_opts *o, const char *k, const char *v)
{
    double d;
    long long ll;
    if (!strcmp(k, "out"))
        o->out = v;
    else if (!strcmp(k, "resume"))
        o->resume = v;
    else if (!strcmp(k, "device"))
        o->device = v;
    else if (!strcmp(k, "export-ema"))
        o->export_ema = v;
    else if (!strcmp(k, "config") || !strcmp(k, "preset"))
        return 0;
    else if (!strcmp(k, "stop-after-iter")) {
        if (integer(k, v, 1, (long long)1 << 50, &ll))
            return -1;
        o->stop_after_iter = ll;
    } else if (!strcmp(k, "data")) {
        if (!*v || strlen(v) >= sizeof o->data)
            return bad(k, v, "a path");
        snprintf(o->data, sizeof o->data, "%s", v);
    } else if (!strcmp(k, "kimg")) {
        if (num(k, v, 1e-6, 1e9, &o->kimg))
            return -1;
    } else if (!strcmp(k, "tick-kimg")) {
        if (num(k, v, 1e-6, 1e9, &o->tick_kimg))
            return -1;
    } else if (!strcmp(k, "snap")) {
        if (integer(k, v, 1, 1000000000, &ll))
            return -1;
        o->snap = ll;
    } else if (!strcmp(k, "xflip")) {
        return boolean(k, v, &o->xflip);
    } else if (!strcmp(k, "samples")) {
        return boolean(k, v, &o->samples);
    } else if (!strcmp(k, "grid")) {
        int r, c;
        char x, tail;
        if (sscanf(v, "%d%c%d%c", &r, &x, &c, &tail) != 3 || (x != 'x' && x != 'X') || r < 1 || c < 1 || r * c > 256)
            return bad(k, v, "RxC with at most 256 cells, e.g. 4x4");
        o->grid_r = r;
        o->grid_c = c;
    } else if (!strcmp(k, "sample-frames")) {
        if (integer(k, v, 1, 100000, &ll))
            return -1;
        o->sample_frames = (int)ll;
    } else if (!strcmp(k, "fps")) {
        if (num(k, v, 0, 1000, &o->fps))
            return -1;
    } else if (!strcmp(k, "resize")) {
        if (strcmp(v, "auto") && strcmp(v, "reject"))
            return bad(k, v, "auto or reject");
        o->resize_auto = !strcmp(v, "auto");
    } else if (!strcmp(k, "demo-videos") || !strcmp(k, "demo-frames")) {
        if (integer(k, v, 1, 1000000, &ll))
            return -1;
        *(k[5] == 'v' ? &o->demo_videos : &o->demo_frames) = (int)ll;
    } else if (!strcmp(k, "batch")) {
        if (integer(k, v, 1, 1 << 20, &ll))
            return -1;
        o->to.batch = ll;
    } else if (!strcmp(k, "lr") || !strcmp(k, "lr-g") || !strcmp(k, "lr-d")) {
        if (num(k, v, 1e-12, 10, &d))
            return -1;
        if (strcmp(k, "lr-d"))
            o->to.lr_g = d;
        if (strcmp(k, "lr-g"))
            o->to.lr_d = d;
    } else if (!strcmp(k, "gamma")) {
        if (!strcmp(v, "auto"))
            o->to.r1_gamma = -1;
        else if (num(k, v, 0, 1e9, &o->to.r1_gamma))
            return -1;
    } else if (!strcmp(k, "ema-kimg")) {
        if (!strcmp(v, "auto"))
            o->to.ema_kimg = -1;
        else if (num(k, v, 1e-9, 1e9, &o->to.ema_kimg))
            return -1;
    } else if (!strcmp(k, "ema-rampup")) {
        if (!strcmp(v, "none"))
            o->to.ema_rampup = 0;
        else if (num(k, v, 0, 1e9, &o->to.ema_rampup))
            return -1;
    } else if (!strcmp(k, "d-reg-interval")) {
        if (integer(k, v, 1, 1000000, &ll))
            return -1;
        o->to.d_reg_interval = (int)ll;
    } else if (!strcmp(k, "max-dist")) {
        if (integer(k, v, 1, 2048, &ll))
            return -1;
        o->to.max_dist = (int)ll;
    } else if (!strcmp(k, "aug")) {
        if (strcmp(v, "ada") && strcmp(v, "fixed") && strcmp(v, "none"))
            return bad(k, v, "ada, fixed or none");
        o->to.aug = !strcmp(v, "ada") ? SV_AUGMODE_ADA : !strcmp(v, "fixed") ? SV_AUGMODE_FIXED : SV_AUGMODE_NONE;
    } else if (!strcmp(k, "aug-p")) {
        if (num(k, v, 0, 1e6, &o->to.aug_p))
            return -1;
    } else if (!strcmp(k, "aug-target")) {
        if (num(k, v, -1, 1, &o->to.aug_target))
            return -1;
    } else if (!strcmp(k, "ada-kimg")) {
        if (num(k, v, 1e-6, 1e9, &o->to.ada_kimg))
            return -1;
    } else if (!strcmp(k, "nan-policy")) {
        if (strcmp(v, "scrub") && strcmp(v, "fail"))
            return bad(k, v, "scrub or fail");
        o->to.nan_policy = strcmp(v, "fail") ? SV_NAN_SCRUB : SV_NAN_FAIL;
    } else if (!strcmp(k, "seed")) {
        if (integer(k, v, 0, LLONG_MAX, &ll))
            return -1;
        o->to.seed = (uint64_t)ll;
    } else if (!strcmp(k, "k")) {
        if (integer(k, v, 1, 64, &ll))
            return -1;
        o->cfg.frames_per_clip = (int)ll;
    } else if (!strcmp(k, "motion-z-distance")) {
        if (integer(k, v, 1, 100000, &ll))
            return -1;
        o->cfg.motion_z_distance = o->cfg.min_period_len = (int)ll;
    } else if (!strcmp(k, "max-num-frames")) {
        if (integer(k, v, 2, 1000000, &ll))
            return -1;
        o->cfg.max_num_frames = (int)ll;
    } else if (!strcmp(k, "channel-base") || !strcmp(k, "channel-max")) {
        if (integer(k, v, 1, 1 << 20, &ll))
            return -1;
        if (!strcmp(k, "channel-base"))
            o->cfg.channel_base = (int)ll;
        else
            o->cfg.channel_max = (int)ll;
    } else {
        cli_error("train: unknown option '--%s' (see 'svgan train --help')", k);
        return -1;
    }
    return 0;
}

/* A JSON value as option text. */
static int json_val(const cJSON *it, char *buf, size_t n)
{
    if (cJSON_IsString(it))
        snprintf(buf, n, "%s", it->valuestring);
    else if (cJSON_IsBool(it))
        snprintf(buf, n, "%d", cJSON_IsTrue(it) ? 1 : 0);
    else if (cJSON_IsNumber(it))
        snprintf(buf, n, "%.17g", it->valuedouble);
    else
        return -1;
    return 0;
}

static char *read_file(const char *path, const char *what)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        cli_error("train: %s %s: %s", what, path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *s = malloc(cap);
    while (s) {
        size_t r = fread(s + n, 1, cap - n - 1, f);
        n += r;
        if (n + 1 < cap)
            break;
        char *ns = realloc(s, cap *= 2);
        if (!ns) {
            free(s);
            s = NULL;
        }
        s = ns;
    }
    int err = ferror(f);
    fclose(f);
    if (!s || err) {
        free(s);
        cli_error("train: cannot read %s %s", what, path);
        return NULL;
    }
    s[n] = 0;
    return s;
}

/* Pairs and the "model" object from a JSON config file. */
static int load_config_file(const char *path, kvlist *l, cJSON **model)
{
    char *s = read_file(path, "config file");
    if (!s)
        return -1;
    cJSON *root = cJSON_Parse(s);
    free(s);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        cli_error("train: config file %s: not a JSON object", path);
        return -1;
    }
    int rc = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, root)
    {
        char buf[4096];
        if (!strcmp(it->string, "model")) {
            if (!cJSON_IsObject(it)) {
                cli_error("train: config file %s: \"model\" must be an object of model configuration keys", path);
                rc = -1;
                break;
            }
            continue;
        }
        if (json_val(it, buf, sizeof buf)) {
            cli_error("train: config file %s: key '%s' must be a string, number or boolean", path, it->string);
            rc = -1;
            break;
        }
        if (kv_push(l, it->string, buf)) {
            cli_error("train: out of memory");
            rc = -1;
            break;
        }
    }
    if (!rc) {
        cJSON *m = cJSON_DetachItemFromObjectCaseSensitive(root, "model");
        *model = m;
    }
    cJSON_Delete(root);
    return rc;
}

/* cfg ← cfg with the keys of a JSON object replaced. */
static int merge_model(sv_mconfig *cfg, const cJSON *model)
{
    char *base = sv_mconfig_to_json(cfg);
    cJSON *b = base ? cJSON_Parse(base) : NULL;
    free(base);
    if (!b) {
        cli_error("train: out of memory");
        return -1;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, model)
    {
        cJSON *dup = cJSON_Duplicate(it, 1);
        if (!dup) {
            cJSON_Delete(b);
            cli_error("train: out of memory");
            return -1;
        }
        if (cJSON_GetObjectItemCaseSensitive(b, it->string))
            cJSON_ReplaceItemInObjectCaseSensitive(b, it->string, dup);
        else
            cJSON_AddItemToObject(b, it->string, dup);
    }
    char *txt = cJSON_PrintUnformatted(b);
    cJSON_Delete(b);
    sv_err e = {0};
    int rc = txt ? sv_mconfig_from_json(txt, cfg, &e) : SV_ERR_NOMEM;
    free(txt);
    if (rc) {
        cli_error("train: config file \"model\": %s", e.msg[0] ? e.msg : "out of memory");
        return -1;
    }
    return 0;
}

/* ---- run directory ---------------------------------------------------------- */

static int make_dir(const char *d)
{
    struct stat st;
    if (stat(d, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            cli_error("train: %s exists and is not a directory", d);
            return -1;
        }
        return 0;
    }
    /* create the parents first (mkdir -p) */
    char *p = strdup(d);
    if (!p) {
        cli_error("train: out of memory");
        return -1;
    }
    for (char *q = p + 1; *q; q++)
        if (*q == '/') {
            *q = 0;
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                cli_error("train: cannot create directory %s: %s", p, strerror(errno));
                free(p);
                return -1;
            }
            *q = '/';
        }
    free(p);
    if (mkdir(d, 0777) != 0 && errno != EEXIST) {
        cli_error("train: cannot create directory %s: %s", d, strerror(errno));
        return -1;
    }
    return 0;
}

/* Write text to path atomically (temporary name + rename). */
static int write_atomic(const char *path, const char *text, sv_err *e)
{
    char tmp[8400];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return sv_seterr(e, SV_ERR_IO, "%s: cannot create %s: %s", path, tmp, strerror(errno));
    int ok = fputs(text, f) >= 0;
    ok &= fflush(f) == 0;
    ok &= fsync(fileno(f)) == 0;
    ok &= fclose(f) == 0;
    if (!ok || rename(tmp, path)) {
        int er = errno;
        unlink(tmp);
        return sv_seterr(e, SV_ERR_IO, "%s: write failed: %s", path, strerror(er));
    }
    return 0;
}

/* On --resume: log.jsonl lines of iterations after the checkpoint's are
 * dropped (they are about to be redone), and so is an unparsable (torn) line;
 * the file is rewritten atomically, and only if something is dropped. */
static int trim_log(const char *path, int64_t iteration, int64_t *dropped, sv_err *e)
{
    *dropped = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno == ENOENT ? 0 : sv_seterr(e, SV_ERR_IO, "%s: %s", path, strerror(errno));
    size_t cap = 0, len = 0, lcap = 0;
    char *keep = NULL, *line = NULL;
    ssize_t n;
    int rc = 0;
    while ((n = getline(&line, &lcap, f)) > 0) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *it = j ? cJSON_GetObjectItemCaseSensitive(j, "iteration") : NULL;
        const int ok = cJSON_IsNumber(it) && it->valuedouble <= (double)iteration && line[n - 1] == '\n';
        cJSON_Delete(j);
        if (!ok) {
            ++*dropped;
            continue;
        }
        if (len + (size_t)n + 1 > cap) {
            size_t nc = (len + (size_t)n + 1) * 2;
            char *nk = realloc(keep, nc);
            if (!nk) {
                rc = sv_seterr(e, SV_ERR_NOMEM, "out of memory");
                break;
            }
            keep = nk;
            cap = nc;
        }
        memcpy(keep + len, line, (size_t)n);
        len += (size_t)n;
        keep[len] = 0;
    }
    if (!rc && ferror(f))
        rc = sv_seterr(e, SV_ERR_IO, "%s: read error", path);
    fclose(f);
    free(line);
    if (!rc && *dropped)
        rc = write_atomic(path, keep ? keep : "", e);
    free(keep);
    return rc;
}

/* DIR/latest → name, atomically (symlink under a temporary name, renamed). */
static int set_latest(const char *dir, const char *name, sv_err *e)
{
    char tmp[4200], dst[4200];
    snprintf(tmp, sizeof tmp, "%s/latest.tmp.%ld", dir, (long)getpid());
    snprintf(dst, sizeof dst, "%s/latest", dir);
    unlink(tmp);
    if (symlink(name, tmp) || rename(tmp, dst)) {
        int er = errno;
        unlink(tmp);
        return sv_seterr(e, SV_ERR_IO, "%s: cannot point it to %s: %s", dst, name, strerror(er));
    }
    return 0;
}

/* --resume X: a file, a run directory (its "latest"), or "latest" (OUT/latest). */
static char *resolve_resume(const char *r, const char *out)
{
    char buf[4200];
    struct stat st;
    if (!strcmp(r, "latest"))
        snprintf(buf, sizeof buf, "%s/latest", out);
    else if (stat(r, &st) == 0 && S_ISDIR(st.st_mode))
        snprintf(buf, sizeof buf, "%s/latest", r);
    else
        snprintf(buf, sizeof buf, "%s", r);
    if (stat(buf, &st) != 0) {
        cli_error("train: --resume %s: %s: %s", r, buf, strerror(errno));
        return NULL;
    }
    char *p = strdup(buf);
    if (!p)
        cli_error("train: out of memory");
    return p;
}

/* ---- samples ----------------------------------------------------------------- */

/* G_ema on a grid of fixed seeds 0 … cells−1 (as 'svgan sample --seed 0 --grid RxC'), frames
 * t = 0 … F−1: DIR/samples-KIMG.mp4 and DIR/samples-KIMG.jpg (rows: the first ≤ 8 videos,
 * columns: 8 frames evenly spaced). */
static int write_samples(sv_ctx *ctx, sv_generator *g, const train_opts *o, double fps, const char *base, sv_err *e)
{
    const sv_mconfig *cfg = sv_generator_config(g);
    const int R = cfg->resolution, B = o->grid_r * o->grid_c, F = o->sample_frames;
    const int jr = B < 8 ? B : 8, jc = F < 8 ? F : 8;
    int GH, GW, JH, JW, rc = 0;
    sv_grid_size(o->grid_r, o->grid_c, R, R, -1, &GH, &GW);
    sv_grid_size(jr, jc, R, R, -1, &JH, &JW);
    const size_t ff = (size_t)3 * R * R;
    float *z = malloc((size_t)B * cfg->z_dim * sizeof *z), *host = malloc((size_t)B * ff * sizeof *host);
    uint64_t *ms = malloc((size_t)B * sizeof *ms), *mst = calloc((size_t)B, sizeof *mst);
    uint8_t *rgb = malloc((size_t)B * R * R * 3), *grid = malloc((size_t)GH * GW * 3);
    uint8_t *jt = calloc((size_t)jr * jc, (size_t)R * R * 3), *jimg = malloc((size_t)JH * JW * 3);
    const uint8_t **tiles = calloc((size_t)(B > jr * jc ? B : jr * jc), sizeof *tiles);
    double *t = malloc((size_t)B * sizeof *t);
    sv_gen_video *gv = NULL;
    sv_video_writer *vw = NULL;
    sv_tensor frames = {0};
    char path[8400];
    if (!z || !host || !ms || !mst || !rgb || !grid || !jt || !jimg || !tiles || !t) {
        rc = sv_seterr(e, SV_ERR_NOMEM, "samples: out of memory");
        goto out;
    }
    for (int b = 0; b < B; b++) {
        sv_rng_normal((uint64_t)b, SV_STREAM_Z, 0, (size_t)cfg->z_dim, z + (size_t)b * cfg->z_dim);
        ms[b] = (uint64_t)b;
    }
    const int64_t fs[4] = {B, 3, R, R};
    int num, den;
    snprintf(path, sizeof path, "%s.mp4", base);
    if ((rc = sv_generator_begin(g, B, z, ms, mst, 1.0f, &gv)) || (rc = sv_tensor_new(ctx, &frames, 4, fs))) {
        rc = sv_seterr(e, rc, "samples: %s", sv_ctx_errmsg(ctx));
        goto out;
    }
    if ((rc = sv_video_fps_rational(fps, &num, &den, e)) || (rc = sv_video_writer_open(path, GW, GH, num, den, NULL, &vw, e)))
        goto out;
    for (int f = 0; f < F; f++) {
        for (int b = 0; b < B; b++)
            t[b] = f;
        if ((rc = sv_generator_frames(gv, t, 1, &frames)) || (rc = sv_tensor_read(&frames, host, (size_t)B * ff))) {
            rc = sv_seterr(e, rc, "samples: %s", sv_ctx_errmsg(ctx));
            goto out;
        }
        for (int b = 0; b < B; b++) {
            sv_frames_to_rgb24(host + (size_t)b * ff, R, R, rgb + (size_t)b * R * R * 3);
            tiles[b] = rgb + (size_t)b * R * R * 3;
        }
        sv_grid_compose(tiles, o->grid_r, o->grid_c, R, R, -1, grid);
        if ((rc = sv_video_writer_put(vw, grid, 0, e)))
            goto out;
        for (int c = 0; c < jc; c++)
            if (f == (jc > 1 ? (int)((int64_t)c * (F - 1) / (jc - 1)) : 0))
                for (int r = 0; r < jr; r++)
                    memcpy(jt + ((size_t)r * jc + c) * R * R * 3, rgb + (size_t)r * R * R * 3, (size_t)R * R * 3);
    }
    rc = sv_video_writer_close(vw, e);
    vw = NULL;
    if (rc)
        goto out;
    for (int i = 0; i < jr * jc; i++)
        tiles[i] = jt + (size_t)i * R * R * 3;
    sv_grid_compose(tiles, jr, jc, R, R, -1, jimg);
    snprintf(path, sizeof path, "%s.jpg", base);
    rc = sv_image_write(path, jimg, JW, JH, 95, e);
out:
    if (vw)
        sv_video_writer_abort(vw);
    sv_tensor_free(&frames);
    sv_gen_video_free(gv);
    free(z);
    free(host);
    free(ms);
    free(mst);
    free(rgb);
    free(grid);
    free(jt);
    free(jimg);
    free(tiles);
    free(t);
    return rc;
}

/* ---- the loop ------------------------------------------------------------------ */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct tick_acc {
    int64_t n, nr1, nf_g, nf_d, nf_r1, nsign;
    double sign, loss_g, loss_d, lf, lr, lf2, lr2, loss_r1, pen, t_data, t_g, t_d, t_r1, t_ema;
} tick_acc;

/* Standard deviation over the tick's iterations from a sum and a sum of squares. */
static double spread(double sum, double sum2, int64_t n)
{
    if (n < 2)
        return 0;
    const double m = sum / (double)n, v = (sum2 - (double)n * m * m) / (double)(n - 1);
    return v > 0 ? sqrt(v) : 0;
}

/* The loop options as a JSON object of option texts (saved as "train_loop"). */
static cJSON *loop_json(const train_opts *o, int64_t tick, int64_t tick_start_nimg, uint64_t fingerprint)
{
    cJSON *j = cJSON_CreateObject();
    char b[64];
    if (!j)
        return NULL;
    cJSON_AddStringToObject(j, "data", o->data);
    snprintf(b, sizeof b, "%.17g", o->kimg);
    cJSON_AddStringToObject(j, "kimg", b);
    snprintf(b, sizeof b, "%.17g", o->tick_kimg);
    cJSON_AddStringToObject(j, "tick-kimg", b);
    snprintf(b, sizeof b, "%lld", (long long)o->snap);
    cJSON_AddStringToObject(j, "snap", b);
    cJSON_AddStringToObject(j, "xflip", o->xflip ? "1" : "0");
    snprintf(b, sizeof b, "%dx%d", o->grid_r, o->grid_c);
    cJSON_AddStringToObject(j, "grid", b);
    snprintf(b, sizeof b, "%d", o->sample_frames);
    cJSON_AddStringToObject(j, "sample-frames", b);
    snprintf(b, sizeof b, "%.17g", o->fps);
    cJSON_AddStringToObject(j, "fps", b);
    cJSON_AddStringToObject(j, "resize", o->resize_auto ? "auto" : "reject");
    snprintf(b, sizeof b, "%d", o->demo_videos);
    cJSON_AddStringToObject(j, "demo-videos", b);
    snprintf(b, sizeof b, "%d", o->demo_frames);
    cJSON_AddStringToObject(j, "demo-frames", b);
    cJSON_AddStringToObject(j, "samples", o->samples ? "1" : "0");
    cJSON_AddNumberToObject(j, "tick", (double)tick);
    cJSON_AddNumberToObject(j, "tick_start_nimg", (double)tick_start_nimg);
    snprintf(b, sizeof b, "%016" PRIx64, fingerprint);
    cJSON_AddStringToObject(j, "dataset_fingerprint", b);
    return j;
}

static int snapshot(sv_trainer *tr, const train_opts *o, const char *preset, int64_t tick, int64_t tick_start,
                    uint64_t fp, char *name, size_t nn, sv_err *e)
{
    cJSON *lj = loop_json(o, tick, tick_start, fp);
    char *lt = lj ? cJSON_PrintUnformatted(lj) : NULL;
    cJSON_Delete(lj);
    if (!lt)
        return sv_seterr(e, SV_ERR_NOMEM, "out of memory");
    const int64_t kimg = sv_trainer_cur_nimg(tr) / 1000;
    char path[4200];
    snprintf(name, nn, "checkpoint-%06lld.svgan", (long long)kimg);
    snprintf(path, sizeof path, "%s/%s", o->out, name);
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
        /* a snapshot of an earlier iteration in the same kimg (ticks under
         * 1 kimg, a stop right after a tick): keep it, add the iteration */
        snprintf(name, nn, "checkpoint-%06lld-i%lld.svgan", (long long)kimg,
                 (long long)sv_trainer_iteration_count(tr));
        snprintf(path, sizeof path, "%s/%s", o->out, name);
    }
    const char *meta[] = {"created_by", "svgan train", "preset", preset, "train_loop", lt, NULL};
    int rc = sv_trainer_save(tr, path, meta, e);
    free(lt);
    if (!rc)
        rc = set_latest(o->out, name, e);
    return rc;
}

int cmd_train(int argc, char **argv)
{
    train_opts o;
    memset(&o, 0, sizeof o);
    o.out = "svgan-run";
    snprintf(o.data, sizeof o.data, "demo");
    snprintf(o.preset, sizeof o.preset, "small");
    o.kimg = 25000;
    o.tick_kimg = 5;
    o.snap = 200;
    o.xflip = 1;
    o.grid_r = o.grid_c = 4;
    o.sample_frames = 32;
    o.samples = 1;
    o.demo_videos = 32;
    o.demo_frames = 64;
    sv_trainer_opts_default(&o.to);
    o.to.aug = SV_AUGMODE_ADA; /* the StyleGAN-V recipe (spec 4.4); the library default is none */

    int rc = 2;
    kvlist cli = {0}, file = {0}, saved = {0};
    cJSON *model = NULL;
    sv_err e = {0};
    sv_ctx *ctx = NULL;
    sv_dataset *ds = NULL;
    sv_trainer *tr = NULL;
    sv_clip_sampler *cs = NULL;
    char *resume_path = NULL, *cfg_text = NULL, *out_dir = NULL;
    uint8_t *u8 = NULL;
    float *xf = NULL;
    double *treal = NULL;
    int64_t *lens = NULL, *fidx = NULL;
    sv_tensor real = {0};
    FILE *logf = NULL;
    const char *config_file = NULL;
    int tty = isatty(2);
    struct sigaction sa_old_int, sa_old_term;
    int handlers = 0;

    /* ---- command line ---- */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            rc = 0;
            goto out;
        }
        if (strncmp(a, "--", 2) || !a[2]) {
            cli_error("train: unexpected argument '%s' (see 'svgan train --help')", a);
            goto out;
        }
        const char *k = a + 2, *v;
        char key[64];
        const char *eq = strchr(k, '=');
        size_t kl = eq ? (size_t)(eq - k) : strlen(k);
        if (kl >= sizeof key) {
            cli_error("train: unknown option '%s' (see 'svgan train --help')", a);
            goto out;
        }
        memcpy(key, k, kl);
        key[kl] = 0;
        if (!eq && (!strcmp(key, "xflip") || !strcmp(key, "no-xflip") || !strcmp(key, "no-samples"))) {
            if (kv_push(&cli, !strcmp(key, "no-samples") ? "samples" : "xflip", strcmp(key, "xflip") ? "0" : "1"))
                goto oom;
            continue;
        }
        if (!in_list(model_keys, key) && !in_list(loop_keys, key) && !in_list(trainer_keys, key) &&
            !in_list(run_keys, key)) {
            cli_error("train: unknown option '%s' (see 'svgan train --help')", a);
            goto out;
        }
        if (eq)
            v = eq + 1;
        else if (i + 1 < argc)
            v = argv[++i];
        else {
            cli_error("train: %s needs a value", a);
            goto out;
        }
        if (!strcmp(key, "config"))
            config_file = v;
        else if (kv_push(&cli, key, v))
            goto oom;
    }
    if (config_file && load_config_file(config_file, &file, &model))
        goto out;
    /* run options first: out and resume decide where everything else comes from */
    for (int pass = 0; pass < 2; pass++) {
        kvlist *l = pass ? &cli : &file;
        for (size_t i = 0; i < l->n; i++)
            if (in_list(run_keys, l->a[i].key) && apply(&o, l->a[i].key, l->a[i].val))
                goto out;
            else if (!in_list(model_keys, l->a[i].key) && !in_list(loop_keys, l->a[i].key) &&
                     !in_list(trainer_keys, l->a[i].key) && !in_list(run_keys, l->a[i].key)) {
                cli_error("train: config file %s: unknown option '%s'", config_file, l->a[i].key);
                goto out;
            }
    }
    int out_given = 0;
    for (int pass = 0; pass < 2; pass++) {
        kvlist *l = pass ? &cli : &file;
        for (size_t i = 0; i < l->n; i++)
            out_given |= !strcmp(l->a[i].key, "out");
    }
    if (o.export_ema && !o.resume) {
        cli_error("train: --export-ema needs --resume (a training checkpoint)");
        goto out;
    }
    int64_t tick = 0, tick_start_nimg = 0;
    uint64_t saved_fp = 0;
    int have_saved_fp = 0;
    if (o.resume) {
        for (int pass = 0; pass < 2; pass++) {
            kvlist *l = pass ? &cli : &file;
            for (size_t i = 0; i < l->n; i++)
                if (in_list(model_keys, l->a[i].key)) {
                    cli_error("train: --%s changes the model and cannot be used with --resume", l->a[i].key);
                    goto out;
                }
        }
        if (model) {
            cli_error("train: a config file's \"model\" cannot be used with --resume");
            goto out;
        }
        if (!(resume_path = resolve_resume(o.resume, o.out)))
            goto out;
        if (!out_given) { /* continue in the run directory of the checkpoint */
            const char *sl = strrchr(resume_path, '/');
            if (!sl)
                out_dir = strdup(".");
            else if (sl == resume_path)
                out_dir = strdup("/");
            else
                out_dir = strndup(resume_path, (size_t)(sl - resume_path));
            if (!out_dir)
                goto oom;
            o.out = out_dir;
        }
        rc = 1;
        if (sv_trainer_checkpoint_info(resume_path, &o.cfg, &o.to, &e)) {
            cli_error("train: %s", e.msg);
            goto out;
        }
        sv_st_file *f = NULL;
        if (sv_st_open(resume_path, &f, &e)) {
            cli_error("train: %s", e.msg);
            goto out;
        }
        const char *lt = sv_st_metadata(f, "train_loop"), *pr = sv_st_metadata(f, "preset");
        if (pr)
            snprintf(o.preset, sizeof o.preset, "%s", pr);
        cJSON *lj = lt ? cJSON_Parse(lt) : NULL;
        const cJSON *it;
        cJSON_ArrayForEach(it, lj)
        {
            char b[4096];
            if (!strcmp(it->string, "tick") && cJSON_IsNumber(it))
                tick = (int64_t)it->valuedouble;
            else if (!strcmp(it->string, "tick_start_nimg") && cJSON_IsNumber(it))
                tick_start_nimg = (int64_t)it->valuedouble;
            else if (!strcmp(it->string, "dataset_fingerprint") && cJSON_IsString(it))
                have_saved_fp = sscanf(it->valuestring, "%" SCNx64, &saved_fp) == 1;
            else if (in_list(loop_keys, it->string) && !json_val(it, b, sizeof b) && kv_push(&saved, it->string, b)) {
                cJSON_Delete(lj);
                sv_st_close(f);
                goto oom;
            }
        }
        cJSON_Delete(lj);
        sv_st_close(f);
        for (size_t i = 0; i < saved.n; i++)
            if (apply(&o, saved.a[i].key, saved.a[i].val)) {
                cli_error("train: %s: bad saved loop option '%s'", resume_path, saved.a[i].key);
                goto out;
            }
        rc = 2;
    } else {
        const char *preset = o.preset;
        for (int pass = 0; pass < 2; pass++) {
            kvlist *l = pass ? &cli : &file;
            for (size_t i = 0; i < l->n; i++)
                if (!strcmp(l->a[i].key, "preset"))
                    preset = l->a[i].val;
        }
        if (sv_mconfig_preset(preset, &o.cfg, &e)) {
            cli_error("train: --preset: %s", e.msg);
            goto out;
        }
        snprintf(o.preset, sizeof o.preset, "%s", preset);
        if (!strcmp(preset, "paper256"))
            o.to.batch = 64; /* the StyleGAN-V recipe (spec 4.1); CPU presets keep 4 */
        if (!strcmp(preset, "small") || !strcmp(preset, "tiny32"))
            o.to.ema_rampup = 0.05; /* short CPU runs: G_ema must not stay close to the initial weights */
        if (model && merge_model(&o.cfg, model))
            goto out;
    }
    for (int pass = 0; pass < 2; pass++) {
        kvlist *l = pass ? &cli : &file;
        for (size_t i = 0; i < l->n; i++)
            if (!in_list(run_keys, l->a[i].key) && apply(&o, l->a[i].key, l->a[i].val))
                goto out;
    }
    if (sv_mconfig_validate(&o.cfg, &e)) {
        cli_error("train: %s", e.msg);
        goto out;
    }

    /* ---- data ---- */
    rc = 1;
    sv_dataset_opts dso;
    sv_dataset_opts_default(&dso);
    dso.resolution = o.cfg.resolution;
    dso.resize = o.resize_auto ? SV_DS_RESIZE_AUTO : SV_DS_RESIZE_REJECT;
    dso.demo_videos = o.demo_videos;
    dso.demo_frames = o.demo_frames;
    if (!o.export_ema) {
        if (sv_dataset_open(o.data, &dso, &ds, &e)) {
            cli_error("train: %s", e.msg);
            goto out;
        }
        for (int64_t i = 0; i < sv_dataset_warnings(ds); i++)
            fprintf(stderr, "svgan: train: warning: %s\n", sv_dataset_warning(ds, i));
        if (sv_dataset_resolution(ds) != o.cfg.resolution) {
            cli_error("train: %s has %dx%d frames but the model is %dx%d (use --resize auto or another preset)",
                      o.data, sv_dataset_resolution(ds), sv_dataset_resolution(ds), o.cfg.resolution,
                      o.cfg.resolution);
            goto out;
        }
        if (have_saved_fp && saved_fp != sv_dataset_fingerprint(ds))
            fprintf(stderr, "svgan: train: warning: %s differs from the dataset the run was started with "
                            "(fingerprint %016" PRIx64 ", now %016" PRIx64 ")\n",
                    o.data, saved_fp, sv_dataset_fingerprint(ds));
    }

    /* ---- model ---- */
    if (sv_ctx_create(&ctx, o.device, &e)) {
        cli_error("train: %s", e.msg);
        goto out;
    }
    if (sv_trainer_new(ctx, &o.cfg, &o.to, &tr)) {
        cli_error("train: %s", sv_ctx_errmsg(ctx));
        goto out;
    }
    if (resume_path && sv_trainer_load_state(tr, resume_path, &e)) {
        cli_error("train: %s", e.msg);
        goto out;
    }
    if (o.export_ema) {
        char it[32];
        snprintf(it, sizeof it, "%lld", (long long)sv_trainer_cur_nimg(tr));
        const char *meta[] = {"created_by", "svgan train --export-ema", "preset", o.preset, "cur_nimg", it, NULL};
        if (sv_trainer_save_ema(tr, o.export_ema, meta, &e)) {
            cli_error("train: %s", e.msg);
            goto out;
        }
        printf("{\"output\": \"%s\", \"cur_nimg\": %s}\n", o.export_ema, it);
        rc = 0;
        goto out;
    }
    const int64_t NV = sv_dataset_num_videos(ds), B = o.to.batch, K = o.cfg.frames_per_clip, R = o.cfg.resolution;
    lens = malloc((size_t)NV * sizeof *lens);
    fidx = malloc((size_t)K * sizeof *fidx);
    u8 = malloc((size_t)(B * K * 3 * R * R));
    xf = malloc((size_t)(B * K * 3 * R * R) * sizeof *xf);
    treal = malloc((size_t)(B * K) * sizeof *treal);
    const int64_t rs[4] = {B * K, 3, R, R};
    if (!lens || !fidx || !u8 || !xf || !treal || sv_tensor_new(ctx, &real, 4, rs))
        goto oom;
    for (int64_t v = 0; v < NV; v++)
        lens[v] = sv_dataset_video_frames(ds, v);
    if (sv_clip_sampler_new(lens, NV, o.xflip, (int)K, o.cfg.max_num_frames, o.to.max_dist, o.to.seed, &cs, &e)) {
        cli_error("train: %s: %s", o.data, e.msg);
        goto out;
    }
    if (sv_trainer_set_video_lengths(tr, lens, NV)) {
        cli_error("train: %s: %s", o.data, sv_ctx_errmsg(ctx));
        goto out;
    }
    double fps = o.fps > 0 ? o.fps : sv_dataset_video_fps(ds, 0);
    if (!(fps > 0))
        fps = 25;

    /* ---- run directory ---- */
    if (make_dir(o.out))
        goto out;
    {
        cJSON *cj = cJSON_CreateObject(), *lj = loop_json(&o, tick, tick_start_nimg, sv_dataset_fingerprint(ds));
        char *mj = sv_mconfig_to_json(&o.cfg);
        cJSON *mo = mj ? cJSON_Parse(mj) : NULL;
        free(mj);
        char seed[32];
        snprintf(seed, sizeof seed, "%" PRIu64, o.to.seed);
        const sv_trainer_hparams *hp = sv_trainer_effective(tr);
        cJSON *tj = cJSON_CreateObject();
        if (!cj || !lj || !mo || !tj) {
            cJSON_Delete(cj);
            cJSON_Delete(lj);
            cJSON_Delete(mo);
            cJSON_Delete(tj);
            goto oom;
        }
        cJSON_AddNumberToObject(tj, "batch", (double)o.to.batch);
        cJSON_AddNumberToObject(tj, "lr_g", o.to.lr_g);
        cJSON_AddNumberToObject(tj, "lr_d", o.to.lr_d);
        cJSON_AddNumberToObject(tj, "r1_gamma", hp->r1_gamma);
        cJSON_AddNumberToObject(tj, "ema_beta", hp->ema_beta);
        cJSON_AddNumberToObject(tj, "ema_rampup", o.to.ema_rampup);
        cJSON_AddNumberToObject(tj, "d_reg_interval", o.to.d_reg_interval);
        cJSON_AddNumberToObject(tj, "max_dist", o.to.max_dist);
        cJSON_AddStringToObject(tj, "nan_policy", o.to.nan_policy == SV_NAN_FAIL ? "fail" : "scrub");
        cJSON_AddStringToObject(tj, "seed", seed);
        cJSON_AddStringToObject(cj, "preset", o.preset);
        cJSON_AddItemToObject(cj, "model", mo);
        cJSON_AddItemToObject(cj, "trainer", tj);
        cJSON_AddItemToObject(cj, "loop", lj);
        cJSON_AddStringToObject(cj, "dataset_kind", sv_dataset_kind(ds));
        cJSON_AddNumberToObject(cj, "dataset_videos", (double)NV);
        cfg_text = cJSON_Print(cj);
        cJSON_Delete(cj);
        char path[4200];
        snprintf(path, sizeof path, "%s/config.json", o.out);
        if (!cfg_text)
            goto oom;
        if (write_atomic(path, cfg_text, &e)) {
            cli_error("train: %s", e.msg);
            goto out;
        }
        snprintf(path, sizeof path, "%s/log.jsonl", o.out);
        int64_t dropped = 0;
        if (resume_path && trim_log(path, sv_trainer_iteration_count(tr), &dropped, &e)) {
            cli_error("train: %s", e.msg);
            goto out;
        }
        if (dropped)
            fprintf(stderr, "svgan train: %s: dropped %lld line(s) after iteration %lld (redone from the checkpoint)\n",
                    path, (long long)dropped, (long long)sv_trainer_iteration_count(tr));
        if (!(logf = fopen(path, "a"))) {
            cli_error("train: cannot open %s: %s", path, strerror(errno));
            goto out;
        }
    }

    /* ---- signals: finish the iteration, save, exit 128+signal ---- */
    {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaddset(&sa.sa_mask, SIGINT);
        sigaddset(&sa.sa_mask, SIGTERM);
        sigaction(SIGINT, &sa, &sa_old_int);
        sigaction(SIGTERM, &sa, &sa_old_term);
        handlers = 1;
    }

    const int64_t total_nimg = (int64_t)ceil(o.kimg * 1000.0);
    const int64_t tick_nimg = (int64_t)ceil(o.tick_kimg * 1000.0);
    fprintf(stdout, "svgan train: %s, %lld videos (%s), %s preset at %lldx%lld (widths %d, %d), B %lld x k %lld, %s; run %s, %s\n",
            o.data, (long long)NV, sv_dataset_kind(ds), o.preset, (long long)R, (long long)R, o.cfg.channel_base,
            o.cfg.channel_max, (long long)B,
            (long long)K, sv_ctx_info(ctx)->name, o.out,
            resume_path ? "resumed" : "new");
    if (resume_path)
        fprintf(stdout, "svgan train: resumed from %s at iteration %lld, %.3f kimg\n", resume_path,
                (long long)sv_trainer_iteration_count(tr), sv_trainer_cur_nimg(tr) / 1000.0);
    fflush(stdout);
    tick_acc acc;
    memset(&acc, 0, sizeof acc);
    const double t_start = now_s();
    double t_tick = t_start;
    const int64_t nimg_start = sv_trainer_cur_nimg(tr);
    int first = tick == 0, done = sv_trainer_cur_nimg(tr) >= total_nimg ||
                                  (o.stop_after_iter && sv_trainer_iteration_count(tr) >= o.stop_after_iter);
    if (done)
        fprintf(stdout, "svgan train: already at %.3f kimg, iteration %lld (--kimg %g): nothing to do\n",
                sv_trainer_cur_nimg(tr) / 1000.0, (long long)sv_trainer_iteration_count(tr), o.kimg);
    while (!done) {
        /* ---- real clips (counter-based: clip g = iteration·B + b) ---- */
        const double t0 = now_s();
        const int64_t it = sv_trainer_iteration_count(tr);
        for (int64_t b = 0; b < B; b++) {
            int64_t v;
            int flip;
            if (sv_clip_sampler_get(cs, it * B + b, &v, &flip, fidx, treal + b * K) ||
                sv_dataset_read(ds, v, fidx, (int)K, flip, u8 + b * K * 3 * R * R, &e)) {
                cli_error("train: %s", e.msg[0] ? e.msg : "clip sampling failed");
                goto fail;
            }
        }
        for (int64_t i = 0; i < B * K * 3 * R * R; i++)
            xf[i] = (float)u8[i] / 127.5f - 1.0f;
        if (sv_tensor_write(&real, xf, (size_t)(B * K * 3 * R * R))) {
            cli_error("train: %s", sv_ctx_errmsg(ctx));
            goto fail;
        }
        acc.t_data += now_s() - t0;

        /* ---- one iteration ---- */
        sv_trainer_stats st;
        if (sv_trainer_iteration(tr, &real, treal, &st)) {
            cli_error("train: %s", sv_ctx_errmsg(ctx));
            goto fail;
        }
        acc.n++;
        acc.loss_g += st.loss_g;
        acc.loss_d += st.loss_d;
        acc.lf += st.logits_fake_d;
        acc.lr += st.logits_real;
        acc.lf2 += st.logits_fake_d * st.logits_fake_d;
        acc.lr2 += st.logits_real * st.logits_real;
        if (!isnan(st.ada_sign)) {
            acc.sign += st.ada_sign;
            acc.nsign++;
        }
        acc.nf_g += st.nonfinite_g;
        acc.nf_d += st.nonfinite_d;
        acc.nf_r1 += st.nonfinite_r1;
        acc.t_g += st.time_g;
        acc.t_d += st.time_d;
        acc.t_ema += st.time_ema;
        if (st.r1_ran) {
            acc.nr1++;
            acc.loss_r1 += st.loss_r1;
            acc.pen += st.r1_penalty;
            acc.t_r1 += st.time_r1;
        }
        const int64_t nimg = sv_trainer_cur_nimg(tr);
        const int64_t iters = sv_trainer_iteration_count(tr);
        int stop_sig = g_stop_signal;
        done = nimg >= total_nimg || (o.stop_after_iter && iters >= o.stop_after_iter) || stop_sig;
        const double now = now_s(), el = now - t_start;
        const double rate = el > 0 ? (double)(nimg - nimg_start) / 1000.0 / el : 0;
        if (tty) {
            const double eta = rate > 0 ? ((double)(total_nimg - nimg) / 1000.0) / rate : 0;
            fprintf(stderr, "\rkimg %.3f/%g  %.3f kimg/s  ETA %02d:%02d:%02d  G %.4f  D %.4f  p %.3f   ",
                    nimg / 1000.0, o.kimg, rate, (int)(eta / 3600), (int)fmod(eta / 60, 60), (int)fmod(eta, 60),
                    st.loss_g, st.loss_d, st.aug_p);
            fflush(stderr);
        }
        if (!done && !first && nimg < tick_start_nimg + tick_nimg)
            continue;
        first = 0;

        /* ---- tick ---- */
        const int snap = done || tick % o.snap == 0;
        const int64_t this_tick = tick;
        const double tick_s = now - t_tick;
        tick++;
        tick_start_nimg = nimg;
        t_tick = now;
        char ck[64] = "";
        if (snap) {
            if (snapshot(tr, &o, o.preset, tick, tick_start_nimg, sv_dataset_fingerprint(ds), ck, sizeof ck, &e)) {
                if (tty)
                    fputc('\n', stderr);
                cli_error("train: snapshot failed (the previous checkpoint is intact): %s", e.msg);
                goto fail;
            }
            if (o.samples) {
                char base[4200];
                /* samples-<the checkpoint's name between "checkpoint-" and ".svgan"> */
                const size_t pre = sizeof "checkpoint-" - 1, suf = sizeof ".svgan" - 1;
                snprintf(base, sizeof base, "%s/samples-%.*s", o.out, (int)(strlen(ck) - pre - suf), ck + pre);
                if (write_samples(ctx, sv_trainer_generator_ema(tr), &o, fps, base, &e)) {
                    if (tty)
                        fputc('\n', stderr);
                    cli_error("train: samples: %s", e.msg);
                    goto fail;
                }
            }
        }
        double ap;
        sv_trainer_aug_state(tr, &ap, NULL, NULL);
        const double n = acc.n ? (double)acc.n : 1;
        cJSON *lj = cJSON_CreateObject();
        if (!lj)
            goto oom_fail;
        cJSON_AddNumberToObject(lj, "tick", (double)this_tick);
        cJSON_AddNumberToObject(lj, "kimg", nimg / 1000.0);
        cJSON_AddNumberToObject(lj, "iteration", (double)iters);
        cJSON_AddNumberToObject(lj, "iterations", (double)acc.n);
        cJSON_AddNumberToObject(lj, "loss_g", acc.loss_g / n);
        cJSON_AddNumberToObject(lj, "loss_d", acc.loss_d / n);
        cJSON_AddNumberToObject(lj, "logits_fake", acc.lf / n);
        cJSON_AddNumberToObject(lj, "logits_real", acc.lr / n);
        cJSON_AddNumberToObject(lj, "logits_fake_sd", spread(acc.lf, acc.lf2, acc.n));
        cJSON_AddNumberToObject(lj, "logits_real_sd", spread(acc.lr, acc.lr2, acc.n));
        cJSON_AddNumberToObject(lj, "loss_r1", acc.nr1 ? acc.loss_r1 / (double)acc.nr1 : NAN);
        cJSON_AddNumberToObject(lj, "r1_penalty", acc.nr1 ? acc.pen / (double)acc.nr1 : NAN);
        cJSON_AddNumberToObject(lj, "r1_runs", (double)acc.nr1);
        cJSON_AddNumberToObject(lj, "nonfinite_g", (double)acc.nf_g);
        cJSON_AddNumberToObject(lj, "nonfinite_d", (double)acc.nf_d);
        cJSON_AddNumberToObject(lj, "nonfinite_r1", (double)acc.nf_r1);
        cJSON_AddNumberToObject(lj, "sec_per_iter", tick_s / n);
        cJSON_AddNumberToObject(lj, "sec_data", acc.t_data / n);
        cJSON_AddNumberToObject(lj, "sec_g", acc.t_g / n);
        cJSON_AddNumberToObject(lj, "sec_d", acc.t_d / n);
        cJSON_AddNumberToObject(lj, "sec_r1", acc.nr1 ? acc.t_r1 / (double)acc.nr1 : 0);
        cJSON_AddNumberToObject(lj, "sec_ema", acc.t_ema / n);
        cJSON_AddNumberToObject(lj, "kimg_per_s", rate);
        cJSON_AddNumberToObject(lj, "aug_p", ap);
        cJSON_AddNumberToObject(lj, "ada_sign_real", acc.nsign ? acc.sign / (double)acc.nsign : NAN);
        cJSON_AddNumberToObject(lj, "ema_beta", st.ema_beta);
        cJSON_AddNumberToObject(lj, "elapsed_s", el);
        if (snap)
            cJSON_AddStringToObject(lj, "checkpoint", ck);
        else
            cJSON_AddNullToObject(lj, "checkpoint");
        char *line = cJSON_PrintUnformatted(lj);
        cJSON_Delete(lj);
        if (!line)
            goto oom_fail;
        fprintf(logf, "%s\n", line);
        fflush(logf);
        free(line);
        if (tty)
            fputc('\n', stderr);
        fprintf(stdout, "tick %-4lld kimg %-9.3f iter %-7lld %.3f s/iter  %.4f kimg/s  G %.4f  D %.4f  R1 %.4g%s%s\n",
                (long long)this_tick, nimg / 1000.0, (long long)iters, tick_s / n, rate, acc.loss_g / n,
                acc.loss_d / n, acc.nr1 ? acc.loss_r1 / (double)acc.nr1 : NAN, snap ? "  -> " : "", ck);
        fflush(stdout);
        memset(&acc, 0, sizeof acc);
        if (stop_sig) {
            fprintf(stdout, "svgan train: stopped by signal %d after iteration %lld; resume with --resume %s\n",
                    stop_sig, (long long)iters, o.out);
            rc = 128 + stop_sig;
            goto fail;
        }
    }
    rc = 0;
    goto fail;
oom_fail:
    cli_error("train: out of memory");
    rc = 1;
fail:
    if (handlers) {
        sigaction(SIGINT, &sa_old_int, NULL);
        sigaction(SIGTERM, &sa_old_term, NULL);
    }
    goto out;
oom:
    cli_error("train: out of memory");
    rc = 1;
out:
    if (logf)
        fclose(logf);
    sv_tensor_free(&real);
    sv_clip_sampler_free(cs);
    sv_trainer_free(tr);
    sv_dataset_close(ds);
    sv_ctx_destroy(ctx);
    free(resume_path);
    free(cfg_text);
    free(out_dir);
    free(u8);
    free(xf);
    free(treal);
    free(lens);
    free(fidx);
    cJSON_Delete(model);
    kv_free(&cli);
    kv_free(&file);
    kv_free(&saved);
    return rc;
}
