/* Tests for src/data/dataset.c: the same generated videos written as PNG frame folders, as zips of
 * that tree (with and without directory entries / root folder), and as lossless video files (FFV1 in
 * .mkv, libx264rgb qp 0 in .mp4 with B-frames) must give identical bytes for every (video, frame)
 * read, in any index order, mirrored or not; JPEG folders within a tolerance; seeking far into a long
 * video; the errors for truncated / corrupt / empty / non-square inputs; AUTO resizing; the demo
 * source.  No OpenCL needed. */
#include "config.h"
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
#include <zip.h>

#include "svgan/dataset.h"
#include "svgan/video.h"

#define RES 32
#define NVID 3
static const int k_len[NVID] = {20, 31, 40};
static const char *const k_name[NVID] = {"clip_a", "clip_b", "clip_c"};
#define LONG_LEN 240
#define LONG_GOP 12

static char g_dir[256];
static int g_have_x264, g_have_x264_lossy;
static int g_zero_duration; /* write_video: leave packet durations 0 (mp4: the edit list then ends
                               at the last frame's start, and the demuxer flags that frame "discard") */

/* ------------------------------------------------------------------------------------------------
 * content: smooth (so JPEG stays close), different in every frame and video
 * ---------------------------------------------------------------------------------------------- */

static uint8_t pix(int v, int t, int x, int y, int c)
{
    double a = 0.21 * x + 0.37 * t + 1.3 * v + 2.1 * c;
    double b = 0.17 * y - 0.23 * t + 0.7 * v - 1.1 * c;
    double s = 128 + 90 * sin(a) * cos(b) + 30 * sin(0.05 * (x + y) + 0.11 * t + c);
    int q = (int)floor(s + 0.5);
    return (uint8_t)(q < 0 ? 0 : (q > 255 ? 255 : q));
}

static void frame_rgb(int v, int t, int W, int H, uint8_t *rgb)
{
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < 3; c++)
                rgb[((size_t)y * W + x) * 3 + c] = pix(v, t, x, y, c);
}

/* Expected planar bytes of frame t of video v at RES, mirrored when xflip. */
static void frame_planar(int v, int t, int xflip, uint8_t *out)
{
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < RES; y++)
            for (int x = 0; x < RES; x++)
                out[((size_t)c * RES + y) * RES + (xflip ? RES - 1 - x : x)] = pix(v, t, x, y, c);
}

/* ------------------------------------------------------------------------------------------------
 * writers
 * ---------------------------------------------------------------------------------------------- */

static void mkdirs(const char *p)
{
    ck_assert_msg(mkdir(p, 0755) == 0 || errno == EEXIST, "mkdir %s: %s", p, strerror(errno));
}

static void write_frames(const char *root, const char *ext, int v0, int nv, const int *len, int W, int H)
{
    mkdirs(root);
    uint8_t *rgb = malloc((size_t)W * H * 3);
    for (int v = v0; v < v0 + nv; v++) {
        char d[512], f[600];
        snprintf(d, sizeof d, "%s/%s", root, k_name[v]);
        mkdirs(d);
        for (int t = 0; t < len[v]; t++) {
            frame_rgb(v, t, W, H, rgb);
            snprintf(f, sizeof f, "%s/%06d%s", d, t, ext);
            sv_err e;
            ck_assert_msg(sv_image_write(f, rgb, W, H, 95, &e) == SV_OK, "%s", e.msg);
        }
        /* a non-image file that must be ignored */
        snprintf(f, sizeof f, "%s/notes.txt", d);
        FILE *fp = fopen(f, "w");
        fputs("not a frame\n", fp);
        fclose(fp);
    }
    free(rgb);
}

static void *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *b = malloc((size_t)sz + 1);
    ck_assert_uint_eq(fread(b, 1, (size_t)sz, f), (size_t)sz);
    fclose(f);
    *n = (size_t)sz;
    return b;
}

/* Zip of the PNG tree at src: with a root folder "root/" and directory entries, or neither. */
static void write_zip(const char *src, const char *zpath, int with_root_and_dirs)
{
    int ze;
    zip_t *z = zip_open(zpath, ZIP_CREATE | ZIP_TRUNCATE, &ze);
    ck_assert_ptr_nonnull(z);
    const char *pre = with_root_and_dirs ? "root/" : "";
    if (with_root_and_dirs)
        ck_assert(zip_dir_add(z, "root", ZIP_FL_ENC_UTF_8) >= 0);
    /* add in reverse order: the reader must sort */
    for (int v = NVID - 1; v >= 0; v--) {
        char name[256];
        if (with_root_and_dirs) {
            snprintf(name, sizeof name, "%s%s", pre, k_name[v]);
            ck_assert(zip_dir_add(z, name, ZIP_FL_ENC_UTF_8) >= 0);
        }
        for (int t = k_len[v] - 1; t >= 0; t--) {
            char f[600];
            snprintf(f, sizeof f, "%s/%s/%06d.png", src, k_name[v], t);
            size_t n;
            void *b = slurp(f, &n);
            zip_source_t *s = zip_source_buffer(z, b, n, 1);
            ck_assert_ptr_nonnull(s);
            snprintf(name, sizeof name, "%s%s/%06d.png", pre, k_name[v], t);
            ck_assert(zip_file_add(z, name, s, ZIP_FL_ENC_UTF_8) >= 0);
        }
    }
    zip_source_t *s = zip_source_buffer(z, "x", 1, 0);
    ck_assert(zip_file_add(z, with_root_and_dirs ? "root/readme.txt" : "readme.txt", s, 0) >= 0);
    ck_assert_msg(zip_close(z) == 0, "%s", zip_strerror(z));
}

