/* Tests for src/io/video.c: RGB conversion, grids, the streaming video writer (read back with
 * libavformat/libavcodec: frame rate, frame count, timestamps, size, codec, PSNR), still images,
 * atomic replacement and error messages.  No OpenCL needed. */
#include "config.h"
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

#include "svgan/video.h"

/* ------------------------------------------------------------------------------------------------
 * helpers
 * ---------------------------------------------------------------------------------------------- */

static char g_dir[256];

static void dir_setup(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/svgan-video-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
}

static void dir_teardown(void)
{
    DIR *d = opendir(g_dir);
    if (!d)
        return;
    struct dirent *e;
    char p[600];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", g_dir, e->d_name);
            unlink(p);
        }
    closedir(d);
    rmdir(g_dir);
}

static const char *P(const char *name)
{
    static char buf[4][600];
    static int k;
    k = (k + 1) & 3;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

/* Number of entries in the test directory (temporary files included). */
static int dir_count(void)
{
    DIR *d = opendir(g_dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* Smooth moving test pattern, frame k. */
static void pattern(uint8_t *rgb, int W, int H, int k)
{
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t *p = rgb + ((size_t)y * W + x) * 3;
            p[0] = (uint8_t)lrint(128 + 90 * sin(x * 0.15 + k * 0.2));
            p[1] = (uint8_t)lrint(128 + 90 * cos(y * 0.2 - k * 0.1));
            p[2] = (uint8_t)lrint(128 + 60 * sin((x + y) * 0.1 + k * 0.3));
        }
}

typedef struct decoded {
    int width, height, nframes;
    char codec[32];
    AVRational r_fps, avg_fps, tb;
    double duration; /* container duration, seconds */
    int64_t *pts; /* best-effort pts of each decoded frame, stream time base */
    uint8_t **rgb; /* each frame as packed RGB24 (when keep) */
    int keep;
} decoded;

static void decoded_free(decoded *d)
{
    if (d->rgb)
        for (int i = 0; i < d->nframes; i++)
            free(d->rgb[i]);
    free(d->rgb);
    free(d->pts);
    memset(d, 0, sizeof *d);
}

/* Decode every frame of a file (video or still image) with libavformat/libavcodec. */
static void decode_file(const char *path, decoded *d, int keep)
{
    memset(d, 0, sizeof *d);
    d->keep = keep;
    AVFormatContext *fc = NULL;
    ck_assert_msg(avformat_open_input(&fc, path, NULL, NULL) == 0, "cannot open %s", path);
    ck_assert_int_ge(avformat_find_stream_info(fc, NULL), 0);
    int si = av_find_best_stream(fc, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    ck_assert_int_ge(si, 0);
    AVStream *st = fc->streams[si];
    const AVCodec *dec = avcodec_find_decoder(st->codecpar->codec_id);
    ck_assert_ptr_nonnull(dec);
    snprintf(d->codec, sizeof d->codec, "%s", avcodec_get_name(st->codecpar->codec_id));
    d->r_fps = st->r_frame_rate;
    d->avg_fps = st->avg_frame_rate;
    d->tb = st->time_base;
    d->duration = fc->duration == AV_NOPTS_VALUE ? -1 : fc->duration / (double)AV_TIME_BASE;
    AVCodecContext *cc = avcodec_alloc_context3(dec);
    ck_assert_int_ge(avcodec_parameters_to_context(cc, st->codecpar), 0);
    cc->thread_count = 1;
    ck_assert_int_ge(avcodec_open2(cc, dec, NULL), 0);
    AVPacket *pkt = av_packet_alloc();
    AVFrame *f = av_frame_alloc();
    struct SwsContext *sws = NULL;
    int cap = 0, eof = 0;
    while (!eof) {
        int rc = av_read_frame(fc, pkt);
        if (rc < 0) {
            eof = 1;
            rc = avcodec_send_packet(cc, NULL);
        } else {
            if (pkt->stream_index == si)
                rc = avcodec_send_packet(cc, pkt);
            av_packet_unref(pkt);
        }
        ck_assert_int_ge(rc, 0);
        while (avcodec_receive_frame(cc, f) == 0) {
            if (d->nframes == 0) {
                d->width = f->width;
                d->height = f->height;
            }
            ck_assert_int_eq(f->width, d->width);
            ck_assert_int_eq(f->height, d->height);
            if (d->nframes == cap) {
                cap = cap ? 2 * cap : 64;
                d->pts = realloc(d->pts, cap * sizeof *d->pts);
                d->rgb = realloc(d->rgb, cap * sizeof *d->rgb);
            }
            d->pts[d->nframes] = f->best_effort_timestamp;
            d->rgb[d->nframes] = NULL;
            if (keep) {
                if (!sws) {
                    sws = sws_getContext(f->width, f->height, f->format, f->width, f->height, AV_PIX_FMT_RGB24,
                                         SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, NULL, NULL, NULL);
                    ck_assert_ptr_nonnull(sws);
                    const AVPixFmtDescriptor *pd = av_pix_fmt_desc_get(f->format);
                    if (!(pd->flags & AV_PIX_FMT_FLAG_RGB)) {
                        int cs = f->colorspace == AVCOL_SPC_BT709 ? SWS_CS_ITU709 : SWS_CS_DEFAULT;
                        const int *coef = sws_getCoefficients(cs);
                        int full = f->color_range == AVCOL_RANGE_JPEG || f->format == AV_PIX_FMT_YUVJ420P ||
                                   f->format == AV_PIX_FMT_YUVJ444P || f->format == AV_PIX_FMT_YUVJ422P;
                        sws_setColorspaceDetails(sws, coef, full, coef, 1, 0, 1 << 16, 1 << 16);
                    }
                }
                uint8_t *out = malloc((size_t)f->width * f->height * 3);
                uint8_t *dst[4] = {out, NULL, NULL, NULL};
                int dls[4] = {f->width * 3, 0, 0, 0};
                sws_scale(sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dst, dls);
                d->rgb[d->nframes] = out;
            }
            d->nframes++;
            av_frame_unref(f);
        }
    }
    sws_freeContext(sws);
    av_frame_free(&f);
    av_packet_free(&pkt);
    avcodec_free_context(&cc);
    avformat_close_input(&fc);
}

/* PSNR of decoded frame region (first W×H pixels of a dW-wide frame) against the pattern. */
static double psnr_vs_pattern(const uint8_t *dec, int dW, int W, int H, int k)
{
    uint8_t *ref = malloc((size_t)W * H * 3);
    pattern(ref, W, H, k);
    double se = 0;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W * 3; x++) {
            double e = (double)dec[(size_t)y * dW * 3 + x] - ref[(size_t)y * W * 3 + x];
            se += e * e;
        }
    free(ref);
    double mse = se / ((double)W * H * 3);
    return mse == 0 ? 99.0 : 10 * log10(255.0 * 255.0 / mse);
}

/* Write n pattern frames; returns the encoder name (static copy). */
static const char *write_pattern(const char *path, int W, int H, int n, int num, int den, const sv_video_opts *o)
{
    static char name[64];
    sv_video_writer *w = NULL;
    sv_err e = {0, ""};
    int rc = sv_video_writer_open(path, W, H, num, den, o, &w, &e);
    ck_assert_msg(rc == SV_OK, "open %s: %s", path, e.msg);
    snprintf(name, sizeof name, "%s", sv_video_writer_encoder(w));
    uint8_t *rgb = malloc((size_t)W * H * 3);
    for (int k = 0; k < n; k++) {
        pattern(rgb, W, H, k);
        rc = sv_video_writer_put(w, rgb, 0, &e);
        ck_assert_msg(rc == SV_OK, "put %d: %s", k, e.msg);
    }
    free(rgb);
    ck_assert_int_eq(sv_video_writer_frames(w), n);
    rc = sv_video_writer_close(w, &e);
    ck_assert_msg(rc == SV_OK, "close %s: %s", path, e.msg);
    return name;
}

/* Optional cross-check with ffprobe when it is installed: "W,H,num/den,frames". */
static void ffprobe_check(const char *path, const char *want)
{
    static int have = -1;
    if (have < 0) {
        have = system("command -v ffprobe >/dev/null 2>&1") == 0;
        if (!have)
            printf("ffprobe absent: cross-checks skipped\n");
    }
    if (!have)
        return;
    char cmd[900], line[256] = "";
    snprintf(cmd, sizeof cmd,
             "ffprobe -v error -count_frames -select_streams v:0 -show_entries "
             "stream=width,height,r_frame_rate,nb_read_frames -of csv=p=0 '%s'",
             path);
    FILE *f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    pclose(f);
    line[strcspn(line, "\n")] = 0;
    ck_assert_msg(strcmp(line, want) == 0, "ffprobe %s: '%s', want '%s'", path, line, want);
}

/* Check a decoded stream: n frames, size, fps num/den, timestamps k·den/num s, PSNR. */
static void check_video(const char *path, int W, int H, int n, int num, int den, double min_psnr, decoded *d)
{
    decode_file(path, d, 1);
    ck_assert_msg(d->nframes == n, "%s: %d frames decoded, want %d", path, d->nframes, n);
    ck_assert_int_ge(d->width, W);
    ck_assert_int_ge(d->height, H);
    ck_assert_msg(d->r_fps.num * (int64_t)den == (int64_t)num * d->r_fps.den, "%s: r_frame_rate %d/%d, want %d/%d",
                  path, d->r_fps.num, d->r_fps.den, num, den);
    ck_assert_msg(d->avg_fps.num * (int64_t)den == (int64_t)num * d->avg_fps.den,
                  "%s: avg_frame_rate %d/%d, want %d/%d", path, d->avg_fps.num, d->avg_fps.den, num, den);
    /* Presentation times: frame k at k·den/num seconds (to the stream's time base resolution). */
    int64_t first = d->pts[0];
    for (int k = 0; k < n; k++) {
        ck_assert_msg(d->pts[k] != AV_NOPTS_VALUE, "%s: frame %d has no pts", path, k);
        int64_t want = av_rescale_q(k, (AVRational){den, num}, d->tb);
        int64_t got = d->pts[k] - first;
        ck_assert_msg(llabs(got - want) <= 1, "%s: frame %d pts %lld, want %lld (tb %d/%d)", path, k,
                      (long long)got, (long long)want, d->tb.num, d->tb.den);
    }
    /* Duration n·den/num (containers keep milliseconds at least). */
    double want_dur = (double)n * den / num;
    ck_assert_msg(fabs(d->duration - want_dur) < 0.0015, "%s: duration %.6f s, want %.6f s", path, d->duration,
                  want_dur);
    double worst = 1e9;
    for (int k = 0; k < n; k++) {
        double p = psnr_vs_pattern(d->rgb[k], d->width, W, H, k);
        if (p < worst)
            worst = p;
    }
    printf("%s: %d frames %dx%d %s fps %d/%d, worst PSNR %.2f dB\n", strrchr(path, '/') + 1, d->nframes, d->width,
           d->height, d->codec, d->r_fps.num, d->r_fps.den, worst);
    ck_assert_msg(worst > min_psnr, "%s: worst PSNR %.2f dB <= %.1f", path, worst, min_psnr);
    char want[96];
    snprintf(want, sizeof want, "%d,%d,%d/%d,%d", d->width, d->height, num, den, n);
    ffprobe_check(path, want);
}

/* Top-level MP4 boxes: index of "moov" and "mdat" in order of appearance. */
static void mp4_box_order(const char *path, int *moov, int *mdat)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    *moov = *mdat = -1;
    uint8_t h[16];
    long pos = 0;
    for (int i = 0; i < 32 && fseek(f, pos, SEEK_SET) == 0 && fread(h, 1, 8, f) == 8; i++) {
        uint64_t size = ((uint64_t)h[0] << 24) | (h[1] << 16) | (h[2] << 8) | h[3];
        if (size == 1) {
            ck_assert_int_eq(fread(h + 8, 1, 8, f), 8);
            size = 0;
            for (int b = 8; b < 16; b++)
                size = size << 8 | h[b];
        }
        if (!memcmp(h + 4, "moov", 4))
            *moov = i;
        if (!memcmp(h + 4, "mdat", 4))
            *mdat = i;
        if (size < 8)
            break;
        pos += (long)size;
    }
    fclose(f);
}

/* ------------------------------------------------------------------------------------------------
 * conversion and grid
 * ---------------------------------------------------------------------------------------------- */

START_TEST(test_to_rgb24)
{
    /* [3,2,3]: channel-major in, pixel-major out. */
    const float in[18] = {
        -1.0f, 1.0f, 0.0f, 0.99f, 2.0f, -3.0f,                        /* R */
        NAN, -0.5f, 0.5f, 1.0f / 255.0f, -1.0f + 2.0f / 255.0f, 0.999f, /* G */
        INFINITY, -INFINITY, 0.25f, -0.25f, 0.1f, -0.1f,              /* B */
    };
    uint8_t out[18];
    ck_assert_int_eq(sv_frames_to_rgb24(in, 2, 3, out), SV_OK);
    for (int i = 0; i < 6; i++) {
        for (int c = 0; c < 3; c++) {
            /* Reference with the official arithmetic, in float32. */
            float x = in[c * 6 + i];
            float v = x * 0.5f;
            v = v + 0.5f;
            v = isnan(v) ? 0.0f : v < 0 ? 0.0f : v > 1 ? 1.0f : v;
            uint8_t want = (uint8_t)(v * 255.0f);
            ck_assert_msg(out[i * 3 + c] == want, "pixel %d ch %d: %d want %d", i, c, out[i * 3 + c], want);
        }
    }
    /* Hand-computed values: truncation, not rounding. */
    ck_assert_int_eq(out[0 * 3 + 0], 0);   /* -1 */
    ck_assert_int_eq(out[1 * 3 + 0], 255); /* 1 */
    ck_assert_int_eq(out[2 * 3 + 0], 127); /* 0 -> 127.5 -> 127 */
    ck_assert_int_eq(out[3 * 3 + 0], 253); /* 0.99 -> 253.725 */
    ck_assert_int_eq(out[4 * 3 + 0], 255); /* clamp */
    ck_assert_int_eq(out[5 * 3 + 0], 0);   /* clamp */
    ck_assert_int_eq(out[0 * 3 + 1], 0);   /* NaN */
    ck_assert_int_eq(out[1 * 3 + 1], 63);  /* -0.5 -> 63.75 */
    ck_assert_int_eq(out[2 * 3 + 1], 191); /* 0.5 -> 191.25 */
    ck_assert_int_eq(out[0 * 3 + 2], 255); /* +inf */
    ck_assert_int_eq(out[1 * 3 + 2], 0);   /* -inf */
    ck_assert_int_eq(out[2 * 3 + 2], 159); /* 0.25 -> 159.375 */
    ck_assert_int_eq(sv_frames_to_rgb24(NULL, 2, 3, out), SV_ERR_INVALID);
    ck_assert_int_eq(sv_frames_to_rgb24(in, 0, 3, out), SV_ERR_INVALID);
}
END_TEST

START_TEST(test_grid)
{
    enum { TH = 4, TW = 5, R = 2, C = 3 };
    uint8_t tiles[R * C][TH * TW * 3];
    const uint8_t *tp[R * C];
    for (int t = 0; t < R * C; t++) {
        for (int i = 0; i < TH * TW; i++) {
            tiles[t][i * 3 + 0] = (uint8_t)(10 + t);
            tiles[t][i * 3 + 1] = (uint8_t)(100 + i);
            tiles[t][i * 3 + 2] = 200;
        }
        tp[t] = tiles[t];
    }
    tp[4] = NULL; /* cell (1,1) stays black */
    int GH, GW;
    ck_assert_int_eq(sv_grid_size(R, C, TH, TW, -1, &GH, &GW), SV_OK);
    ck_assert_int_eq(GH, R * (TH + 2) + 2);
    ck_assert_int_eq(GW, C * (TW + 2) + 2);
    uint8_t *g = malloc((size_t)GH * GW * 3);
    memset(g, 0x55, (size_t)GH * GW * 3);
    ck_assert_int_eq(sv_grid_compose(tp, R, C, TH, TW, -1, g), SV_OK);
    for (int y = 0; y < GH; y++)
        for (int x = 0; x < GW; x++) {
            const uint8_t *p = g + ((size_t)y * GW + x) * 3;
            int r = (y - 2) / (TH + 2), c = (x - 2) / (TW + 2);
            int ty = (y - 2) % (TH + 2), tx = (x - 2) % (TW + 2);
            int inside = y >= 2 && x >= 2 && ty < TH && tx < TW && r < R && c < C && tp[r * C + c];
            if (inside) {
                ck_assert_int_eq(p[0], 10 + r * C + c);
                ck_assert_int_eq(p[1], 100 + ty * TW + tx);
                ck_assert_int_eq(p[2], 200);
            } else {
                ck_assert_msg(p[0] == 0 && p[1] == 0 && p[2] == 0, "(%d,%d) not black", y, x);
            }
        }
    /* Tile (1,2) starts at y = 1·(4+2)+2 = 8, x = 2·(5+2)+2 = 16. */
    ck_assert_int_eq(g[(8 * GW + 16) * 3], 10 + 5);
    free(g);
    /* padding 0: tiles touch. */
    ck_assert_int_eq(sv_grid_size(R, C, TH, TW, 0, &GH, &GW), SV_OK);
    ck_assert_int_eq(GH, R * TH);
    ck_assert_int_eq(GW, C * TW);
    g = malloc((size_t)GH * GW * 3);
    ck_assert_int_eq(sv_grid_compose(tp, R, C, TH, TW, 0, g), SV_OK);
    ck_assert_int_eq(g[(4 * GW + 10) * 3], 10 + 5);
    free(g);
    ck_assert_int_eq(sv_grid_size(0, C, TH, TW, 2, &GH, &GW), SV_ERR_INVALID);
    ck_assert_int_eq(sv_grid_compose(NULL, R, C, TH, TW, 2, tiles[0]), SV_ERR_INVALID);
}
END_TEST

START_TEST(test_fps_rational)
{
    int n, d;
    sv_err e = {0, ""};
    struct {
        double fps;
        int n, d;
    } cases[] = {{25, 25, 1},           {29.97, 30000, 1001}, {23.976, 24000, 1001}, {59.94, 60000, 1001},
                 {12.5, 25, 2},         {1, 1, 1},            {0.5, 1, 2},           {30000.0 / 1001, 30000, 1001},
                 {1000, 1000, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_assert_int_eq(sv_video_fps_rational(cases[i].fps, &n, &d, &e), SV_OK);
        ck_assert_msg(n == cases[i].n && d == cases[i].d, "%g -> %d/%d, want %d/%d", cases[i].fps, n, d,
                      cases[i].n, cases[i].d);
    }
    ck_assert_int_eq(sv_video_fps_rational(0, &n, &d, &e), SV_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(e.msg, "fps"));
    ck_assert_int_eq(sv_video_fps_rational(NAN, &n, &d, &e), SV_ERR_INVALID);
    ck_assert_int_eq(sv_video_fps_rational(-25, &n, &d, &e), SV_ERR_INVALID);
    ck_assert_int_eq(sv_video_fps_rational(5000, &n, &d, &e), SV_ERR_INVALID);
}
END_TEST

/* ------------------------------------------------------------------------------------------------
 * video
 * ---------------------------------------------------------------------------------------------- */

START_TEST(test_mp4_basic)
{
    const char *path = P("basic.mp4");
    const char *enc = write_pattern(path, 68, 36, 64, 25, 1, NULL);
    if (avcodec_find_encoder_by_name("libx264"))
        ck_assert_str_eq(enc, "libx264");
    ck_assert_int_eq(dir_count(), 1); /* no temporary left */
    decoded d;
    check_video(path, 68, 36, 64, 25, 1, 30.0, &d);
    ck_assert_int_eq(d.width, 68);
    ck_assert_int_eq(d.height, 36);
    if (!strcmp(enc, "libx264"))
        ck_assert_str_eq(d.codec, "h264");
    /* 64 frames at 1/25 s: the last frame starts at 2.52 s. */
    ck_assert_int_eq(av_compare_ts(d.pts[63] - d.pts[0], d.tb, 63, (AVRational){1, 25}), 0);
    decoded_free(&d);
    int moov, mdat;
    mp4_box_order(path, &moov, &mdat);
    ck_assert_msg(moov >= 0 && mdat >= 0 && moov < mdat, "faststart: moov at %d, mdat at %d", moov, mdat);
}
END_TEST

START_TEST(test_mp4_ntsc)
{
    int n, dd;
    ck_assert_int_eq(sv_video_fps_rational(29.97, &n, &dd, NULL), SV_OK);
    const char *path = P("ntsc.mp4");
    write_pattern(path, 64, 48, 30, n, dd, NULL);
    decoded d;
    check_video(path, 64, 48, 30, 30000, 1001, 30.0, &d);
    /* 30 frames: last one at 29·1001/30000 s. */
    ck_assert_int_eq(av_compare_ts(d.pts[29] - d.pts[0], d.tb, 29 * 1001, (AVRational){1, 30000}), 0);
    decoded_free(&d);
}
END_TEST

START_TEST(test_odd_sizes)
{
    /* Default policy: pad to even by repeating the last column/row. */
    const char *path = P("odd.mp4");
    sv_video_writer *w = NULL;
    sv_err e = {0, ""};
    ck_assert_int_eq(sv_video_writer_open(path, 67, 35, 25, 1, NULL, &w, &e), SV_OK);
    int cw, ch;
    sv_video_writer_coded_size(w, &cw, &ch);
    ck_assert_int_eq(cw, 68);
    ck_assert_int_eq(ch, 36);
    /* Rows with padding in the stride. */
    size_t stride = 67 * 3 + 13;
    uint8_t *buf = calloc(stride * 35, 1), *rgb = malloc(67 * 35 * 3);
    for (int k = 0; k < 12; k++) {
        pattern(rgb, 67, 35, k);
        for (int y = 0; y < 35; y++)
            memcpy(buf + y * stride, rgb + y * 67 * 3, 67 * 3);
        ck_assert_msg(sv_video_writer_put(w, buf, stride, &e) == SV_OK, "%s", e.msg);
    }
    ck_assert_msg(sv_video_writer_close(w, &e) == SV_OK, "%s", e.msg);
    free(buf);
    free(rgb);
    decoded d;
    check_video(path, 67, 35, 12, 25, 1, 30.0, &d);
    ck_assert_int_eq(d.width, 68);
    ck_assert_int_eq(d.height, 36);
    /* The padded column repeats column 66 (approximately, after lossy coding). */
    double se = 0;
    for (int y = 0; y < 35; y++)
        for (int c = 0; c < 3; c++) {
            double df = (double)d.rgb[0][(y * 68 + 67) * 3 + c] - d.rgb[0][(y * 68 + 66) * 3 + c];
            se += df * df;
        }
    ck_assert_msg(sqrt(se / 105) < 8, "padded column differs from the last one (rms %.1f)", sqrt(se / 105));
    decoded_free(&d);

    /* Reject policy: clear message, no file. */
    sv_video_opts o;
    sv_video_opts_default(&o);
    o.odd = SV_VIDEO_ODD_REJECT;
    ck_assert_int_eq(sv_video_writer_open(P("odd2.mp4"), 67, 36, 25, 1, &o, &w, &e), SV_ERR_INVALID);
    ck_assert_ptr_null(w);
    ck_assert_msg(strstr(e.msg, "even") && strstr(e.msg, "67x36"), "message: %s", e.msg);
    ck_assert(!exists(P("odd2.mp4")));
    /* An even size is fine with REJECT. */
    write_pattern(P("even.mp4"), 66, 36, 3, 25, 1, &o);
    ck_assert_int_eq(dir_count(), 2);
}
END_TEST

START_TEST(test_containers)
{
    struct {
        const char *name, *need, *codec;
    } cases[] = {
        {"c.mkv", "libx264", "h264"},      {"c.mov", "libx264", "h264"}, {"c.avi", "libx264", "h264"},
        {"c.webm", "libvpx-vp9", "vp9"},   {"c.MP4", "libx264", "h264"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (!avcodec_find_encoder_by_name(cases[i].need)) {
            printf("%s: encoder %s absent: skipped\n", cases[i].name, cases[i].need);
            continue;
        }
        const char *path = P(cases[i].name);
        const char *enc = write_pattern(path, 48, 32, 20, 25, 1, NULL);
        ck_assert_str_eq(enc, cases[i].need);
        decoded d;
        check_video(path, 48, 32, 20, 25, 1, 30.0, &d);
        ck_assert_int_eq(d.width, 48);
        ck_assert_int_eq(d.height, 32);
        ck_assert_str_eq(d.codec, cases[i].codec);
        decoded_free(&d);
    }
    /* VP8 and AV1 in webm when asked for by name. */
    const char *named[] = {"libvpx", "libaom-av1"};
    for (size_t i = 0; i < 2; i++) {
        if (!avcodec_find_encoder_by_name(named[i])) {
            printf("webm %s absent: skipped\n", named[i]);
            continue;
        }
        sv_video_opts o;
        sv_video_opts_default(&o);
        o.codec = named[i];
        const char *path = P(i ? "av1.webm" : "vp8.webm");
        ck_assert_str_eq(write_pattern(path, 48, 32, 10, 25, 1, &o), named[i]);
        decoded d;
        check_video(path, 48, 32, 10, 25, 1, 30.0, &d);
        decoded_free(&d);
    }
}
END_TEST

START_TEST(test_named_codec)
{
    sv_video_opts o;
    sv_video_opts_default(&o);
    o.codec = "mpeg4";
    const char *path = P("m4.mp4");
    ck_assert_str_eq(write_pattern(path, 68, 36, 25, 25, 1, &o), "mpeg4");
    decoded d;
    check_video(path, 68, 36, 25, 25, 1, 30.0, &d);
    ck_assert_str_eq(d.codec, "mpeg4");
    decoded_free(&d);

    sv_video_writer *w = NULL;
    sv_err e = {0, ""};
    o.codec = "no-such-encoder";
    ck_assert_int_eq(sv_video_writer_open(P("x.mp4"), 64, 64, 25, 1, &o, &w, &e), SV_ERR_UNSUPPORTED);
    ck_assert_msg(strstr(e.msg, "no-such-encoder"), "message: %s", e.msg);
    o.codec = "aac";
    ck_assert_int_eq(sv_video_writer_open(P("x.mp4"), 64, 64, 25, 1, &o, &w, &e), SV_ERR_INVALID);
    ck_assert_msg(strstr(e.msg, "not a video encoder"), "message: %s", e.msg);
    if (avcodec_find_encoder_by_name("libx264")) {
        o.codec = "libx264";
        ck_assert_int_eq(sv_video_writer_open(P("x.webm"), 64, 64, 25, 1, &o, &w, &e), SV_ERR_UNSUPPORTED);
        ck_assert_msg(strstr(e.msg, "cannot hold"), "message: %s", e.msg);
    }
    ck_assert_ptr_null(w);
    ck_assert_int_eq(dir_count(), 1);
}
END_TEST

START_TEST(test_fallback)
{
    /* Without H.264 the automatic choice falls back to MPEG-4 Part 2; webm from VP9 to VP8. */
    setenv("SVGAN_VIDEO_SKIP", "libx264,h264_v4l2m2m,libopenh264", 1);
    const char *path = P("fb.mp4");
    ck_assert_str_eq(write_pattern(path, 48, 32, 15, 25, 1, NULL), "mpeg4");
    decoded d;
    check_video(path, 48, 32, 15, 25, 1, 30.0, &d);
    ck_assert_str_eq(d.codec, "mpeg4");
    decoded_free(&d);
    if (avcodec_find_encoder_by_name("libvpx")) {
        setenv("SVGAN_VIDEO_SKIP", "libvpx-vp9", 1);
        path = P("fb.webm");
        ck_assert_str_eq(write_pattern(path, 48, 32, 15, 25, 1, NULL), "libvpx");
        check_video(path, 48, 32, 15, 25, 1, 30.0, &d);
        ck_assert_str_eq(d.codec, "vp8");
        decoded_free(&d);
    }
    /* Nothing left for webm: a clear error. */
    setenv("SVGAN_VIDEO_SKIP", "libvpx-vp9,libvpx,libaom-av1,librav1e,libsvtav1,av1,vp9,vp8", 1);
    sv_video_writer *w = NULL;
    sv_err e = {0, ""};
    int rc = sv_video_writer_open(P("none.webm"), 48, 32, 25, 1, NULL, &w, &e);
    if (rc == SV_ERR_UNSUPPORTED)
        ck_assert_msg(strstr(e.msg, "no suitable video encoder"), "message: %s", e.msg);
    else
        sv_video_writer_abort(w); /* some other AV1/VP9 encoder exists in this libavcodec */
    unsetenv("SVGAN_VIDEO_SKIP");
}
END_TEST

START_TEST(test_bad_args)
{
    sv_video_writer *w = (sv_video_writer *)&w; /* must be reset to NULL */
    sv_err e = {0, ""};
    ck_assert_int_eq(sv_video_writer_open(P("x.gif"), 64, 64, 25, 1, NULL, &w, &e), SV_ERR_INVALID);
    ck_assert_ptr_null(w);
    ck_assert_msg(strstr(e.msg, "unknown video extension '.gif'"), "message: %s", e.msg);
    ck_assert_int_eq(sv_video_writer_open(P("noext"), 64, 64, 25, 1, NULL, &w, &e), SV_ERR_INVALID);
    ck_assert_int_eq(sv_video_writer_open(P("x.mp4"), 0, 64, 25, 1, NULL, &w, &e), SV_ERR_INVALID);
    ck_assert_msg(strstr(e.msg, "0x64"), "message: %s", e.msg);
    ck_assert_int_eq(sv_video_writer_open(P("x.mp4"), 64, 64, 0, 1, NULL, &w, &e), SV_ERR_INVALID);
    ck_assert_int_eq(sv_video_writer_open(P("x.mp4"), 64, 64, 25, 0, NULL, &w, &e), SV_ERR_INVALID);
    sv_video_opts o;
    sv_video_opts_default(&o);
    o.crf = 60;
    ck_assert_int_eq(sv_video_writer_open(P("x.mp4"), 64, 64, 25, 1, &o, &w, &e), SV_ERR_INVALID);
    /* Missing directory: clear message, nothing created. */
    ck_assert_int_eq(sv_video_writer_open(P("nodir/x.mp4"), 64, 64, 25, 1, NULL, &w, &e), SV_ERR_IO);
    ck_assert_msg(strstr(e.msg, "does not exist"), "message: %s", e.msg);
    /* Destination is a directory. */
    ck_assert_int_eq(mkdir(P("d.mp4"), 0755), 0);
    ck_assert_int_eq(sv_video_writer_open(P("d.mp4"), 64, 64, 25, 1, NULL, &w, &e), SV_ERR_IO);
    ck_assert_msg(strstr(e.msg, "is a directory"), "message: %s", e.msg);
    rmdir(P("d.mp4"));
    /* Unwritable directory (skipped as root, who can write anywhere). */
    if (geteuid() != 0) {
        ck_assert_int_eq(mkdir(P("ro"), 0555), 0);
        ck_assert_int_eq(sv_video_writer_open(P("ro/x.mp4"), 64, 64, 25, 1, NULL, &w, &e), SV_ERR_IO);
        ck_assert_msg(strstr(e.msg, "cannot create"), "message: %s", e.msg);
        rmdir(P("ro"));
    }
    ck_assert_int_eq(dir_count(), 0);
    /* Bad stride: the writer fails, stays failed, and close removes the temporary file. */
    ck_assert_int_eq(sv_video_writer_open(P("s.mp4"), 64, 64, 25, 1, NULL, &w, &e), SV_OK);
    uint8_t *rgb = calloc(64 * 64 * 3, 1);
    ck_assert_int_eq(sv_video_writer_put(w, rgb, 10, &e), SV_ERR_INVALID);
    ck_assert_msg(strstr(e.msg, "stride"), "message: %s", e.msg);
    ck_assert_int_eq(sv_video_writer_put(w, rgb, 0, &e), SV_ERR_INVALID); /* sticky */
    ck_assert_int_eq(sv_video_writer_close(w, &e), SV_ERR_INVALID);
    ck_assert_msg(strstr(e.msg, "stride"), "message: %s", e.msg);
    free(rgb);
    ck_assert_int_eq(dir_count(), 0);
    ck_assert_int_eq(sv_video_writer_close(NULL, &e), SV_OK);
    sv_video_writer_abort(NULL);
}
END_TEST

static void write_text(const char *path, const char *s)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(s, f);
    fclose(f);
}

static int file_is(const char *path, const char *s)
{
    char buf[64] = {0};
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    return n == strlen(s) && !memcmp(buf, s, n);
}

START_TEST(test_atomic)
{
    const char *path = P("a.mp4");
    write_text(path, "old");
    sv_video_writer *w = NULL;
    sv_err e = {0, ""};
    uint8_t *rgb = malloc(32 * 32 * 3);
    /* Replaced only on close. */
    ck_assert_int_eq(sv_video_writer_open(path, 32, 32, 25, 1, NULL, &w, &e), SV_OK);
    for (int k = 0; k < 10; k++) {
        pattern(rgb, 32, 32, k);
        ck_assert_int_eq(sv_video_writer_put(w, rgb, 0, &e), SV_OK);
    }
    ck_assert(file_is(path, "old"));
    ck_assert_int_eq(dir_count(), 2); /* the old file and the hidden temporary */
    ck_assert_int_eq(sv_video_writer_close(w, &e), SV_OK);
    ck_assert_int_eq(dir_count(), 1);
    decoded d;
    check_video(path, 32, 32, 10, 25, 1, 30.0, &d);
    decoded_free(&d);

    /* Abort leaves the old file alone and removes the temporary. */
    write_text(path, "old");
    ck_assert_int_eq(sv_video_writer_open(path, 32, 32, 25, 1, NULL, &w, &e), SV_OK);
    ck_assert_int_eq(sv_video_writer_put(w, rgb, 0, &e), SV_OK);
    sv_video_writer_abort(w);
    ck_assert(file_is(path, "old"));
    ck_assert_int_eq(dir_count(), 1);

    /* Zero frames: an error, the old file stays. */
    ck_assert_int_eq(sv_video_writer_open(path, 32, 32, 25, 1, NULL, &w, &e), SV_OK);
    ck_assert_int_eq(sv_video_writer_close(w, &e), SV_ERR_INVALID);
    ck_assert_msg(strstr(e.msg, "no frames"), "message: %s", e.msg);
    ck_assert(file_is(path, "old"));
    ck_assert_int_eq(dir_count(), 1);

    /* Images: a failed write leaves the old file; a good one replaces it. */
    const char *img = P("a.png");
    write_text(img, "old");
    ck_assert_int_eq(sv_image_write(img, rgb, 32, 32, 0, &e), SV_OK);
    ck_assert(!file_is(img, "old"));
    ck_assert_int_eq(dir_count(), 2);
    free(rgb);
}
END_TEST

START_TEST(test_images)
{
    enum { W = 37, H = 23 };
    uint8_t rgb[W * H * 3];
    pattern(rgb, W, H, 3);
    rgb[0] = 0;
    rgb[1] = 255; /* extremes survive PNG exactly */
    sv_err e = {0, ""};
    const char *names[] = {"f.png", "f.PNG", "f.jpg", "f.JPEG"};
    for (int i = 0; i < 4; i++) {
        const char *path = P(names[i]);
        ck_assert_msg(sv_image_write(path, rgb, W, H, i == 3 ? 90 : 0, &e) == SV_OK, "%s", e.msg);
        decoded d;
        decode_file(path, &d, 1);
        ck_assert_int_eq(d.nframes, 1);
        ck_assert_int_eq(d.width, W);
        ck_assert_int_eq(d.height, H);
        if (i < 2) {
            ck_assert_str_eq(d.codec, "png");
            ck_assert_msg(memcmp(d.rgb[0], rgb, sizeof rgb) == 0, "PNG round trip not exact");
        } else {
            ck_assert_str_eq(d.codec, "mjpeg");
            double se = 0;
            for (size_t k = 0; k < sizeof rgb; k++) {
                double df = (double)d.rgb[0][k] - rgb[k];
                se += df * df;
            }
            double psnr = 10 * log10(255.0 * 255.0 / (se / sizeof rgb));
            printf("%s: JPEG PSNR %.2f dB\n", names[i], psnr);
            ck_assert_msg(psnr > 30, "%s: JPEG PSNR %.2f", names[i], psnr);
        }
        decoded_free(&d);
    }
    ck_assert_int_eq(dir_count(), 4);
    ck_assert_int_eq(sv_image_write(P("f.bmp"), rgb, W, H, 0, &e), SV_ERR_INVALID);
    ck_assert_msg(strstr(e.msg, "unknown image extension '.bmp'"), "message: %s", e.msg);
    ck_assert_int_eq(sv_image_write(P("f.jpg"), rgb, W, H, 101, &e), SV_ERR_INVALID);
    ck_assert_int_eq(sv_image_write(P("f.jpg"), rgb, 0, H, 90, &e), SV_ERR_INVALID);
    ck_assert_int_eq(sv_image_write(P("nodir/f.png"), rgb, W, H, 0, &e), SV_ERR_IO);
    ck_assert_msg(strstr(e.msg, "does not exist"), "message: %s", e.msg);
    ck_assert_int_eq(sv_image_write(P("f.png/"), rgb, W, H, 0, &e), SV_ERR_INVALID);
    ck_assert_int_eq(dir_count(), 4);
}
END_TEST

static size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

START_TEST(test_many_frames)
{
    /* 2000 small frames: heap use after 2000 frames is within a small bound of that after 300 (the
     * mp4 index grows by a few dozen bytes per frame; nothing else may accumulate). */
    const char *path = P("long.mp4");
    sv_video_opts o;
    sv_video_opts_default(&o);
    o.preset = "veryfast";
    o.threads = 1;
    sv_video_writer *w = NULL;
    sv_err e = {0, ""};
    ck_assert_int_eq(sv_video_writer_open(path, 32, 32, 25, 1, &o, &w, &e), SV_OK);
    uint8_t *rgb = malloc(32 * 32 * 3);
    size_t at300 = 0, at2000 = 0;
    for (int k = 0; k < 2000; k++) {
        pattern(rgb, 32, 32, k);
        ck_assert_int_eq(sv_video_writer_put(w, rgb, 0, &e), SV_OK);
        if (k == 299)
            at300 = heap_in_use();
    }
    at2000 = heap_in_use();
    ck_assert_int_eq(sv_video_writer_close(w, &e), SV_OK);
    free(rgb);
    long growth = (long)at2000 - (long)at300;
    printf("many frames: heap %zu B after 300 frames, %zu B after 2000 (growth %ld B, %.1f B/frame)\n", at300,
           at2000, growth, growth / 1700.0);
    ck_assert_msg(growth < 256 * 1024, "heap grew by %ld bytes over 1700 frames", growth);
    decoded d;
    decode_file(path, &d, 0);
    ck_assert_int_eq(d.nframes, 2000);
    ck_assert_int_eq(d.r_fps.num, 25);
    ck_assert_int_eq(d.r_fps.den, 1);
    decoded_free(&d);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("video");
    TCase *tc = tcase_create("convert");
    tcase_add_test(tc, test_to_rgb24);
    tcase_add_test(tc, test_grid);
    tcase_add_test(tc, test_fps_rational);
    suite_add_tcase(s, tc);
    tc = tcase_create("video");
    tcase_add_checked_fixture(tc, dir_setup, dir_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_mp4_basic);
    tcase_add_test(tc, test_mp4_ntsc);
    tcase_add_test(tc, test_odd_sizes);
    tcase_add_test(tc, test_containers);
    tcase_add_test(tc, test_named_codec);
    tcase_add_test(tc, test_fallback);
    tcase_add_test(tc, test_bad_args);
    tcase_add_test(tc, test_atomic);
    tcase_add_test(tc, test_images);
    tcase_add_test(tc, test_many_frames);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    return tu_main(suite(), 0);
}
