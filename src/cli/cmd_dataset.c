/* svgan dataset: inspect a dataset (info) or convert any source to the frame-folder layout (make);
 * see svgan-dataset(1). */
#include "config.h"

#include <dirent.h>
#include <errno.h>
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
#include "svgan/video.h"

typedef struct ds_cli {
    const char *sub, *src, *output, *crop;
    sv_dataset_opts o;
    int json, force, quality, have_res;
    double fps;
} ds_cli;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: svgan dataset info PATH [--json] [options]\n"
            "       svgan dataset make SRC -o DST --resolution R [options]\n"
            "Inspect a video dataset, or convert one to the frame-folder layout; see svgan-dataset(1).\n"
            "PATH / SRC: a directory of video folders of .jpg/.png frames, a .zip of that tree, a directory of\n"
            "video files (.mp4 .avi .mkv .webm .mov .m4v .mpg .ogv), or demo / demo:SEED.\n"
            "  --json                  info: one JSON object on stdout\n"
            "  -o, --output DIR        make: the new dataset directory (written as DIR.tmp-PID, then renamed)\n"
            "  --resolution R          frame size R x R (make: required; info: check against R)\n"
            "  --resize reject|auto    info: frames not at R are an error (default) or resized\n"
            "  --crop center|pad       non-square frames: centre crop (default) or pad with black\n"
            "  --fps F                 make: resample video files to F frames per second (nearest earlier frame)\n"
            "  --quality Q             make: JPEG quality (default 95)\n"
            "  --on-error skip|fatal   unreadable videos: left out with a warning (default) or an error\n"
            "  --min-frames N          leave out videos shorter than N frames (default 3)\n"
            "  --demo-videos N         demo: number of videos (default 32)\n"
            "  --demo-frames N         demo: frames per video (default 64)\n"
            "  --force                 make: replace an existing DST\n");
}

static int parse_int(const char *opt, const char *v, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (!*v || *end || errno || x < lo || x > hi) {
        cli_error("dataset: %s '%s': expected an integer in [%ld, %ld]", opt, v, lo, hi);
        return -1;
    }
    *out = (int)x;
    return 0;
}