/* A video file through libav: "ffv1" (intra, lossless), "libx264rgb" (qp 0, I/P frames, gop) or
 * "libx264" (yuv420p crf 8, B-frames, gop). */
static int write_video(const char *path, const char *codec, int v, int len, int gop)
{
    const AVCodec *c = avcodec_find_encoder_by_name(codec);
    if (!c)
        return -1;
    AVFormatContext *fc = NULL;
    ck_assert(avformat_alloc_output_context2(&fc, NULL, NULL, path) >= 0);
    AVStream *st = avformat_new_stream(fc, NULL);
    AVCodecContext *cc = avcodec_alloc_context3(c);
    enum AVPixelFormat pf = AV_PIX_FMT_NONE;
    static const enum AVPixelFormat pref[] = {AV_PIX_FMT_RGB24, AV_PIX_FMT_BGR24, AV_PIX_FMT_BGR0, AV_PIX_FMT_GBRP,
                                              AV_PIX_FMT_YUV420P, AV_PIX_FMT_NONE};
    for (int i = 0; pref[i] != AV_PIX_FMT_NONE && pf == AV_PIX_FMT_NONE; i++)
        for (const enum AVPixelFormat *p = c->pix_fmts; p && *p != AV_PIX_FMT_NONE; p++)
            if (*p == pref[i])
                pf = *p;
    ck_assert_int_ne(pf, AV_PIX_FMT_NONE);
    cc->width = RES, cc->height = RES, cc->pix_fmt = pf;
    cc->time_base = (AVRational){1, 25};
    cc->framerate = (AVRational){25, 1};
    cc->gop_size = gop;
    cc->thread_count = 1;
    if (fc->oformat->flags & AVFMT_GLOBALHEADER)
        cc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    AVDictionary *o = NULL;
    if (!strcmp(codec, "libx264")) { /* lossy, with B-frames: decode order != presentation order */
        av_dict_set(&o, "crf", "8", 0);
        av_dict_set(&o, "preset", "medium", 0);
        av_dict_set(&o, "x264-params", "keyint=12:min-keyint=12:scenecut=0:bframes=3:b-pyramid=normal", 0);
    } else if (!strcmp(codec, "libx264rgb")) { /* lossless (x264 then uses no B-frames) */
        av_dict_set(&o, "qp", "0", 0);
        av_dict_set(&o, "preset", "medium", 0); /* B-frames: decode order != presentation order */
        av_dict_set(&o, "x264-params", "keyint=12:min-keyint=12:scenecut=0:bframes=3", 0);
    } else {
        av_dict_set(&o, "slicecrc", "1", 0);
    }
    ck_assert(avcodec_open2(cc, c, &o) >= 0);
    av_dict_free(&o);
    ck_assert(avcodec_parameters_from_context(st->codecpar, cc) >= 0);
    st->time_base = cc->time_base;
    ck_assert(avio_open(&fc->pb, path, AVIO_FLAG_WRITE) >= 0);
    ck_assert(avformat_write_header(fc, NULL) >= 0);
    struct SwsContext *sws =
        sws_getContext(RES, RES, AV_PIX_FMT_RGB24, RES, RES, pf, SWS_POINT | SWS_BITEXACT, NULL, NULL, NULL);
    AVFrame *f = av_frame_alloc();
    f->format = pf, f->width = RES, f->height = RES;
    ck_assert(av_frame_get_buffer(f, 0) >= 0);
    AVPacket *pkt = av_packet_alloc();
    uint8_t rgb[RES * RES * 3];
    for (int t = 0; t <= len; t++) {
        int rc;
        if (t < len) {
            frame_rgb(v, t, RES, RES, rgb);
            ck_assert(av_frame_make_writable(f) >= 0);
            const uint8_t *sd[4] = {rgb, NULL, NULL, NULL};
            int sl[4] = {RES * 3, 0, 0, 0};
            sws_scale(sws, sd, sl, 0, RES, f->data, f->linesize);
            f->pts = t;
            rc = avcodec_send_frame(cc, f);
        } else
            rc = avcodec_send_frame(cc, NULL);
        ck_assert(rc >= 0);
        while ((rc = avcodec_receive_packet(cc, pkt)) >= 0) {
            if (pkt->duration == 0 && !g_zero_duration)
                pkt->duration = 1; /* else mp4's edit list drops the last frame */
            av_packet_rescale_ts(pkt, cc->time_base, st->time_base);
            pkt->stream_index = st->index;
            ck_assert(av_interleaved_write_frame(fc, pkt) >= 0);
        }
    }
    ck_assert(av_write_trailer(fc) >= 0);
    avio_closep(&fc->pb);
    av_packet_free(&pkt);
    av_frame_free(&f);
    sws_freeContext(sws);
    avcodec_free_context(&cc);
    avformat_free_context(fc);
    return 0;
}

static void write_videos(const char *dir, const char *ext, const char *codec)
{
    mkdirs(dir);
    for (int v = 0; v < NVID; v++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s%s", dir, k_name[v], ext);
        ck_assert_int_eq(write_video(p, codec, v, k_len[v], LONG_GOP), 0);
    }
    char p[512];
    snprintf(p, sizeof p, "%s/readme.txt", dir);
    FILE *f = fopen(p, "w");
    fputs("ignored\n", f);
    fclose(f);
}

static void truncate_file(const char *path, double keep)
{
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(truncate(path, (off_t)(st.st_size * keep)), 0);
}

