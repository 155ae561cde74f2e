/* svgan fvd: Fréchet Video Distance between a dataset and a model (or another dataset), with the
 * StyleGAN-V protocols (see svgan-fvd(1), include/svgan/fvd.h). */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "svgan/dataset.h"
#include "svgan/fvd.h"
#include "svgan/i3d.h"

#define PREPROCESS "uint8 RGB; bilinear resize to 224x224 (half-pixel centres, no antialias); x/255*2-1"
#define FEATURE "i3d-kinetics400 logits averaged over time (400)"
#define QUANTISE "uint8(clamp(x*127.5+128, 0, 255)), truncating"

typedef struct fvd_opts {
    const char *real, *fake, *checkpoint, *i3d, *device, *real_stats, *features_out;
    sv_fvd_protocol p;
    uint64_t seed;
    int unbiased, allow_fewer, fake_random, no_cache, json, allow_unofficial, batch;
    sv_fd_route route;
} fvd_opts;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: svgan fvd --real DATASET (--checkpoint FILE | --fake DATASET) --i3d WEIGHTS [options]\n"
            "Frechet Video Distance with the StyleGAN-V protocols; see svgan-fvd(1).\n"
            "  --real DATASET          real videos: frame folders, .zip, video files or demo[:SEED]\n"
            "  --checkpoint FILE       fake clips from this model's generator (G_ema), clip i from seed+i\n"
            "  --fake DATASET          ... or fake clips read from a dataset (video vs video)\n"
            "  --i3d FILE              I3D weights: the 50,818,176-byte Kinetics-400 TF checkpoint data file\n"
            "                          (default $SVGAN_I3D; svgan never downloads it)\n"
            "  --protocol NAME         fvd2048_16f (default), fvd2048_128f, fvd2048_128f_subsample8f\n"
            "  --num-videos N          clips per side (real: one per video, the first N long enough)\n"
            "  --frames N              frames per clip (>= %d)\n"
            "  --stride S              temporal stride\n"
            "  --seed N                real clip offsets and fake clip seeds (default 0)\n"
            "  --unbiased              covariance / (N-1) (TF-GAN) instead of / N (StyleGAN-V)\n"
            "  --frechet auto|eigen|gram  how tr sqrt(S1 S2) is computed (default auto)\n"
            "  --allow-fewer-real      fewer long-enough videos than N: use them all (StyleGAN-V)\n"
            "  --fake-offsets first|random  clips of --fake videos start at 0 (default) or at random\n"
            "  --real-stats FILE       real statistics cache file (default: in the cache directory)\n"
            "  --no-cache              do not read or write cached real statistics\n"
            "  --features-out FILE     write the per-clip features (safetensors)\n"
            "  --batch N               clips per I3D call (default max(1, 128/frames))\n"
            "  --allow-unofficial-weights  accept other I3D weights; the score is labelled not comparable\n"
            "  --json                  print only the JSON line (default: a human line, then the JSON line)\n"
            "  --device D              device index, type or name substring\n",
            SV_I3D_MIN_FRAMES);
}