/* 0: parsed, 1: --help printed, 2: usage error (message printed). */
static int parse(int argc, char **argv, ds_cli *c)
{
    static const char *const valued[] = {"-o", "--output", "--resolution", "--resize", "--crop", "--fps",
                                         "--quality", "--on-error", "--min-frames", "--demo-videos",
                                         "--demo-frames", NULL};
    memset(c, 0, sizeof *c);
    sv_dataset_opts_default(&c->o);
    c->quality = 95;
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return 1;
    }
    c->sub = argv[1];
    if (strcmp(c->sub, "info") && strcmp(c->sub, "make")) {
        cli_error("dataset: unknown subcommand '%s' (expected info or make; see 'svgan dataset --help')", c->sub);
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 1;
        }
        if (!strcmp(a, "--json")) {
            c->json = 1;
            continue;
        }
        if (!strcmp(a, "--force")) {
            c->force = 1;
            continue;
        }
        if (a[0] != '-' || !strcmp(a, "-")) {
            if (c->src) {
                cli_error("dataset %s: more than one source ('%s', '%s')", c->sub, c->src, a);
                return 2;
            }
            c->src = a;
            continue;
        }
        const char *v = NULL;
        int which = cli_take_value("dataset", argc, argv, &i, valued, &v);
        if (which == -2)
            return 2;
        if (which < 0) {
            cli_error("dataset: unknown option '%s' (see 'svgan dataset --help')", a);
            return 2;
        }
        a = valued[which];
        if (!strcmp(a, "-o") || !strcmp(a, "--output"))
            c->output = v;
        else if (!strcmp(a, "--resolution")) {
            if (parse_int(a, v, 1, 16384, &c->o.resolution))
                return 2;
            c->have_res = 1;
        } else if (!strcmp(a, "--resize")) {
            if (!strcmp(v, "reject"))
                c->o.resize = SV_DS_RESIZE_REJECT;
            else if (!strcmp(v, "auto"))
                c->o.resize = SV_DS_RESIZE_AUTO;
            else {
                cli_error("dataset: --resize '%s': expected reject or auto", v);
                return 2;
            }
        } else if (!strcmp(a, "--crop")) {
            if (!strcmp(v, "center") || !strcmp(v, "centre"))
                c->o.fit = SV_DS_FIT_CROP;
            else if (!strcmp(v, "pad"))
                c->o.fit = SV_DS_FIT_PAD;
            else {
                cli_error("dataset: --crop '%s': expected center or pad", v);
                return 2;
            }
            c->crop = v;
        } else if (!strcmp(a, "--fps")) {
            char *end;
            errno = 0;
            c->fps = strtod(v, &end);
            if (!*v || *end || errno || !isfinite(c->fps) || c->fps < 1e-3 || c->fps > 1000) {
                cli_error("dataset: --fps '%s': expected a number in [0.001, 1000]", v);
                return 2;
            }
        } else if (!strcmp(a, "--quality")) {
            if (parse_int(a, v, 1, 100, &c->quality))
                return 2;
        } else if (!strcmp(a, "--on-error")) {
            if (!strcmp(v, "skip"))
                c->o.on_error = SV_DS_SKIP;
            else if (!strcmp(v, "fatal"))
                c->o.on_error = SV_DS_FATAL;
            else {
                cli_error("dataset: --on-error '%s': expected skip or fatal", v);
                return 2;
            }
        } else if (!strcmp(a, "--min-frames")) {
            if (parse_int(a, v, 1, 1 << 30, &c->o.min_frames))
                return 2;
        } else if (!strcmp(a, "--demo-videos")) {
            if (parse_int(a, v, 1, 1 << 20, &c->o.demo_videos))
                return 2;
        } else if (!strcmp(a, "--demo-frames")) {
            if (parse_int(a, v, 1, 1 << 24, &c->o.demo_frames))
                return 2;
        }
    }
    if (!c->src) {
        cli_error("dataset %s: a source path is required (see 'svgan dataset --help')", c->sub);
        return 2;
    }
    int make = !strcmp(c->sub, "make");
    if (make && (!c->output || !c->have_res)) {
        cli_error("dataset make: -o DST and --resolution R are required");
        return 2;
    }
    if (!make && (c->output || c->fps > 0 || c->force)) {
        cli_error("dataset info: -o, --fps and --force belong to 'dataset make'");
        return 2;
    }
    if (make && c->json) {
        cli_error("dataset make: --json belongs to 'dataset info'");
        return 2;
    }
    if (make)
        c->o.resize = SV_DS_RESIZE_AUTO;
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* ------------------------------------------------------------------------------------------------
 * info
 * ---------------------------------------------------------------------------------------------- */

static int do_info(ds_cli *c, sv_dataset *ds)
{
    int64_t nv = sv_dataset_num_videos(ds), total = 0;
    int64_t *len = malloc((size_t)(nv > 0 ? nv : 1) * sizeof *len);
    if (!len) {
        cli_error("dataset info: out of memory");
        return 1;
    }
    double fmin = INFINITY, fmax = 0;
    for (int64_t i = 0; i < nv; i++) {
        len[i] = sv_dataset_video_frames(ds, i);
        total += len[i];
        double f = sv_dataset_video_fps(ds, i);
        if (f > 0) {
            fmin = f < fmin ? f : fmin;
            fmax = f > fmax ? f : fmax;
        }
    }
    qsort(len, (size_t)nv, sizeof *len, cmp_i64);
    int64_t lmin = nv ? len[0] : 0, lmax = nv ? len[nv - 1] : 0;
    double med = nv ? (nv % 2 ? (double)len[nv / 2] : 0.5 * (double)(len[nv / 2 - 1] + len[nv / 2])) : 0;
    free(len);
    char fp[32];
    snprintf(fp, sizeof fp, "%016llx", (unsigned long long)sv_dataset_fingerprint(ds));
    int64_t nw = sv_dataset_warnings(ds);
    if (c->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "path", sv_dataset_path(ds));
        cJSON_AddStringToObject(o, "kind", sv_dataset_kind(ds));
        cJSON_AddNumberToObject(o, "videos", (double)nv);
        cJSON_AddNumberToObject(o, "frames", (double)total);
        cJSON_AddNumberToObject(o, "resolution", sv_dataset_resolution(ds));
        cJSON_AddNumberToObject(o, "min_length", (double)lmin);
        cJSON_AddNumberToObject(o, "median_length", med);
        cJSON_AddNumberToObject(o, "max_length", (double)lmax);
        if (fmax > 0) {
            cJSON_AddNumberToObject(o, "fps_min", fmin);
            cJSON_AddNumberToObject(o, "fps_max", fmax);
        } else {
            cJSON_AddNullToObject(o, "fps_min");
            cJSON_AddNullToObject(o, "fps_max");
        }
        cJSON_AddStringToObject(o, "fingerprint", fp);
        cJSON *w = cJSON_AddArrayToObject(o, "warnings");
        for (int64_t i = 0; i < nw; i++)
            cJSON_AddItemToArray(w, cJSON_CreateString(sv_dataset_warning(ds, i)));
        char *s = cJSON_PrintUnformatted(o);
        if (s)
            printf("%s\n", s);
        cJSON_free(s);
        cJSON_Delete(o);
        return s ? 0 : 1;
    }
    printf("path:        %s\n", sv_dataset_path(ds));
    printf("kind:        %s\n", sv_dataset_kind(ds));
    printf("videos:      %lld\n", (long long)nv);
    printf("frames:      %lld\n", (long long)total);
    printf("resolution:  %dx%d\n", sv_dataset_resolution(ds), sv_dataset_resolution(ds));
    printf("length:      min %lld, median %g, max %lld frames\n", (long long)lmin, med, (long long)lmax);
    if (fmax <= 0)
        printf("fps:         unknown\n");
    else if (fmax - fmin < 1e-9)
        printf("fps:         %g\n", fmax);
    else
        printf("fps:         %g to %g\n", fmin, fmax);
    printf("fingerprint: %s\n", fp);
    printf("warnings:    %lld\n", (long long)nw);
    for (int64_t i = 0; i < nw; i++)
        printf("  %s\n", sv_dataset_warning(ds, i));
    return 0;
}