/* Built once in the parent (unchecked fixture) and shared by the forked tests. */
static void data_setup(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/svgan-dataset-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
    char p[512], q[512];
    snprintf(p, sizeof p, "%s/png", g_dir);
    write_frames(p, ".png", 0, NVID, k_len, RES, RES);
    snprintf(q, sizeof q, "%s/tree.zip", g_dir);
    write_zip(p, q, 1);
    snprintf(q, sizeof q, "%s/flat.zip", g_dir);
    write_zip(p, q, 0);
    snprintf(p, sizeof p, "%s/jpg", g_dir);
    write_frames(p, ".jpg", 0, NVID, k_len, RES, RES);
    snprintf(p, sizeof p, "%s/mkv", g_dir);
    write_videos(p, ".mkv", "ffv1");
    g_have_x264 = avcodec_find_encoder_by_name("libx264rgb") != NULL;
    if (g_have_x264) {
        snprintf(p, sizeof p, "%s/mp4", g_dir);
        write_videos(p, ".mp4", "libx264rgb");
        snprintf(p, sizeof p, "%s/long", g_dir);
        mkdirs(p);
        snprintf(p, sizeof p, "%s/long/long.mp4", g_dir);
        ck_assert_int_eq(write_video(p, "libx264rgb", 0, LONG_LEN, LONG_GOP), 0);
        snprintf(p, sizeof p, "%s/long/long.mkv", g_dir);
        ck_assert_int_eq(write_video(p, "libx264rgb", 0, LONG_LEN, LONG_GOP), 0);
        g_have_x264_lossy = avcodec_find_encoder_by_name("libx264") != NULL;
        if (g_have_x264_lossy) {
            snprintf(p, sizeof p, "%s/bframes", g_dir);
            mkdirs(p);
            snprintf(p, sizeof p, "%s/bframes/long_b.mp4", g_dir);
            ck_assert_int_eq(write_video(p, "libx264", 0, LONG_LEN, LONG_GOP), 0);
            snprintf(p, sizeof p, "%s/bframes/long_b.mkv", g_dir);
            ck_assert_int_eq(write_video(p, "libx264", 1, LONG_LEN, LONG_GOP), 0);
        }
    } else
        fprintf(stderr, "libx264rgb not available: .mp4 checks skipped\n");
}

static void rm_tree(const char *p)
{
    struct stat st;
    if (lstat(p, &st))
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(p);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char c[1024];
            snprintf(c, sizeof c, "%s/%s", p, e->d_name);
            rm_tree(c);
        }
        if (d)
            closedir(d);
        rmdir(p);
    } else
        unlink(p);
}

static void data_teardown(void)
{
    if (!getenv("SVGAN_KEEP_TEST_DATA"))
        rm_tree(g_dir);
}

static sv_dataset *open_ok(const char *sub, const sv_dataset_opts *o)
{
    char p[512];
    if (!strncmp(sub, "demo", 4))
        snprintf(p, sizeof p, "%s", sub);
    else
        snprintf(p, sizeof p, "%s/%s", g_dir, sub);
    sv_dataset *ds = NULL;
    sv_err e = {0};
    int rc = sv_dataset_open(p, o, &ds, &e);
    ck_assert_msg(rc == SV_OK, "open %s: %s", p, e.msg);
    return ds;
}

/* ------------------------------------------------------------------------------------------------
 * tests
 * ---------------------------------------------------------------------------------------------- */

static const size_t FB = (size_t)3 * RES * RES;

static void check_layout(sv_dataset *ds, const char *kind)
{
    ck_assert_str_eq(sv_dataset_kind(ds), kind);
    ck_assert_int_eq(sv_dataset_num_videos(ds), NVID);
    ck_assert_int_eq(sv_dataset_resolution(ds), RES);
    for (int v = 0; v < NVID; v++) {
        ck_assert_str_eq(sv_dataset_video_name(ds, v), k_name[v]);
        ck_assert_int_eq(sv_dataset_video_frames(ds, v), k_len[v]);
    }
    ck_assert_int_eq(sv_dataset_warnings(ds), 0);
}

/* Every frame in order, then random index lists (repeats, any order), plain and mirrored: exact. */
static void check_exact(sv_dataset *ds, const char *what)
{
    uint8_t *got = malloc(64 * FB), *want = malloc(FB);
    sv_err e;
    for (int v = 0; v < NVID; v++) {
        int64_t idx[64];
        for (int t = 0; t < k_len[v]; t++)
            idx[t] = t;
        ck_assert_msg(sv_dataset_read(ds, v, idx, k_len[v], 0, got, &e) == SV_OK, "%s: %s", what, e.msg);
        for (int t = 0; t < k_len[v]; t++) {
            frame_planar(v, t, 0, want);
            ck_assert_msg(!memcmp(got + t * FB, want, FB), "%s: video %d frame %d differs", what, v, t);
        }
    }
    tu_rng r;
    tu_seed(&r, 1234);
    for (int it = 0; it < 40; it++) {
        int v = (int)(tu_next(&r) % NVID), n = 1 + (int)(tu_next(&r) % 12), flip = (int)(tu_next(&r) & 1);
        int64_t idx[16];
        for (int i = 0; i < n; i++)
            idx[i] = (int64_t)(tu_next(&r) % (uint64_t)k_len[v]);
        if (n > 2)
            idx[n - 1] = idx[0]; /* a repeat */
        ck_assert_msg(sv_dataset_read(ds, v, idx, n, flip, got, &e) == SV_OK, "%s: %s", what, e.msg);
        for (int i = 0; i < n; i++) {
            frame_planar(v, (int)idx[i], flip, want);
            ck_assert_msg(!memcmp(got + i * FB, want, FB), "%s: iteration %d: video %d frame %lld (flip %d) differs",
                          what, it, v, (long long)idx[i], flip);
        }
    }
    free(got), free(want);
}