static int parse_ll(const char *opt, const char *v, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || errno || x < lo || x > hi) {
        cli_error("fvd: %s '%s': expected an integer in [%lld, %lld]", opt, v, lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct prog {
    int tty;
    const char *what;
    double t0;
} prog;

static void progress(void *user, int64_t done, int64_t total)
{
    prog *p = user;
    if (!p->tty)
        return;
    double el = now_s() - p->t0, rate = el > 0 ? (double)done / el : 0, eta = rate > 0 ? (double)(total - done) / rate : 0;
    fprintf(stderr, "\rsvgan fvd: %s clips %lld/%lld  %.2f clips/s  ETA %02d:%02d:%02d ", p->what, (long long)done,
            (long long)total, rate, (int)(eta / 3600), (int)fmod(eta / 60, 60), (int)fmod(eta, 60));
    if (done == total)
        fputc('\n', stderr);
    fflush(stderr);
}

static sv_dataset *open_ds(const char *path, sv_err *e)
{
    char rp[PATH_MAX];
    const char *use = path;
    if (access(path, F_OK) == 0 && realpath(path, rp))
        use = rp;
    sv_dataset_opts o;
    sv_dataset_opts_default(&o);
    sv_dataset *ds = NULL;
    if (sv_dataset_open(use, &o, &ds, e))
        return NULL;
    return ds;
}

static char *hex64(uint64_t v, char *buf)
{
    snprintf(buf, 17, "%016llx", (unsigned long long)v);
    return buf;
}

/* key/value pairs identifying cached real statistics */
typedef struct cache_key {
    char n[24], f[24], s[24], seed[24], fp[17], res[24];
    const char *kv[40];
    const char *name[16]; /* the pairs that name the default cache file */
} cache_key;

static void make_key(cache_key *k, const fvd_opts *o, sv_dataset *ds, sv_i3d *net)
{
    snprintf(k->n, sizeof k->n, "%d", o->p.num_videos);
    snprintf(k->f, sizeof k->f, "%d", o->p.frames);
    snprintf(k->s, sizeof k->s, "%d", o->p.stride);
    snprintf(k->seed, sizeof k->seed, "%llu", (unsigned long long)o->seed);
    snprintf(k->res, sizeof k->res, "%d", sv_dataset_resolution(ds));
    hex64(sv_dataset_fingerprint(ds), k->fp);
    const char *kv[] = {"protocol", o->p.name, "num_videos", k->n, "frames", k->f, "stride", k->s, "seed", k->seed,
                        "offsets", "random (stream SV_STREAM_FVD)", "dataset_path", sv_dataset_path(ds),
                        "dataset_kind", sv_dataset_kind(ds), "dataset_fingerprint", k->fp, "dataset_resolution",
                        k->res, "dataset_resize", "reject", "i3d_sha1", sv_i3d_sha1(net), "preprocess", PREPROCESS,
                        "feature", FEATURE, "svgan_version", PACKAGE_VERSION, NULL};
    memcpy(k->kv, kv, sizeof kv);
    const char *name[] = {"protocol", o->p.name, "num_videos", k->n, "frames", k->f, "stride", k->s, "seed", k->seed,
                          "dataset_path", sv_dataset_path(ds), "i3d_sha1", sv_i3d_sha1(net), NULL};
    memcpy(k->name, name, sizeof name);
}

static cJSON *ds_json(sv_dataset *ds, const sv_fvd_plan *pl, const char *offsets)
{
    char fp[17];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "source", sv_dataset_path(ds));
    cJSON_AddStringToObject(o, "kind", sv_dataset_kind(ds));
    cJSON_AddStringToObject(o, "fingerprint", hex64(sv_dataset_fingerprint(ds), fp));
    cJSON_AddNumberToObject(o, "resolution", sv_dataset_resolution(ds));
    cJSON_AddNumberToObject(o, "videos", (double)sv_dataset_num_videos(ds));
    cJSON_AddNumberToObject(o, "left_out_at_open", (double)sv_dataset_warnings(ds));
    cJSON_AddNumberToObject(o, "skipped_short", (double)pl->skipped);
    cJSON_AddStringToObject(o, "offsets", offsets);
    return o;
}

int cmd_fvd(int argc, char **argv)
{
    fvd_opts o;
    memset(&o, 0, sizeof o);
    sv_err e = {0};
    int rc = 2;
    const char *proto = "fvd2048_16f";
    long long num = -1, frames = -1, stride = -1;
    static const char *const valued[] = {"--real", "--fake", "--checkpoint", "--i3d", "--protocol", "--num-videos",
                                         "--frames", "--stride", "--seed", "--frechet", "--fake-offsets",
                                         "--real-stats", "--features-out", "--batch", NULL};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = cli_device_opt(argc, argv, &i, &o.device);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--unbiased")) {
            o.unbiased = 1;
            continue;
        }
        if (!strcmp(a, "--allow-fewer-real")) {
            o.allow_fewer = 1;
            continue;
        }
        if (!strcmp(a, "--no-cache")) {
            o.no_cache = 1;
            continue;
        }
        if (!strcmp(a, "--json")) {
            o.json = 1;
            continue;
        }
        if (!strcmp(a, "--allow-unofficial-weights")) {
            o.allow_unofficial = 1;
            continue;
        }
        const char *v = NULL;
        int which = cli_take_value("fvd", argc, argv, &i, valued, &v);
        if (which == -2)
            return 2;
        if (which < 0) {
            cli_error("fvd: unknown option '%s' (see 'svgan fvd --help')", a);
            return 2;
        }
        a = valued[which];
        long long ll;
        if (!strcmp(a, "--real"))
            o.real = v;
        else if (!strcmp(a, "--fake"))
            o.fake = v;
        else if (!strcmp(a, "--checkpoint"))
            o.checkpoint = v;
        else if (!strcmp(a, "--i3d"))
            o.i3d = v;
        else if (!strcmp(a, "--protocol"))
            proto = v;
        else if (!strcmp(a, "--num-videos")) {
            if (parse_ll(a, v, 1, 1000000, &num))
                return 2;
        } else if (!strcmp(a, "--frames")) {
            if (parse_ll(a, v, SV_I3D_MIN_FRAMES, 100000, &frames))
                return 2;
        } else if (!strcmp(a, "--stride")) {
            if (parse_ll(a, v, 1, 100000, &stride))
                return 2;
        } else if (!strcmp(a, "--seed")) {
            if (parse_ll(a, v, 0, INT64_MAX / 2, &ll))
                return 2;
            o.seed = (uint64_t)ll;
        } else if (!strcmp(a, "--frechet")) {
            if (!strcmp(v, "auto"))
                o.route = SV_FD_AUTO;
            else if (!strcmp(v, "eigen"))
                o.route = SV_FD_EIGEN;
            else if (!strcmp(v, "gram"))
                o.route = SV_FD_GRAM;
            else {
                cli_error("fvd: --frechet '%s': expected auto, eigen or gram", v);
                return 2;
            }
        } else if (!strcmp(a, "--fake-offsets")) {
            if (strcmp(v, "first") && strcmp(v, "random")) {
                cli_error("fvd: --fake-offsets '%s': expected first or random", v);
                return 2;
            }
            o.fake_random = !strcmp(v, "random");
        } else if (!strcmp(a, "--real-stats"))
            o.real_stats = v;
        else if (!strcmp(a, "--features-out"))
            o.features_out = v;
        else if (!strcmp(a, "--batch")) {
            if (parse_ll(a, v, 1, 4096, &ll))
                return 2;
            o.batch = (int)ll;
        }
    }
    if (sv_fvd_protocol_get(proto, &o.p, &e)) {
        cli_error("fvd: %s", e.msg);
        return 2;
    }
    if ((num > 0 && num != o.p.num_videos) || (frames > 0 && frames != o.p.frames) ||
        (stride > 0 && stride != o.p.stride)) {
        snprintf(o.p.name, sizeof o.p.name, "custom");
        if (num > 0)
            o.p.num_videos = (int)num;
        if (frames > 0)
            o.p.frames = (int)frames;
        if (stride > 0)
            o.p.stride = (int)stride;
    }
    if (!o.real) {
        cli_error("fvd: --real DATASET is required (see 'svgan fvd --help')");
        return 2;
    }
    if (!!o.fake == !!o.checkpoint) {
        cli_error("fvd: give exactly one of --checkpoint FILE and --fake DATASET");
        return 2;
    }
    if (o.p.frames < SV_I3D_MIN_FRAMES) {
        cli_error("fvd: %d frames per clip: I3D needs at least %d", o.p.frames, SV_I3D_MIN_FRAMES);
        return 2;
    }
    if (!o.i3d) {
        const char *env = getenv("SVGAN_I3D");
        o.i3d = env && *env ? env : NULL;
    }
    if (!o.i3d) {
        cli_error("fvd: no I3D weights: pass --i3d FILE or set SVGAN_I3D to the 50,818,176-byte Kinetics-400 I3D "
                  "checkpoint (TF-Hub deepmind/i3d-kinetics-400/1 variables/variables.data-00000-of-00001 = "
                  "github.com/deepmind/kinetics-i3d data/checkpoints/rgb_scratch/model.ckpt.data-00000-of-00001); "
                  "svgan never downloads it, see svgan-fvd(1)");
        return 1;
    }
    {
        struct stat st;
        int bad = stat(o.i3d, &st) != 0 ? errno : 0;
        if (bad || !S_ISREG(st.st_mode)) {
            cli_error("fvd: I3D weights %s: %s", o.i3d, bad ? strerror(bad) : "not a regular file");
            return 1;
        }
        if ((long long)st.st_size != SV_I3D_WEIGHTS_BYTES) {
            cli_error("fvd: I3D weights %s: %lld bytes, the Kinetics-400 I3D checkpoint data file has %lld", o.i3d,
                      (long long)st.st_size, (long long)SV_I3D_WEIGHTS_BYTES);
            return 1;
        }
    }
    if (o.batch < 1)
        o.batch = o.p.frames >= 128 ? 1 : 128 / o.p.frames;

    rc = 1;
    const double t_start = now_s();
    sv_dataset *real = NULL, *fake = NULL;
    sv_st_file *ckf = NULL;
    sv_ctx *ctx = NULL;
    sv_i3d *net = NULL;
    sv_generator *g = NULL;
    sv_fvd_stats *rs = NULL, *fs = NULL;
    sv_fvd_plan rplan = {0}, fplan = {0};
    cJSON *js = NULL;
    char *line = NULL;
    sv_mconfig cfg;
    char cache_file[PATH_MAX] = "", cache_state[600] = "off";
    double t_real = 0, t_fake = 0, t_fd = 0;

    /* ---- inputs (cheap checks before the device) ---- */
    if (!(real = open_ds(o.real, &e))) {
        cli_error("%s", e.msg);
        goto out;
    }
    if (sv_fvd_plan_dataset(real, &o.p, o.seed, 1, o.allow_fewer, &rplan, &e)) {
        cli_error("%s", e.msg);
        goto out;
    }
    if (o.fake) {
        if (!(fake = open_ds(o.fake, &e)) ||
            sv_fvd_plan_dataset(fake, &o.p, o.seed, o.fake_random, o.allow_fewer, &fplan, &e)) {
            cli_error("%s", e.msg);
            goto out;
        }
    } else if (sv_checkpoint_open(o.checkpoint, &ckf, &cfg, &e)) {
        cli_error("%s", e.msg);
        goto out;
    }
    if (sv_ctx_create(&ctx, o.device, &e)) {
        cli_error("%s", e.msg);
        goto out;
    }
    if (sv_i3d_load(ctx, o.i3d, NULL, &net)) {
        cli_error("fvd: %s", sv_ctx_errmsg(ctx));
        goto out;
    }
    const int official = sv_i3d_is_official(net);
    if (!official && !o.allow_unofficial) {
        cli_error("fvd: %s is not the official I3D checkpoint (git blob SHA-1 %s, expected %s): its scores are "
                  "not comparable with published FVD; --allow-unofficial-weights computes one anyway",
                  o.i3d, sv_i3d_git_sha1(net), SV_I3D_OFFICIAL_GIT_SHA1);
        goto out;
    }
    if (!official && !o.json)
        fprintf(stderr, "svgan: fvd: warning: unofficial I3D weights (%s): the score is NOT comparable with "
                        "published FVD\n", o.i3d);
    const int tty = isatty(2);

    /* ---- real statistics: cache or compute ---- */
    double t0 = now_s();
    cache_key key;
    make_key(&key, &o, real, net);
    if (!o.no_cache) {
        sv_err ce = {0};
        if (o.real_stats)
            snprintf(cache_file, sizeof cache_file, "%s", o.real_stats);
        else if (sv_fvd_cache_path(key.name, cache_file, sizeof cache_file, &ce))
            cache_file[0] = 0;
        if (cache_file[0]) {
            char why[400];
            if (sv_fvd_cache_load(cache_file, key.kv, &rs, why, sizeof why, &e)) {
                cli_error("%s", e.msg);
                goto out;
            }
            if (rs)
                snprintf(cache_state, sizeof cache_state, "hit");
            else {
                snprintf(cache_state, sizeof cache_state, "miss: %s", why);
                if (!o.json && access(cache_file, F_OK) == 0)
                    fprintf(stderr, "svgan: fvd: cached real statistics not used (%s): recomputing\n", why);
            }
        }
    }
    if (!rs) {
        prog pr = {tty, "real", now_s()};
        if (sv_fvd_stats_new(SV_I3D_FEATURES, 1, &rs, &e) ||
            sv_fvd_features_dataset(ctx, net, real, &rplan, &o.p, o.batch, rs, progress, &pr, &e)) {
            cli_error("fvd: real clips: %s", e.msg);
            goto out;
        }
        if (cache_file[0]) {
            char nc[24], sk[24];
            snprintf(nc, sizeof nc, "%lld", (long long)rplan.n);
            snprintf(sk, sizeof sk, "%lld", (long long)rplan.skipped);
            const char *info[] = {"num_clips", nc, "skipped_short", sk, "i3d_path", o.i3d, NULL};
            sv_err se = {0};
            if (sv_fvd_cache_save(cache_file, rs, key.kv, info, &se))
                fprintf(stderr, "svgan: fvd: warning: real statistics not cached: %s\n", se.msg);
        }
    }
    t_real = now_s() - t0;

    /* ---- fake statistics ---- */
    t0 = now_s();
    {
        prog pr = {tty, "fake", now_s()};
        if (sv_fvd_stats_new(SV_I3D_FEATURES, 1, &fs, &e)) {
            cli_error("fvd: %s", e.msg);
            goto out;
        }
        if (fake) {
            if (sv_fvd_features_dataset(ctx, net, fake, &fplan, &o.p, o.batch, fs, progress, &pr, &e)) {
                cli_error("fvd: fake clips: %s", e.msg);
                goto out;
            }
        } else {
            if (sv_generator_new(ctx, &cfg, &g) || sv_checkpoint_load_generator(ckf, NULL, g, &e)) {
                cli_error("%s", e.msg[0] ? e.msg : sv_ctx_errmsg(ctx));
                goto out;
            }
            if (sv_fvd_features_generator(net, g, &o.p, o.p.num_videos, o.seed, o.batch, fs, progress, &pr, &e)) {
                cli_error("fvd: generated clips: %s", e.msg);
                goto out;
            }
        }
    }
    t_fake = now_s() - t0;

    /* ---- distance ---- */
    t0 = now_s();
    sv_fd_result res;
    if (sv_fvd_distance(rs, fs, o.unbiased, o.route, &res, &e)) {
        cli_error("fvd: %s", e.msg);
        goto out;
    }
    t_fd = now_s() - t0;

    /* ---- features ---- */
    if (o.features_out) {
        sv_st_writer *w = sv_st_writer_new();
        int64_t rsh[2] = {sv_fvd_stats_count(rs), SV_I3D_FEATURES}, fsh[2] = {sv_fvd_stats_count(fs), SV_I3D_FEATURES};
        int64_t rn[1] = {rsh[0]}, fn[1] = {fsh[0]};
        int wr = !w;
        if (!wr)
            wr = sv_st_writer_add_ref(w, "real.features", SV_ST_F32, 2, rsh, sv_fvd_stats_features(rs), &e) ||
                 sv_st_writer_add_ref(w, "real.video", SV_ST_I64, 1, rn, sv_fvd_stats_videos(rs), &e) ||
                 sv_st_writer_add_ref(w, "real.offset", SV_ST_I64, 1, rn, sv_fvd_stats_offsets(rs), &e) ||
                 sv_st_writer_add_ref(w, "fake.features", SV_ST_F32, 2, fsh, sv_fvd_stats_features(fs), &e) ||
                 sv_st_writer_add_ref(w, "fake.video", SV_ST_I64, 1, fn, sv_fvd_stats_videos(fs), &e) ||
                 sv_st_writer_add_ref(w, "fake.offset", SV_ST_I64, 1, fn, sv_fvd_stats_offsets(fs), &e);
        for (int i = 0; !wr && key.kv[i]; i += 2)
            wr = sv_st_writer_meta(w, key.kv[i], key.kv[i + 1], &e);
        if (!wr)
            wr = sv_st_writer_meta(w, "fake_source", o.fake ? o.fake : o.checkpoint, &e) ||
                 sv_st_writer_save(w, o.features_out, &e);
        sv_st_writer_free(w);
        if (wr) {
            cli_error("fvd: --features-out: %s", e.msg[0] ? e.msg : "out of memory");
            goto out;
        }
    }

    /* ---- output ---- */
    const char *note = official ? "" : "NOT COMPARABLE with published FVD: unofficial I3D weights";
    char seeds[64];
    snprintf(seeds, sizeof seeds, "%llu..%llu", (unsigned long long)o.seed,
             (unsigned long long)(o.seed + (uint64_t)o.p.num_videos - 1));
    js = cJSON_CreateObject();
    cJSON_AddStringToObject(js, "metric", "fvd");
    cJSON_AddStringToObject(js, "protocol", o.p.name);
    cJSON_AddNumberToObject(js, "fvd", res.fd);
    cJSON_AddBoolToObject(js, "comparable", official);
    if (!official)
        cJSON_AddStringToObject(js, "note", note);
    cJSON_AddNumberToObject(js, "num_real", (double)sv_fvd_stats_count(rs));
    cJSON_AddNumberToObject(js, "num_fake", (double)sv_fvd_stats_count(fs));
    cJSON_AddNumberToObject(js, "num_videos", o.p.num_videos);
    cJSON_AddNumberToObject(js, "frames", o.p.frames);
    cJSON_AddNumberToObject(js, "stride", o.p.stride);
    cJSON_AddNumberToObject(js, "seed", (double)o.seed);
    cJSON_AddStringToObject(js, "covariance", o.unbiased ? "unbiased (N-1)" : "biased (N)");
    cJSON_AddStringToObject(js, "frechet_route", sv_fd_route_name(res.route));
    cJSON_AddNumberToObject(js, "fvd_raw", res.raw);
    cJSON_AddNumberToObject(js, "mean_term", res.mean_term);
    cJSON_AddNumberToObject(js, "trace_real", res.trace1);
    cJSON_AddNumberToObject(js, "trace_fake", res.trace2);
    cJSON_AddNumberToObject(js, "trace_sqrt", res.trace_sqrt);
    cJSON *jr = ds_json(real, &rplan, "random");
    cJSON_AddStringToObject(jr, "stats", cache_state);
    if (cache_file[0])
        cJSON_AddStringToObject(jr, "cache_file", cache_file);
    cJSON_AddItemToObject(js, "real", jr);
    cJSON *jf;
    if (fake) {
        jf = ds_json(fake, &fplan, o.fake_random ? "random" : "first");
    } else {
        jf = cJSON_CreateObject();
        cJSON_AddStringToObject(jf, "source", o.checkpoint);
        cJSON_AddStringToObject(jf, "kind", "checkpoint");
        cJSON_AddNumberToObject(jf, "resolution", cfg.resolution);
        cJSON_AddStringToObject(jf, "seeds", seeds);
        cJSON_AddStringToObject(jf, "times", "0, s, ..., (n-1)s");
        cJSON_AddNumberToObject(jf, "truncation", 1);
        cJSON_AddStringToObject(jf, "quantisation", QUANTISE);
    }
    cJSON_AddItemToObject(js, "fake", jf);
    cJSON *ji = cJSON_CreateObject();
    cJSON_AddStringToObject(ji, "path", o.i3d);
    cJSON_AddStringToObject(ji, "sha1", sv_i3d_sha1(net));
    cJSON_AddStringToObject(ji, "git_sha1", sv_i3d_git_sha1(net));
    cJSON_AddBoolToObject(ji, "official", official);
    cJSON_AddStringToObject(ji, "preprocess", PREPROCESS);
    cJSON_AddStringToObject(ji, "feature", FEATURE);
    cJSON_AddNumberToObject(ji, "input_size", SV_I3D_SIZE);
    cJSON_AddItemToObject(js, "i3d", ji);
    cJSON *jt = cJSON_CreateObject();
    cJSON_AddNumberToObject(jt, "real", t_real);
    cJSON_AddNumberToObject(jt, "fake", t_fake);
    cJSON_AddNumberToObject(jt, "frechet", t_fd);
    cJSON_AddNumberToObject(jt, "total", now_s() - t_start);
    cJSON_AddItemToObject(js, "time_s", jt);
    cJSON_AddStringToObject(js, "device", sv_ctx_info(ctx)->name);
    cJSON_AddStringToObject(js, "svgan_version", PACKAGE_VERSION);
    line = cJSON_PrintUnformatted(js);
    if (!line) {
        cli_error("fvd: out of memory");
        goto out;
    }
    if (!o.json)
        printf("FVD %s = %.4f%s%s%s  (real %lld clips of %s, fake %lld clips of %s; %d frames, stride %d; %s "
               "covariance; %.1f s)\n",
               o.p.name, res.fd, official ? "" : "  [", note, official ? "" : "]", (long long)sv_fvd_stats_count(rs), o.real,
               (long long)sv_fvd_stats_count(fs), o.fake ? o.fake : o.checkpoint, o.p.frames, o.p.stride,
               o.unbiased ? "unbiased" : "biased", now_s() - t_start);
    printf("%s\n", line);
    fflush(stdout);
    rc = 0;
out:
    free(line);
    cJSON_Delete(js);
    sv_fvd_stats_free(rs);
    sv_fvd_stats_free(fs);
    sv_fvd_plan_free(&rplan);
    sv_fvd_plan_free(&fplan);
    sv_generator_free(g);
    sv_i3d_free(net);
    sv_ctx_destroy(ctx);
    sv_st_close(ckf);
    sv_dataset_close(real);
    sv_dataset_close(fake);
    return rc;
}