/* ------------------------------------------------------------------------------------------------
 * make
 * ---------------------------------------------------------------------------------------------- */

static int rm_rf(const char *p)
{
    struct stat st;
    if (lstat(p, &st))
        return errno == ENOENT ? 0 : -1;
    if (S_ISDIR(st.st_mode)) {
        /* two levels at most (dataset layout); anything deeper is not ours */
        DIR *d = opendir(p);
        if (!d)
            return -1;
        struct dirent *e;
        int bad = 0;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char *c = NULL;
            if (asprintf(&c, "%s/%s", p, e->d_name) < 0)
                return -1;
            bad |= rm_rf(c);
            free(c);
        }
        closedir(d);
        return bad | rmdir(p);
    }
    return unlink(p);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int do_make(ds_cli *c, sv_dataset *ds)
{
    const int R = sv_dataset_resolution(ds);
    const int64_t nv = sv_dataset_num_videos(ds);
    const size_t fb = (size_t)3 * R * R;
    struct stat st;
    if (stat(c->output, &st) == 0 && !c->force) {
        cli_error("dataset make: %s exists (use --force to replace it)", c->output);
        return 1;
    }
    /* plan: source frame indices of every output frame */
    int64_t total = 0;
    for (int64_t v = 0; v < nv; v++) {
        int64_t n = sv_dataset_video_frames(ds, v);
        if (c->fps > 0) {
            double f = sv_dataset_video_fps(ds, v);
            if (!(f > 0)) {
                cli_error("dataset make: --fps: the frame rate of '%s' is unknown (frame folders have none)",
                          sv_dataset_video_name(ds, v));
                return 1;
            }
            n = (int64_t)floor((double)(n - 1) * c->fps / f + 1e-9) + 1;
        }
        total += n;
    }
    char *tmp = NULL;
    if (asprintf(&tmp, "%s.tmp-%d", c->output, (int)getpid()) < 0) {
        cli_error("dataset make: out of memory");
        return 1;
    }
    if (mkdir(tmp, 0755)) {
        cli_error("dataset make: cannot create %s: %s", tmp, strerror(errno));
        free(tmp);
        return 1;
    }
    enum { BATCH = 16 };
    uint8_t *planar = malloc(BATCH * fb), *rgb = malloc(fb);
    int rc = 1, tty = isatty(2);
    sv_err e = {0};
    double t0 = now_s(), last = 0;
    int64_t done = 0;
    if (!planar || !rgb) {
        cli_error("dataset make: out of memory");
        goto out;
    }
    for (int64_t v = 0; v < nv; v++) {
        const char *name = sv_dataset_video_name(ds, v);
        int64_t n = sv_dataset_video_frames(ds, v), nout = n;
        double ratio = 1;
        if (c->fps > 0) {
            ratio = sv_dataset_video_fps(ds, v) / c->fps;
            nout = (int64_t)floor((double)(n - 1) / ratio + 1e-9) + 1;
        }
        char *dir = NULL;
        if (asprintf(&dir, "%s/%s", tmp, name) < 0 || mkdir(dir, 0755)) {
            cli_error("dataset make: cannot create %s/%s: %s", tmp, name, strerror(errno));
            free(dir);
            goto out;
        }
        for (int64_t k0 = 0; k0 < nout; k0 += BATCH) {
            int nb = (int)(nout - k0 < BATCH ? nout - k0 : BATCH);
            int64_t idx[BATCH];
            for (int i = 0; i < nb; i++) {
                int64_t s = c->fps > 0 ? (int64_t)floor((double)(k0 + i) * ratio + 1e-9) : k0 + i;
                idx[i] = s < n ? s : n - 1;
            }
            if (sv_dataset_read(ds, v, idx, nb, 0, planar, &e)) {
                cli_error("dataset make: %s", e.msg);
                free(dir);
                goto out;
            }
            for (int i = 0; i < nb; i++) {
                const uint8_t *p = planar + (size_t)i * fb;
                for (size_t j = 0; j < (size_t)R * R; j++) {
                    rgb[3 * j] = p[j];
                    rgb[3 * j + 1] = p[(size_t)R * R + j];
                    rgb[3 * j + 2] = p[2 * (size_t)R * R + j];
                }
                char *f = NULL;
                if (asprintf(&f, "%s/%06lld.jpg", dir, (long long)(k0 + i)) < 0 ||
                    sv_image_write(f, rgb, R, R, c->quality, &e)) {
                    cli_error("dataset make: %s", f ? e.msg : "out of memory");
                    free(f), free(dir);
                    goto out;
                }
                free(f);
            }
            done += nb;
            double t = now_s();
            if (tty && (t - last > 0.25 || done == total)) {
                double eta = done > 0 ? (t - t0) * (double)(total - done) / (double)done : 0;
                fprintf(stderr, "\rdataset make: video %lld/%lld, frame %lld/%lld, %.0f%%, ETA %02d:%02d  ",
                        (long long)(v + 1), (long long)nv, (long long)done, (long long)total,
                        100.0 * (double)done / (double)(total ? total : 1), (int)(eta / 60), (int)fmod(eta, 60));
                last = t;
            }
        }
        free(dir);
    }
    if (tty)
        fputc('\n', stderr);
    /* into place: an existing DST (with --force) is moved aside first and removed after */
    char *old = NULL;
    if (stat(c->output, &st) == 0) {
        if (asprintf(&old, "%s.old-%d", c->output, (int)getpid()) < 0 || rename(c->output, old)) {
            cli_error("dataset make: cannot move the old %s aside: %s", c->output, strerror(errno));
            free(old);
            goto out;
        }
    }
    if (rename(tmp, c->output)) {
        cli_error("dataset make: cannot rename %s to %s: %s", tmp, c->output, strerror(errno));
        if (old)
            rename(old, c->output);
        free(old);
        goto out;
    }
    if (old)
        rm_rf(old);
    free(old);
    printf("%s: %lld videos, %lld frames, %dx%d\n", c->output, (long long)nv, (long long)total, R, R);
    rc = 0;
out:
    if (rc)
        rm_rf(tmp);
    free(tmp);
    free(planar), free(rgb);
    return rc;
}

int cmd_dataset(int argc, char **argv)
{
    ds_cli c;
    int p = parse(argc, argv, &c);
    if (p)
        return p == 1 ? 0 : 2;
    sv_dataset *ds = NULL;
    sv_err e = {0};
    if (sv_dataset_open(c.src, &c.o, &ds, &e)) {
        cli_error("dataset %s: %s", c.sub, e.msg);
        return 1;
    }
    int rc;
    if (!strcmp(c.sub, "info"))
        rc = do_info(&c, ds);
    else {
        for (int64_t i = 0; i < sv_dataset_warnings(ds); i++)
            fprintf(stderr, "svgan: warning: %s\n", sv_dataset_warning(ds, i));
        rc = do_make(&c, ds);
    }
    sv_dataset_close(ds);
    return rc;
}