START_TEST(test_png_frames_exact)
{
    sv_dataset *ds = open_ok("png", NULL);
    check_layout(ds, "frames");
    check_exact(ds, "png");
    ck_assert(sv_dataset_video_fps(ds, 0) == 0.0);
    sv_dataset_close(ds);
}
END_TEST

START_TEST(test_zip_exact)
{
    sv_dataset *a = open_ok("tree.zip", NULL), *b = open_ok("flat.zip", NULL), *c = open_ok("png", NULL);
    check_layout(a, "zip");
    check_layout(b, "zip");
    check_exact(a, "tree.zip");
    check_exact(b, "flat.zip");
    ck_assert_uint_eq(sv_dataset_fingerprint(a), sv_dataset_fingerprint(c));
    ck_assert_uint_eq(sv_dataset_fingerprint(b), sv_dataset_fingerprint(c));
    sv_dataset_close(a), sv_dataset_close(b), sv_dataset_close(c);
}
END_TEST

START_TEST(test_mkv_exact)
{
    sv_dataset *ds = open_ok("mkv", NULL), *c = open_ok("png", NULL);
    check_layout(ds, "video");
    ck_assert(fabs(sv_dataset_video_fps(ds, 1) - 25.0) < 1e-9);
    check_exact(ds, "mkv/ffv1");
    ck_assert_uint_eq(sv_dataset_fingerprint(ds), sv_dataset_fingerprint(c));
    sv_dataset_close(ds), sv_dataset_close(c);
}
END_TEST

START_TEST(test_mp4_exact)
{
    if (!g_have_x264)
        return;
    sv_dataset *ds = open_ok("mp4", NULL);
    check_layout(ds, "video");
    check_exact(ds, "mp4/libx264rgb");
    sv_dataset_close(ds);
    /* an mp4 whose edit list leaves out the last frame: it is not counted (as ffprobe -count_frames) */
    char dir[512], p[600];
    snprintf(dir, sizeof dir, "%s/edit-%d", g_dir, (int)getpid());
    mkdirs(dir);
    snprintf(p, sizeof p, "%s/e.mp4", dir);
    g_zero_duration = 1;
    ck_assert_int_eq(write_video(p, "libx264rgb", 2, k_len[2], LONG_GOP), 0);
    g_zero_duration = 0;
    sv_err e;
    ck_assert_int_eq(sv_dataset_open(dir, NULL, &ds, &e), SV_OK);
    ck_assert_int_eq(sv_dataset_video_frames(ds, 0), k_len[2] - 1);
    uint8_t *got = malloc(FB * k_len[2]), *want = malloc(FB);
    int64_t idx[64];
    for (int t = 0; t < k_len[2] - 1; t++)
        idx[t] = k_len[2] - 2 - t; /* backwards */
    ck_assert_msg(sv_dataset_read(ds, 0, idx, k_len[2] - 1, 0, got, &e) == SV_OK, "%s", e.msg);
    for (int t = 0; t < k_len[2] - 1; t++) {
        frame_planar(2, (int)idx[t], 0, want);
        ck_assert_msg(!memcmp(got + t * FB, want, FB), "edit-list mp4: frame %lld differs", (long long)idx[t]);
    }
    free(got), free(want);
    sv_dataset_close(ds);
}
END_TEST

/* Same (video, idx lists, flips) across all sources: identical bytes (what makes clips identical). */
START_TEST(test_cross_kind_identical)
{
    const char *srcs[] = {"png", "tree.zip", "flat.zip", "mkv", "mp4"};
    int ns = g_have_x264 ? 5 : 4;
    sv_dataset *ds[5];
    for (int s = 0; s < ns; s++)
        ds[s] = open_ok(srcs[s], NULL);
    uint8_t *ref = malloc(8 * FB), *got = malloc(8 * FB);
    tu_rng r;
    tu_seed(&r, 99);
    sv_err e;
    for (int it = 0; it < 30; it++) {
        int v = (int)(tu_next(&r) % NVID), flip = (int)(tu_next(&r) & 1);
        int64_t idx[8];
        int64_t start = (int64_t)(tu_next(&r) % (uint64_t)(k_len[v] - 8 + 1)); /* a clip-like window ... */
        for (int i = 0; i < 8; i++)
            idx[i] = (i & 1) ? start + i : (int64_t)(tu_next(&r) % (uint64_t)k_len[v]); /* ... mixed with jumps */
        for (int s = 0; s < ns; s++) {
            ck_assert_msg(sv_dataset_read(ds[s], v, idx, 8, flip, s ? got : ref, &e) == SV_OK, "%s: %s", srcs[s], e.msg);
            if (s)
                ck_assert_msg(!memcmp(ref, got, 8 * FB), "%s differs from png at iteration %d", srcs[s], it);
        }
    }
    for (int s = 0; s < ns; s++)
        sv_dataset_close(ds[s]);
    free(ref), free(got);
}
END_TEST

START_TEST(test_jpeg_tolerance)
{
    sv_dataset *ds = open_ok("jpg", NULL);
    check_layout(ds, "frames");
    uint8_t *got = malloc(FB), *want = malloc(FB);
    sv_err e;
    double worst_mean = 0;
    int worst_max = 0;
    for (int v = 0; v < NVID; v++)
        for (int64_t t = 0; t < k_len[v]; t += 3) {
            ck_assert_msg(sv_dataset_read(ds, v, &t, 1, 0, got, &e) == SV_OK, "%s", e.msg);
            frame_planar(v, (int)t, 0, want);
            double s = 0;
            for (size_t i = 0; i < FB; i++) {
                int d = abs((int)got[i] - (int)want[i]);
                s += d;
                worst_max = d > worst_max ? d : worst_max;
            }
            worst_mean = fmax(worst_mean, s / FB);
        }
    fprintf(stderr, "jpeg q95 vs truth: worst mean |diff| %.2f, max %d\n", worst_mean, worst_max);
    /* measured: worst mean |diff| 1.99, max 16 (q95, 4:2:0 chroma of smooth colour patterns) */
    ck_assert_msg(worst_mean < 3.0 && worst_max < 32, "JPEG differs too much: mean %.2f max %d", worst_mean, worst_max);
    free(got), free(want);
    sv_dataset_close(ds);
}
END_TEST

START_TEST(test_seek_far)
{
    if (!g_have_x264)
        return;
    sv_dataset *ds = open_ok("long", NULL);
    ck_assert_int_eq(sv_dataset_num_videos(ds), 2);
    uint8_t *got = malloc(4 * FB), *want = malloc(FB);
    sv_err e;
    static const int64_t lists[][4] = {{200, 201, 202, 203}, {5, 6, 7, 8}, {239, 0, 120, 119}, {131, 12, 11, 200},
                                       {36, 36, 35, 24}, {238, 237, 236, 1}};
    for (int v = 0; v < 2; v++) {
        ck_assert_int_eq(sv_dataset_video_frames(ds, v), LONG_LEN);
        for (size_t l = 0; l < sizeof lists / sizeof lists[0]; l++) {
            ck_assert_msg(sv_dataset_read(ds, v, lists[l], 4, 0, got, &e) == SV_OK, "%s", e.msg);
            for (int i = 0; i < 4; i++) {
                frame_planar(0, (int)lists[l][i], 0, want);
                ck_assert_msg(!memcmp(got + i * FB, want, FB), "%s: list %zu: frame %lld differs",
                              sv_dataset_video_name(ds, v), l, (long long)lists[l][i]);
            }
        }
        /* single frames, far apart, backwards */
        for (int64_t t = LONG_LEN - 1; t >= 0; t -= 37) {
            ck_assert_msg(sv_dataset_read(ds, v, &t, 1, 1, got, &e) == SV_OK, "%s", e.msg);
            frame_planar(0, (int)t, 1, want);
            ck_assert_msg(!memcmp(got, want, FB), "frame %lld differs", (long long)t);
        }
    }
    free(got), free(want);
    sv_dataset_close(ds);
}
END_TEST

static double mad(const uint8_t *a, const uint8_t *b)
{
    double s = 0;
    for (size_t i = 0; i < FB; i++)
        s += abs((int)a[i] - (int)b[i]);
    return s / FB;
}

/* Lossy H.264 with B-frames (mp4 with an edit list, and mkv): frames read one by one with seeks in
 * any order equal the frames of one forward decode, and frame t is the content of frame t. */
START_TEST(test_bframes)
{
    if (!g_have_x264_lossy)
        return;
    sv_dataset *a = open_ok("bframes", NULL), *b = open_ok("bframes", NULL);
    ck_assert_int_eq(sv_dataset_num_videos(a), 2);
    uint8_t *all = malloc(LONG_LEN * FB), *got = malloc(6 * FB), *want = malloc(FB);
    sv_err e;
    for (int v = 0; v < 2; v++) {
        int content = v == 0 ? 1 : 0; /* sorted: long_b.mkv (video 1's content), long_b.mp4 (video 0's) */
        ck_assert_str_eq(sv_dataset_video_name(a, v), v == 0 ? "long_b.mkv" : "long_b.mp4"); /* same base name */
        ck_assert_int_eq(sv_dataset_video_frames(a, v), LONG_LEN);
        int64_t idx[LONG_LEN];
        for (int t = 0; t < LONG_LEN; t++)
            idx[t] = t;
        ck_assert_msg(sv_dataset_read(a, v, idx, LONG_LEN, 0, all, &e) == SV_OK, "%s", e.msg);
        double worst = 0;
        if (getenv("SVGAN_TEST_VERBOSE"))
            for (int t = 0; t < 6; t++) {
                fprintf(stderr, "v%d frame %d:", v, t);
                for (int u = 0; u < 6; u++) {
                    frame_planar(content, u, 0, want);
                    fprintf(stderr, " %.1f", mad(all + t * FB, want));
                }
                fprintf(stderr, "\n");
            }
        for (int t = 0; t < LONG_LEN; t++) {
            frame_planar(content, t, 0, want);
            double d0 = mad(all + t * FB, want);
            worst = fmax(worst, d0);
            for (int dt = -2; dt <= 2; dt += 4) /* closer to its own content than to a neighbour's */
                if (t + dt >= 0 && t + dt < LONG_LEN) {
                    frame_planar(content, t + dt, 0, want);
                    ck_assert_msg(d0 < mad(all + t * FB, want), "video %d frame %d looks like frame %d", v, t, t + dt);
                }
        }
        ck_assert_msg(worst < 4.0, "lossy H.264 differs by %.2f on average", worst);
        tu_rng r;
        tu_seed(&r, 7 + v);
        for (int it = 0; it < 40; it++) {
            int64_t l[6];
            for (int i = 0; i < 6; i++)
                l[i] = (int64_t)(tu_next(&r) % LONG_LEN);
            if (it % 3 == 0)
                for (int i = 1; i < 6; i++)
                    l[i] = l[0] + i < LONG_LEN ? l[0] + i : l[0];
            ck_assert_msg(sv_dataset_read(b, v, l, 6, 0, got, &e) == SV_OK, "%s", e.msg);
            for (int i = 0; i < 6; i++)
                ck_assert_msg(!memcmp(got + i * FB, all + l[i] * FB, FB), "video %d: frame %lld after seeking differs",
                              v, (long long)l[i]);
        }
    }
    free(all), free(got), free(want);
    sv_dataset_close(a), sv_dataset_close(b);
}
END_TEST

/* Truncated video files: skip (warning) vs fatal at open; what is read from a damaged file that
 * still opens is exact or an error naming file and frame. */
START_TEST(test_truncated_video)
{
    char dir[512], p[600];
    snprintf(dir, sizeof dir, "%s/trunc-%d", g_dir, (int)getpid());
    mkdirs(dir);
    for (int v = 0; v < NVID; v++) {
        snprintf(p, sizeof p, "%s/%s.%s", dir, k_name[v], g_have_x264 ? "mp4" : "mkv");
        ck_assert_int_eq(write_video(p, g_have_x264 ? "libx264rgb" : "ffv1", v, k_len[v], LONG_GOP), 0);
    }
    /* mp4 with the index at the end: unreadable header once truncated */
    snprintf(p, sizeof p, "%s/%s.%s", dir, k_name[1], g_have_x264 ? "mp4" : "mkv");
    truncate_file(p, 0.5);
    /* an empty "video" */
    snprintf(p, sizeof p, "%s/zero.mkv", dir);
    fclose(fopen(p, "w"));
    sv_dataset_opts o;
    sv_dataset_opts_default(&o);
    sv_dataset *ds = NULL;
    sv_err e = {0};
    ck_assert_int_eq(sv_dataset_open(dir, &o, &ds, &e), SV_OK);
    if (g_have_x264) {
        ck_assert_int_eq(sv_dataset_num_videos(ds), 2);
        ck_assert_int_eq(sv_dataset_warnings(ds), 2);
        ck_assert_ptr_nonnull(strstr(sv_dataset_warning(ds, 0), "clip_b.mp4"));
        ck_assert_ptr_nonnull(strstr(sv_dataset_warning(ds, 1), "zero.mkv"));
    }
    sv_dataset_close(ds);
    o.on_error = SV_DS_FATAL;
    int rc = sv_dataset_open(dir, &o, &ds, &e);
    ck_assert_int_eq(rc, SV_ERR_FORMAT);
    ck_assert_ptr_null(ds);
    if (g_have_x264)
        ck_assert_msg(strstr(e.msg, "clip_b") != NULL, "message: %s", e.msg);
    else /* the truncated .mkv may still open; the empty file does not */
        ck_assert_msg(strstr(e.msg, "clip_b") || strstr(e.msg, "zero.mkv"), "message: %s", e.msg);
    rm_tree(dir);

    /* A truncated Matroska file: the header survives; whatever is read must be exact or an error
     * naming the file and frame, never wrong pixels. */
    snprintf(dir, sizeof dir, "%s/trunc2-%d", g_dir, (int)getpid());
    mkdirs(dir);
    snprintf(p, sizeof p, "%s/cut.mkv", dir);
    ck_assert_int_eq(write_video(p, "ffv1", 2, k_len[2], 1), 0);
    truncate_file(p, 0.6);
    sv_dataset_opts_default(&o);
    o.min_frames = 1;
    if (sv_dataset_open(dir, &o, &ds, &e) == SV_OK) {
        int64_t n = sv_dataset_video_frames(ds, 0), ok = 0, bad = 0;
        ck_assert(n > 0 && n <= k_len[2]);
        uint8_t *got = malloc(FB), *want = malloc(FB);
        for (int64_t t = 0; t < n; t++) {
            rc = sv_dataset_read(ds, 0, &t, 1, 0, got, &e);
            if (rc == SV_OK) {
                frame_planar(2, (int)t, 0, want);
                ck_assert_msg(!memcmp(got, want, FB), "truncated mkv: frame %lld returned wrong pixels", (long long)t);
                ok++;
            } else {
                ck_assert_int_eq(rc, SV_ERR_FORMAT);
                ck_assert_msg(strstr(e.msg, "cut.mkv") && strstr(e.msg, "frame"), "message: %s", e.msg);
                bad++;
            }
        }
        fprintf(stderr, "truncated mkv: %lld of %d frames counted, %lld read, %lld errors\n", (long long)n, k_len[2],
                (long long)ok, (long long)bad);
        ck_assert_int_gt(ok, 0);
        free(got), free(want);
        sv_dataset_close(ds);
    } else
        ck_assert_int_eq(e.code, SV_ERR_FORMAT);
    rm_tree(dir);
}
END_TEST

START_TEST(test_corrupt_jpeg)
{
    char root[512], p[600];
    snprintf(root, sizeof root, "%s/badjpg-%d", g_dir, (int)getpid());
    write_frames(root, ".jpg", 0, 2, k_len, RES, RES);
    snprintf(p, sizeof p, "%s/%s/%06d.jpg", root, k_name[1], 5);
    truncate_file(p, 0.5);
    sv_dataset *ds = NULL;
    sv_err e = {0};
    ck_assert_int_eq(sv_dataset_open(root, NULL, &ds, &e), SV_OK);
    uint8_t *got = malloc(2 * FB);
    int64_t idx[2] = {4, 5};
    ck_assert_int_eq(sv_dataset_read(ds, 1, idx, 1, 0, got, &e), SV_OK);
    int rc = sv_dataset_read(ds, 1, idx, 2, 0, got, &e);
    ck_assert_int_eq(rc, SV_ERR_FORMAT);
    ck_assert_msg(strstr(e.msg, "000005.jpg") != NULL, "message: %s", e.msg);
    sv_dataset_close(ds);
    /* the first frame of a video unreadable: left out at open (skip) or an error (fatal) */
    snprintf(p, sizeof p, "%s/%s/%06d.jpg", root, k_name[0], 0);
    FILE *f = fopen(p, "wb");
    fputs("garbage", f);
    fclose(f);
    ck_assert_int_eq(sv_dataset_open(root, NULL, &ds, &e), SV_OK);
    ck_assert_int_eq(sv_dataset_num_videos(ds), 1);
    ck_assert_int_eq(sv_dataset_warnings(ds), 1);
    ck_assert_ptr_nonnull(strstr(sv_dataset_warning(ds, 0), "000000.jpg"));
    sv_dataset_close(ds);
    sv_dataset_opts o;
    sv_dataset_opts_default(&o);
    o.on_error = SV_DS_FATAL;
    ck_assert_int_eq(sv_dataset_open(root, &o, &ds, &e), SV_ERR_FORMAT);
    ck_assert_msg(strstr(e.msg, "000000.jpg") != NULL, "message: %s", e.msg);
    free(got);
    rm_tree(root);
}
END_TEST

START_TEST(test_empty_and_missing)
{
    char root[512], p[600];
    sv_dataset *ds = NULL;
    sv_err e = {0};
    snprintf(root, sizeof root, "%s/empty-%d", g_dir, (int)getpid());
    mkdirs(root);
    ck_assert_int_eq(sv_dataset_open(root, NULL, &ds, &e), SV_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(e.msg, "no videos found"));
    /* an empty video folder next to a good one: left out with a warning */
    snprintf(p, sizeof p, "%s/aaa_empty", root);
    mkdirs(p);
    ck_assert_int_eq(sv_dataset_open(root, NULL, &ds, &e), SV_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(e.msg, "no usable videos"));
    write_frames(root, ".png", 0, 1, k_len, RES, RES);
    ck_assert_int_eq(sv_dataset_open(root, NULL, &ds, &e), SV_OK);
    ck_assert_int_eq(sv_dataset_num_videos(ds), 1);
    ck_assert_int_eq(sv_dataset_warnings(ds), 1);
    ck_assert_ptr_nonnull(strstr(sv_dataset_warning(ds, 0), "aaa_empty"));
    /* out of range reads */
    int64_t bad = k_len[0];
    uint8_t *buf = malloc(FB);
    ck_assert_int_eq(sv_dataset_read(ds, 0, &bad, 1, 0, buf, &e), SV_ERR_INVALID);
    ck_assert_int_eq(sv_dataset_read(ds, 1, &bad, 1, 0, buf, &e), SV_ERR_INVALID);
    free(buf);
    sv_dataset_close(ds);
    rm_tree(root);
    /* missing path, not a dataset, junk zip */
    ck_assert_int_eq(sv_dataset_open("/nonexistent/svgan/ds", NULL, &ds, &e), SV_ERR_IO);
    ck_assert_ptr_nonnull(strstr(e.msg, "/nonexistent/svgan/ds"));
    snprintf(p, sizeof p, "%s/junk-%d.zip", g_dir, (int)getpid());
    FILE *f = fopen(p, "w");
    fputs("this is not a zip", f);
    fclose(f);
    ck_assert_int_eq(sv_dataset_open(p, NULL, &ds, &e), SV_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(e.msg, "zip"));
    unlink(p);
}
END_TEST

/* Non-square frames (48 wide, 64 high): REJECT refuses, AUTO crops the centre 48×48 and area-averages
 * it to 16×16 (3×3 boxes, exact integer factor), or upsamples bicubically. */
START_TEST(test_resize)
{
    char root[512];
    snprintf(root, sizeof root, "%s/rect-%d", g_dir, (int)getpid());
    int len[1] = {4};
    write_frames(root, ".png", 0, 1, len, 48, 64);
    sv_dataset *ds = NULL;
    sv_err e = {0};
    ck_assert_int_eq(sv_dataset_open(root, NULL, &ds, &e), SV_ERR_FORMAT);
    ck_assert_msg(strstr(e.msg, "not square") != NULL, "message: %s", e.msg);
    sv_dataset_opts o;
    sv_dataset_opts_default(&o);
    o.resolution = 32; /* given R, REJECT: the video is left out, none left */
    ck_assert_int_eq(sv_dataset_open(root, &o, &ds, &e), SV_ERR_FORMAT);
    o.resize = SV_DS_RESIZE_AUTO;
    o.resolution = 0; /* R from the first frame: min side */
    ck_assert_int_eq(sv_dataset_open(root, &o, &ds, &e), SV_OK);
    ck_assert_int_eq(sv_dataset_resolution(ds), 48);
    uint8_t *got = malloc(3 * 48 * 48);
    int64_t t = 2;
    ck_assert_int_eq(sv_dataset_read(ds, 0, &t, 1, 0, got, &e), SV_OK);
    for (int c = 0; c < 3; c++) /* crop only: rows 8..55 */
        for (int y = 0; y < 48; y++)
            for (int x = 0; x < 48; x++)
                ck_assert_int_eq(got[(c * 48 + y) * 48 + x], pix(0, 2, x, y + 8, c));
    sv_dataset_close(ds);
    o.resolution = 16;
    ck_assert_int_eq(sv_dataset_open(root, &o, &ds, &e), SV_OK);
    ck_assert_int_eq(sv_dataset_read(ds, 0, &t, 1, 1, got, &e), SV_OK);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 16; y++)
            for (int x = 0; x < 16; x++) {
                int s = 0;
                for (int dy = 0; dy < 3; dy++)
                    for (int dx = 0; dx < 3; dx++)
                        s += pix(0, 2, 3 * x + dx, 8 + 3 * y + dy, c);
                int want = (int)floor(s / 9.0 + 0.5);
                ck_assert_int_eq(got[(c * 16 + y) * 16 + (15 - x)], want);
            }
    sv_dataset_close(ds);
    /* bicubic upscale 48 → 96 of the crop: exactly the a = -0.5 kernel at source offsets ±0.25 */
    o.resolution = 96;
    ck_assert_int_eq(sv_dataset_open(root, &o, &ds, &e), SV_OK);
    free(got);
    got = malloc(3 * 96 * 96);
    ck_assert_int_eq(sv_dataset_read(ds, 0, &t, 1, 0, got, &e), SV_OK);
    double w[4] = {-0.0703125, 0.8671875, 0.2265625, -0.0234375}; /* cubic(1.25), (0.25), (0.75), (1.75) */
    for (int c = 0; c < 3; c++)
        for (int y = 10; y < 80; y += 7)
            for (int x = 10; x < 80; x += 5) {
                /* output i at source (i+0.5)/2-0.5: even i = k - 0.25 (taps k-2..k+1), odd = k + 0.25 */
                double acc = 0;
                for (int a = 0; a < 4; a++)
                    for (int b = 0; b < 4; b++) {
                        int sy = (y % 2 == 0) ? y / 2 - 2 + a : y / 2 - 1 + a;
                        int sx = (x % 2 == 0) ? x / 2 - 2 + b : x / 2 - 1 + b;
                        double wy = (y % 2 == 0) ? w[3 - a] : w[a];
                        double wx = (x % 2 == 0) ? w[3 - b] : w[b];
                        acc += wy * wx * pix(0, 2, sx, sy + 8, c);
                    }
                int want = (int)floor(acc + 0.5);
                want = want < 0 ? 0 : (want > 255 ? 255 : want);
                ck_assert_msg(got[(c * 96 + y) * 96 + x] == want, "bicubic (%d,%d,%d): %d vs %d", c, y, x,
                              got[(c * 96 + y) * 96 + x], want);
            }
    sv_dataset_close(ds);
    free(got);
    rm_tree(root);
}
END_TEST

START_TEST(test_demo)
{
    sv_dataset_opts o;
    sv_dataset_opts_default(&o);
    o.demo_videos = 5, o.demo_frames = 30, o.resolution = 24;
    sv_dataset *a = NULL, *b = NULL, *c = NULL, *d = NULL;
    sv_err e;
    ck_assert_int_eq(sv_dataset_open("demo:3", &o, &a, &e), SV_OK);
    ck_assert_int_eq(sv_dataset_open("demo:3", &o, &b, &e), SV_OK);
    ck_assert_int_eq(sv_dataset_open("demo:4", &o, &c, &e), SV_OK);
    o.demo_seed = 3;
    ck_assert_int_eq(sv_dataset_open("demo", &o, &d, &e), SV_OK);
    ck_assert_str_eq(sv_dataset_kind(a), "demo");
    ck_assert_int_eq(sv_dataset_num_videos(a), 5);
    ck_assert_int_eq(sv_dataset_video_frames(a, 4), 30);
    ck_assert_int_eq(sv_dataset_resolution(a), 24);
    ck_assert(sv_dataset_video_fps(a, 0) == 25.0);
    ck_assert_uint_eq(sv_dataset_fingerprint(a), sv_dataset_fingerprint(d));
    ck_assert_uint_ne(sv_dataset_fingerprint(a), sv_dataset_fingerprint(c));
    const size_t fb = 3 * 24 * 24;
    uint8_t *x = malloc(4 * fb), *y = malloc(4 * fb), *z = malloc(4 * fb);
    int64_t idx[4] = {29, 0, 7, 8};
    for (int v = 0; v < 5; v++) {
        ck_assert_int_eq(sv_dataset_read(a, v, idx, 4, 0, x, &e), SV_OK);
        ck_assert_int_eq(sv_dataset_read(b, v, idx, 4, 0, y, &e), SV_OK);
        ck_assert_int_eq(sv_dataset_read(c, v, idx, 4, 0, z, &e), SV_OK);
        ck_assert(!memcmp(x, y, 4 * fb));
        ck_assert(memcmp(x, z, 4 * fb) != 0);
        ck_assert(memcmp(x + 2 * fb, x + 3 * fb, fb) != 0); /* it moves */
        ck_assert_int_eq(sv_dataset_read(d, v, idx, 4, 0, z, &e), SV_OK);
        ck_assert(!memcmp(x, z, 4 * fb));
        /* xflip mirrors */
        ck_assert_int_eq(sv_dataset_read(a, v, idx, 1, 1, y, &e), SV_OK);
        for (int ch = 0; ch < 3; ch++)
            for (int r = 0; r < 24; r++)
                for (int q = 0; q < 24; q++)
                    ck_assert_int_eq(y[(ch * 24 + r) * 24 + q], x[(ch * 24 + r) * 24 + 23 - q]);
    }
    sv_dataset *bad = NULL;
    ck_assert_int_eq(sv_dataset_open("demo:x", &o, &bad, &e), SV_ERR_INVALID);
    ck_assert_ptr_null(bad);
    sv_dataset_close(a), sv_dataset_close(b), sv_dataset_close(c), sv_dataset_close(d);
    free(x), free(y), free(z);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("dataset");
    TCase *tc = tcase_create("dataset");
    tcase_add_unchecked_fixture(tc, data_setup, data_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_demo);
    tcase_add_test(tc, test_png_frames_exact);
    tcase_add_test(tc, test_zip_exact);
    tcase_add_test(tc, test_mkv_exact);
    tcase_add_test(tc, test_mp4_exact);
    tcase_add_test(tc, test_cross_kind_identical);
    tcase_add_test(tc, test_jpeg_tolerance);
    tcase_add_test(tc, test_seek_far);
    tcase_add_test(tc, test_bframes);
    tcase_add_test(tc, test_truncated_video);
    tcase_add_test(tc, test_corrupt_jpeg);
    tcase_add_test(tc, test_empty_and_missing);
    tcase_add_test(tc, test_resize);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_main(suite(), 0);
}
