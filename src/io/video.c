/* svgan — video and image output: RGB conversion, grids, a streaming libav* video writer and
 * PNG/JPEG still images.  See include/svgan/video.h for the contracts. */
#include "config.h"
#include "svgan/video.h"
#include "avlog.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
#include <turbojpeg.h>

#define SV_VIDEO_MAX_SIDE 16384
#define SV_DEFAULT_CRF 18
#define SV_DEFAULT_JPEG_Q 95

/* ================================================================================================
 * Conversion and grids
 * ============================================================================================== */

int sv_frames_to_rgb24(const float *chw, int H, int W, uint8_t *out)
{
    if (!chw || !out || H < 1 || W < 1)
        return SV_ERR_INVALID;
    const size_t plane = (size_t)H * (size_t)W;
    for (int c = 0; c < 3; c++) {
        const float *src = chw + (size_t)c * plane;
        uint8_t *dst = out + c;
        for (size_t i = 0; i < plane; i++) {
            /* Two float32 roundings as torch: (x * 0.5) then + 0.5 (-std=c11 keeps them apart). */
            float h = src[i] * 0.5f;
            float v = h + 0.5f;
            if (!(v > 0.0f)) /* also NaN */
                v = 0.0f;
            else if (v > 1.0f)
                v = 1.0f;
            float s = v * 255.0f;
            dst[3 * i] = (uint8_t)s; /* truncation; s in [0,255] */
        }
    }
    return SV_OK;
}

int sv_grid_size(int rows, int cols, int tile_h, int tile_w, int padding, int *H, int *W)
{
    if (padding < 0)
        padding = SV_GRID_PADDING;
    if (rows < 1 || cols < 1 || tile_h < 1 || tile_w < 1 || padding > 4096)
        return SV_ERR_INVALID;
    int64_t h = (int64_t)rows * (tile_h + padding) + padding;
    int64_t w = (int64_t)cols * (tile_w + padding) + padding;
    if (h > (1 << 20) || w > (1 << 20))
        return SV_ERR_INVALID;
    if (H)
        *H = (int)h;
    if (W)
        *W = (int)w;
    return SV_OK;
}

int sv_grid_compose(const uint8_t *const *tiles, int rows, int cols, int tile_h, int tile_w, int padding,
                    uint8_t *out)
{
    int GH, GW;
    if (padding < 0)
        padding = SV_GRID_PADDING;
    if (!tiles || !out || sv_grid_size(rows, cols, tile_h, tile_w, padding, &GH, &GW) != SV_OK)
        return SV_ERR_INVALID;
    memset(out, 0, (size_t)GH * (size_t)GW * 3);
    const size_t out_stride = (size_t)GW * 3, row_bytes = (size_t)tile_w * 3;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            const uint8_t *t = tiles[(size_t)r * cols + c];
            if (!t)
                continue;
            size_t y0 = (size_t)r * (tile_h + padding) + padding;
            size_t x0 = (size_t)c * (tile_w + padding) + padding;
            for (int y = 0; y < tile_h; y++)
                memcpy(out + (y0 + y) * out_stride + x0 * 3, t + (size_t)y * row_bytes, row_bytes);
        }
    return SV_OK;
}

/* ================================================================================================
 * Files: temporary names and atomic replacement
 * ============================================================================================== */

static const char *path_ext(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    return (dot && dot != base) ? dot : "";
}

/* Check the destination and create a fresh temporary file next to it: "DIR/.BASE.svtmp-XXXXXX".
 * Returns an fd open for writing (tmp receives the name) or a negative sv code. */
static int make_temp(const char *path, char *tmp, size_t tmpn, sv_err *err)
{
    size_t len = strlen(path);
    if (len == 0 || path[len - 1] == '/')
        return sv_seterr(err, SV_ERR_INVALID, "%s: not a file name", len ? path : "(empty path)");
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return sv_seterr(err, SV_ERR_IO, "%s: is a directory", path);
    const char *slash = strrchr(path, '/');
    size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
    const char *base = path + dirlen;
    int baselen = (int)strlen(base);
    if (baselen > 200)
        baselen = 200;
    static unsigned counter;
    uint64_t seed = ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL) ^ ((uint64_t)(uintptr_t)tmp << 7);
    for (int attempt = 0; attempt < 64; attempt++) {
        seed ^= (uint64_t)__atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED) * 0x9E3779B97F4A7C15ull;
        seed ^= seed >> 29;
        seed *= 0xBF58476D1CE4E5B9ull;
        seed ^= seed >> 32;
        char suf[7];
        static const char al[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        uint64_t s = seed;
        for (int i = 0; i < 6; i++, s /= 62)
            suf[i] = al[s % 62];
        suf[6] = 0;
        int n = snprintf(tmp, tmpn, "%.*s.%.*s.svtmp-%s", (int)dirlen, path, baselen, base, suf);
        if (n < 0 || (size_t)n >= tmpn)
            return sv_seterr(err, SV_ERR_INVALID, "%s: path too long", path);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0)
            return fd;
        if (errno == EEXIST)
            continue;
        int e = errno;
        if (e == ENOENT)
            return sv_seterr(err, SV_ERR_IO, "%s: directory %.*s does not exist", path, dirlen ? (int)dirlen : 1,
                             dirlen ? path : ".");
        return sv_seterr(err, SV_ERR_IO, "%s: cannot create a file in %.*s: %s", path, dirlen ? (int)dirlen : 1,
                         dirlen ? path : ".", strerror(e));
    }
    return sv_seterr(err, SV_ERR_IO, "%s: cannot find a free temporary name", path);
}

static int commit_temp(const char *tmp, const char *path, sv_err *err)
{
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return sv_seterr(err, SV_ERR_IO, "%s: cannot rename the finished file into place: %s", path, strerror(e));
    }
    return SV_OK;
}

static int write_all(int fd, const void *buf, size_t n)
{
    const uint8_t *p = buf;
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* ================================================================================================
 * Frame rate
 * ============================================================================================== */

int sv_video_fps_rational(double fps, int *num, int *den, sv_err *err)
{
    if (!num || !den)
        return sv_seterr(err, SV_ERR_INVALID, "fps: NULL output");
    if (!isfinite(fps) || fps <= 0 || fps > 1000)
        return sv_seterr(err, SV_ERR_INVALID, "fps %g: must be a number in (0, 1000]", fps);
    double r = floor(fps + 0.5);
    if (fabs(fps - r) < 1e-9) {
        *num = (int)r;
        *den = 1;
        return SV_OK;
    }
    static const int ntsc[] = {24, 30, 48, 60, 120};
    for (size_t i = 0; i < sizeof ntsc / sizeof ntsc[0]; i++)
        if (fabs(fps - ntsc[i] * 1000.0 / 1001.0) < 0.005) {
            *num = ntsc[i] * 1000;
            *den = 1001;
            return SV_OK;
        }
    AVRational q = av_d2q(fps, 1001);
    /* av_d2q bounds numerator and denominator by max; find the best with den ≤ 1001 directly. */
    int best_n = q.num, best_d = q.den;
    double best_e = q.den > 0 ? fabs(fps - (double)q.num / q.den) : INFINITY;
    for (int d = 1; d <= 1001; d++) {
        double nn = floor(fps * d + 0.5);
        if (nn < 1)
            continue;
        double e = fabs(fps - nn / d);
        if (e < best_e - 1e-12) {
            best_e = e;
            best_n = (int)nn;
            best_d = d;
        }
    }
    *num = best_n;
    *den = best_d;
    return SV_OK;
}

/* ================================================================================================
 * Video writer
 * ============================================================================================== */

typedef struct container_info {
    const char *ext, *format;
    int faststart, webm;
    int no_bframes; /* AVI stores no presentation times: frames must come out in order */
} container_info;

static const container_info k_containers[] = {
    {".mp4", "mp4", 1, 0, 0},    {".mov", "mov", 1, 0, 0}, {".mkv", "matroska", 0, 0, 0},
    {".webm", "webm", 0, 1, 0}, {".avi", "avi", 0, 0, 1},
};

struct sv_video_writer {
    char *path, *tmp;
    int width, height;   /* frames put */
    int cwidth, cheight; /* coded (padded) */
    AVFormatContext *oc;
    AVStream *st;
    AVCodecContext *enc;
    AVFrame *frame;
    AVPacket *pkt;
    struct SwsContext *sws;
    uint8_t *inbuf;    /* RGB24 cwidth×cheight, rows inbuf_stride apart, with slack at the end */
    size_t inbuf_stride; /* libswscale's SIMD reads a few bytes past the last pixel: never hand it
                            the caller's buffer */
    int64_t nframes;
    int header_written;
    int failed;
    sv_err ferr; /* the sticky error */
    char encname[64];
};

static int codec_has_pixfmt(const AVCodec *c, enum AVPixelFormat f)
{
    if (!c->pix_fmts)
        return 0;
    for (const enum AVPixelFormat *p = c->pix_fmts; *p != AV_PIX_FMT_NONE; p++)
        if (*p == f)
            return 1;
    return 0;
}

static int container_accepts(const AVOutputFormat *ofmt, const AVCodec *c)
{
    return avformat_query_codec(ofmt, c->id, FF_COMPLIANCE_NORMAL) != 0; /* 1 yes, <0 unknown */
}

/* SVGAN_VIDEO_SKIP="name,name": encoders the automatic choice treats as absent (testing the
 * fallbacks, or working around a broken encoder). */
static int skipped_by_env(const char *name)
{
    const char *e = getenv("SVGAN_VIDEO_SKIP");
    size_t n = strlen(name);
    while (e && *e) {
        const char *comma = strchr(e, ',');
        size_t len = comma ? (size_t)(comma - e) : strlen(e);
        if (len == n && strncmp(e, name, n) == 0)
            return 1;
        e = comma ? comma + 1 : NULL;
    }
    return 0;
}

/* Candidate encoders in preference order (NULL-terminated, no duplicates). */
static int candidate_encoders(const container_info *ci, const AVOutputFormat *ofmt, const AVCodec **out, int max)
{
    int n = 0;
#define ADD(c_)                                                                                    \
    do {                                                                                           \
        const AVCodec *c__ = (c_);                                                                 \
        if (c__ && n < max - 1 && !(c__->capabilities & AV_CODEC_CAP_HARDWARE) &&                  \
            !skipped_by_env(c__->name) &&                                                          \
            codec_has_pixfmt(c__, AV_PIX_FMT_YUV420P) && container_accepts(ofmt, c__)) {           \
            int dup__ = 0;                                                                         \
            for (int i__ = 0; i__ < n; i__++)                                                      \
                dup__ |= out[i__] == c__;                                                          \
            if (!dup__)                                                                            \
                out[n++] = c__;                                                                    \
        }                                                                                          \
    } while (0)
    static const enum AVCodecID webm_ids[] = {AV_CODEC_ID_VP9, AV_CODEC_ID_VP8, AV_CODEC_ID_AV1};
    static const enum AVCodecID other_ids[] = {AV_CODEC_ID_H264, AV_CODEC_ID_MPEG4, AV_CODEC_ID_HEVC,
                                               AV_CODEC_ID_VP9, AV_CODEC_ID_MPEG2VIDEO, AV_CODEC_ID_MJPEG};
    if (ci->webm) {
        ADD(avcodec_find_encoder_by_name("libvpx-vp9"));
        ADD(avcodec_find_encoder_by_name("libvpx"));
        ADD(avcodec_find_encoder_by_name("libaom-av1"));
    } else {
        ADD(avcodec_find_encoder_by_name("libx264"));
    }
    const enum AVCodecID *ids = ci->webm ? webm_ids : other_ids;
    size_t nids = ci->webm ? sizeof webm_ids / sizeof webm_ids[0] : sizeof other_ids / sizeof other_ids[0];
    for (size_t k = 0; k < nids; k++) {
        if (ids[k] == AV_CODEC_ID_MPEG4)
            ADD(avcodec_find_encoder_by_name("mpeg4"));
        void *it = NULL;
        const AVCodec *c;
        while ((c = av_codec_iterate(&it)))
            if (av_codec_is_encoder(c) && c->id == ids[k])
                ADD(c);
    }
#undef ADD
    out[n] = NULL;
    return n;
}

static enum AVPixelFormat pick_pixfmt(const AVCodec *c)
{
    if (codec_has_pixfmt(c, AV_PIX_FMT_YUV420P) || !c->pix_fmts)
        return AV_PIX_FMT_YUV420P;
    return c->pix_fmts[0];
}

static int is_prefix(const char *name, const char *pre)
{
    return strncmp(name, pre, strlen(pre)) == 0;
}

/* Allocate and open an encoder context for codec c; returns NULL with err set on failure. */
static AVCodecContext *open_encoder(const AVCodec *c, const container_info *ci, const AVOutputFormat *ofmt, int cw,
                                    int ch, int fps_num, int fps_den, const sv_video_opts *o, sv_err *err)
{
    AVCodecContext *ctx = avcodec_alloc_context3(c);
    if (!ctx) {
        sv_seterr(err, SV_ERR_NOMEM, "encoder %s: out of memory", c->name);
        return NULL;
    }
    enum AVPixelFormat pf = pick_pixfmt(c);
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(pf);
    ctx->width = cw;
    ctx->height = ch;
    ctx->pix_fmt = pf;
    ctx->time_base = (AVRational){fps_den, fps_num};
    ctx->framerate = (AVRational){fps_num, fps_den};
    ctx->sample_aspect_ratio = (AVRational){1, 1};
    ctx->thread_count = o->threads > 0 ? o->threads : 0;
    if (d && !(d->flags & AV_PIX_FMT_FLAG_RGB)) {
        int jpeg_range = pf == AV_PIX_FMT_YUVJ420P || pf == AV_PIX_FMT_YUVJ422P || pf == AV_PIX_FMT_YUVJ444P;
        /* BT.709 everywhere it can be signalled; VP8 and JPEG are BT.601 by definition. */
        int bt601 = c->id == AV_CODEC_ID_VP8 || c->id == AV_CODEC_ID_MJPEG;
        ctx->colorspace = bt601 ? AVCOL_SPC_SMPTE170M : AVCOL_SPC_BT709;
        ctx->color_primaries = AVCOL_PRI_BT709;
        ctx->color_trc = AVCOL_TRC_BT709;
        ctx->color_range = jpeg_range ? AVCOL_RANGE_JPEG : AVCOL_RANGE_MPEG;
    }
    if (ofmt->flags & AVFMT_GLOBALHEADER)
        ctx->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if (ci->no_bframes)
        ctx->max_b_frames = 0;

    int crf = o->crf >= 0 ? o->crf : SV_DEFAULT_CRF;
    if (crf > 51)
        crf = 51;
    AVDictionary *dict = NULL;
    char buf[32];
    if (strcmp(c->name, "libx264") == 0) {
        snprintf(buf, sizeof buf, "%d", crf);
        av_dict_set(&dict, "crf", buf, 0);
        av_dict_set(&dict, "preset", o->preset && *o->preset ? o->preset : "medium", 0);
    } else if (is_prefix(c->name, "libvpx") || strcmp(c->name, "libaom-av1") == 0) {
        int q = (int)floor(crf * 63.0 / 51.0 + 0.5);
        snprintf(buf, sizeof buf, "%d", q);
        av_dict_set(&dict, "crf", buf, 0);
        if (strcmp(c->name, "libvpx") == 0) {
            ctx->bit_rate = 50000000; /* VP8's crf is capped by the bit rate: make the cap loose */
            ctx->qmin = 0;
            ctx->qmax = 63;
        } else {
            ctx->bit_rate = 0; /* constant quality */
        }
        if (strcmp(c->name, "libaom-av1") == 0)
            av_dict_set(&dict, "cpu-used", "6", 0);
        else {
            av_dict_set(&dict, "deadline", "good", 0);
            av_dict_set(&dict, "cpu-used", "4", 0);
            if (strcmp(c->name, "libvpx-vp9") == 0)
                av_dict_set(&dict, "row-mt", "1", 0);
        }
    } else {
        int q = (int)floor(crf / 6.0 + 0.5);
        q = q < 1 ? 1 : q > 31 ? 31 : q;
        ctx->flags |= AV_CODEC_FLAG_QSCALE;
        ctx->global_quality = FF_QP2LAMBDA * q;
    }
    sv_av_begin();
    int rc = avcodec_open2(ctx, c, &dict);
    av_dict_free(&dict);
    if (rc < 0) {
        char why[384];
        sv_seterr(err, SV_ERR_UNSUPPORTED, "encoder %s: cannot open for %dx%d: %s", c->name, cw, ch,
                  sv_av_why(rc, why, sizeof why));
        avcodec_free_context(&ctx);
        return NULL;
    }
    return ctx;
}

void sv_video_opts_default(sv_video_opts *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->codec = NULL;
    o->crf = -1;
    o->preset = NULL;
    o->odd = SV_VIDEO_ODD_PAD;
    o->threads = 0;
}

static void writer_free(sv_video_writer *w, int remove_tmp)
{
    if (!w)
        return;
    if (w->oc) {
        if (w->oc->pb)
            avio_closep(&w->oc->pb);
        avformat_free_context(w->oc);
    }
    avcodec_free_context(&w->enc);
    av_frame_free(&w->frame);
    av_packet_free(&w->pkt);
    sws_freeContext(w->sws);
    free(w->inbuf);
    if (remove_tmp && w->tmp)
        unlink(w->tmp);
    free(w->tmp);
    free(w->path);
    free(w);
}

static int writer_fail(sv_video_writer *w, sv_err *err, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static int writer_fail(sv_video_writer *w, sv_err *err, int code, const char *fmt, ...)
{
    char msg[SV_ERRMSG_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!w->failed) {
        w->failed = 1;
        sv_seterr(&w->ferr, code, "%s: %s", w->path, msg);
    }
    if (err)
        *err = w->ferr;
    return w->ferr.code;
}

int sv_video_writer_open(const char *path, int width, int height, int fps_num, int fps_den,
                         const sv_video_opts *opts, sv_video_writer **out, sv_err *err)
{
    if (out)
        *out = NULL;
    if (!path || !out)
        return sv_seterr(err, SV_ERR_INVALID, "video: NULL path or output");
    if (width < 1 || height < 1 || width > SV_VIDEO_MAX_SIDE || height > SV_VIDEO_MAX_SIDE)
        return sv_seterr(err, SV_ERR_INVALID, "%s: video size %dx%d out of range (1..%d)", path, width, height,
                         SV_VIDEO_MAX_SIDE);
    if (fps_num < 1 || fps_den < 1 || (double)fps_num / fps_den > 1000.0)
        return sv_seterr(err, SV_ERR_INVALID, "%s: frame rate %d/%d must be positive and at most 1000", path,
                         fps_num, fps_den);
    sv_video_opts o;
    if (opts)
        o = *opts;
    else
        sv_video_opts_default(&o);
    if (o.odd != SV_VIDEO_ODD_PAD && o.odd != SV_VIDEO_ODD_REJECT)
        return sv_seterr(err, SV_ERR_INVALID, "%s: bad odd-size policy %d", path, (int)o.odd);
    if (o.crf > 51)
        return sv_seterr(err, SV_ERR_INVALID, "%s: crf %d out of range (0..51)", path, o.crf);

    const char *ext = path_ext(path);
    const container_info *ci = NULL;
    for (size_t i = 0; i < sizeof k_containers / sizeof k_containers[0]; i++)
        if (strcasecmp(ext, k_containers[i].ext) == 0)
            ci = &k_containers[i];
    if (!ci)
        return sv_seterr(err, SV_ERR_INVALID,
                         "%s: unknown video extension '%s' (use .mp4, .mkv, .webm, .avi or .mov)", path, ext);
    const AVOutputFormat *ofmt = av_guess_format(ci->format, NULL, NULL);
    if (!ofmt)
        return sv_seterr(err, SV_ERR_UNSUPPORTED, "%s: libavformat has no '%s' muxer", path, ci->format);

    /* Coded size: 4:2:0 needs even sides (all automatic candidates are 4:2:0 capable). */
    int cw = width, ch = height;
    const AVCodec *cands[32];
    int ncand;
    if (o.codec && *o.codec) {
        const AVCodec *c = avcodec_find_encoder_by_name(o.codec);
        if (!c)
            return sv_seterr(err, SV_ERR_UNSUPPORTED, "%s: encoder '%s' is not available in this libavcodec",
                             path, o.codec);
        if (c->type != AVMEDIA_TYPE_VIDEO)
            return sv_seterr(err, SV_ERR_INVALID, "%s: '%s' is not a video encoder", path, o.codec);
        if (!container_accepts(ofmt, c))
            return sv_seterr(err, SV_ERR_UNSUPPORTED, "%s: the %s container cannot hold %s video", path,
                             ci->format, c->name);
        cands[0] = c;
        cands[1] = NULL;
        ncand = 1;
    } else {
        ncand = candidate_encoders(ci, ofmt, cands, (int)(sizeof cands / sizeof cands[0]));
        if (ncand == 0)
            return sv_seterr(err, SV_ERR_UNSUPPORTED, "%s: no suitable video encoder for %s in this libavcodec",
                             path, ci->format);
    }
    enum AVPixelFormat pf0 = pick_pixfmt(cands[0]);
    const AVPixFmtDescriptor *d0 = av_pix_fmt_desc_get(pf0);
    int subsampled = d0 && (d0->log2_chroma_w > 0 || d0->log2_chroma_h > 0);
    if (subsampled && ((width & 1) || (height & 1))) {
        if (o.odd == SV_VIDEO_ODD_REJECT)
            return sv_seterr(err, SV_ERR_INVALID,
                             "%s: %dx%d: the %s encoder (%s) needs an even width and height", path, width, height,
                             cands[0]->name, av_get_pix_fmt_name(pf0));
        cw += width & 1;
        ch += height & 1;
    }

    sv_err lasterr = {0, ""};
    AVCodecContext *enc = NULL;
    const AVCodec *used = NULL;
    for (int i = 0; i < ncand && !enc; i++) {
        enc = open_encoder(cands[i], ci, ofmt, cw, ch, fps_num, fps_den, &o, &lasterr);
        if (enc)
            used = cands[i];
    }
    if (!enc)
        return sv_seterr(err, lasterr.code ? lasterr.code : SV_ERR_UNSUPPORTED, "%s: %s", path, lasterr.msg);

    sv_video_writer *w = calloc(1, sizeof *w);
    size_t tmpn = strlen(path) + 64;
    if (w) {
        w->path = strdup(path);
        w->tmp = malloc(tmpn);
    }
    if (!w || !w->path || !w->tmp) {
        avcodec_free_context(&enc);
        writer_free(w, 0);
        return sv_seterr(err, SV_ERR_NOMEM, "%s: out of memory", path);
    }
    w->enc = enc;
    w->width = width;
    w->height = height;
    w->cwidth = cw;
    w->cheight = ch;
    snprintf(w->encname, sizeof w->encname, "%s", used->name);

    int fd = make_temp(path, w->tmp, tmpn, err);
    if (fd < 0) {
        free(w->tmp);
        w->tmp = NULL;
        writer_free(w, 0);
        return fd;
    }
    close(fd);

    int rc;
    char why[384];
    char *url = malloc(strlen(w->tmp) + 6);
    if (!url) {
        writer_free(w, 1);
        return sv_seterr(err, SV_ERR_NOMEM, "%s: out of memory", path);
    }
    sprintf(url, "file:%s", w->tmp);
    sv_av_begin();
    rc = avformat_alloc_output_context2(&w->oc, ofmt, NULL, url);
    if (rc < 0 || !w->oc) {
        free(url);
        writer_free(w, 1);
        return sv_seterr(err, SV_ERR_NOMEM, "%s: cannot create the %s muxer: %s", path, ci->format,
                         sv_av_why(rc, why, sizeof why));
    }
    w->st = avformat_new_stream(w->oc, NULL);
    w->frame = av_frame_alloc();
    w->pkt = av_packet_alloc();
    if (!w->st || !w->frame || !w->pkt) {
        free(url);
        writer_free(w, 1);
        return sv_seterr(err, SV_ERR_NOMEM, "%s: out of memory", path);
    }
    w->st->time_base = enc->time_base;
    w->st->avg_frame_rate = enc->framerate;
    w->st->r_frame_rate = enc->framerate;
    w->st->sample_aspect_ratio = enc->sample_aspect_ratio;
    rc = avcodec_parameters_from_context(w->st->codecpar, enc);
    if (rc >= 0)
        rc = avio_open(&w->oc->pb, url, AVIO_FLAG_WRITE);
    free(url);
    if (rc < 0) {
        writer_free(w, 1);
        return sv_seterr(err, SV_ERR_IO, "%s: cannot open the temporary file %s: %s", path, w->tmp,
                         sv_av_why(rc, why, sizeof why));
    }
    AVDictionary *mux = NULL;
    if (ci->faststart)
        av_dict_set(&mux, "movflags", "+faststart", 0);
    sv_av_begin();
    rc = avformat_write_header(w->oc, &mux);
    av_dict_free(&mux);
    if (rc < 0) {
        writer_free(w, 1);
        return sv_seterr(err, SV_ERR_IO, "%s: cannot write the %s header: %s", path, ci->format,
                         sv_av_why(rc, why, sizeof why));
    }
    w->header_written = 1;

    w->frame->format = enc->pix_fmt;
    w->frame->width = cw;
    w->frame->height = ch;
    w->frame->color_range = enc->color_range;
    w->frame->colorspace = enc->colorspace;
    w->frame->color_primaries = enc->color_primaries;
    w->frame->color_trc = enc->color_trc;
    rc = av_frame_get_buffer(w->frame, 0);
    if (rc < 0) {
        writer_free(w, 1);
        return sv_seterr(err, SV_ERR_NOMEM, "%s: cannot allocate a frame: %s", path, sv_av_why(rc, why, sizeof why));
    }
    w->sws = sws_getContext(cw, ch, AV_PIX_FMT_RGB24, cw, ch, enc->pix_fmt,
                            SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT | SWS_FULL_CHR_H_INP, NULL, NULL,
                            NULL);
    if (!w->sws) {
        writer_free(w, 1);
        return sv_seterr(err, SV_ERR_UNSUPPORTED, "%s: no RGB24 -> %s conversion", path,
                         av_get_pix_fmt_name(enc->pix_fmt));
    }
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(enc->pix_fmt);
    if (d && !(d->flags & AV_PIX_FMT_FLAG_RGB)) {
        /* RGB (full range) -> YUV with the tagged matrix (BT.709 or BT.601) and range. */
        const int *coef = sws_getCoefficients(enc->colorspace == AVCOL_SPC_BT709 ? SWS_CS_ITU709 : SWS_CS_ITU601);
        sws_setColorspaceDetails(w->sws, coef, 1, coef, enc->color_range == AVCOL_RANGE_JPEG, 0, 1 << 16,
                                 1 << 16);
    }
    w->inbuf_stride = ((size_t)cw * 3 + 63) & ~(size_t)63;
    w->inbuf = malloc(w->inbuf_stride * ch + 64);
    if (!w->inbuf) {
        writer_free(w, 1);
        return sv_seterr(err, SV_ERR_NOMEM, "%s: out of memory", path);
    }
    *out = w;
    return SV_OK;
}

/* Pull every packet the encoder has ready and hand it to the muxer. */
static int drain(sv_video_writer *w, sv_err *err)
{
    char why[384];
    for (;;) {
        int rc = avcodec_receive_packet(w->enc, w->pkt);
        if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF)
            return SV_OK;
        if (rc < 0)
            return writer_fail(w, err, SV_ERR_FORMAT, "encoder %s failed: %s", w->encname,
                               sv_av_why(rc, why, sizeof why));
        if (w->pkt->duration <= 0)
            w->pkt->duration = 1;
        av_packet_rescale_ts(w->pkt, w->enc->time_base, w->st->time_base);
        w->pkt->stream_index = w->st->index;
        rc = av_interleaved_write_frame(w->oc, w->pkt); /* takes the packet's reference */
        if (rc < 0)
            return writer_fail(w, err, SV_ERR_IO, "cannot write: %s", sv_av_why(rc, why, sizeof why));
    }
}

int sv_video_writer_put(sv_video_writer *w, const uint8_t *rgb24, size_t stride, sv_err *err)
{
    if (!w)
        return sv_seterr(err, SV_ERR_INVALID, "video: NULL writer");
    if (w->failed) {
        if (err)
            *err = w->ferr;
        return w->ferr.code;
    }
    if (!rgb24)
        return writer_fail(w, err, SV_ERR_INVALID, "NULL frame");
    size_t row = (size_t)w->width * 3;
    if (stride == 0)
        stride = row;
    if (stride < row)
        return writer_fail(w, err, SV_ERR_INVALID, "frame stride %zu < 3*width = %zu", stride, row);
    sv_av_begin();
    char why[384];
    /* Copy into the padded input buffer; odd sizes repeat the last column / row. */
    for (int y = 0; y < w->cheight; y++) {
        int sy = y < w->height ? y : w->height - 1;
        uint8_t *d = w->inbuf + (size_t)y * w->inbuf_stride;
        memcpy(d, rgb24 + (size_t)sy * stride, row);
        if (w->cwidth > w->width)
            memcpy(d + row, d + row - 3, 3);
    }
    int rc = av_frame_make_writable(w->frame);
    if (rc < 0)
        return writer_fail(w, err, SV_ERR_NOMEM, "cannot get a writable frame: %s", sv_av_why(rc, why, sizeof why));
    const uint8_t *const srcp[4] = {w->inbuf, NULL, NULL, NULL};
    const int srcs[4] = {(int)w->inbuf_stride, 0, 0, 0};
    rc = sws_scale(w->sws, srcp, srcs, 0, w->cheight, w->frame->data, w->frame->linesize);
    if (rc != w->cheight)
        return writer_fail(w, err, SV_ERR_FORMAT, "RGB -> %s conversion failed",
                           av_get_pix_fmt_name(w->enc->pix_fmt));
    w->frame->pts = w->nframes;
    rc = avcodec_send_frame(w->enc, w->frame);
    if (rc < 0)
        return writer_fail(w, err, SV_ERR_FORMAT, "encoder %s refused frame %lld: %s", w->encname,
                           (long long)w->nframes, sv_av_why(rc, why, sizeof why));
    w->nframes++;
    return drain(w, err);
}

int sv_video_writer_close(sv_video_writer *w, sv_err *err)
{
    if (!w)
        return SV_OK;
    char why[384];
    int rc;
    if (!w->failed && w->nframes == 0)
        writer_fail(w, NULL, SV_ERR_INVALID, "no frames were written");
    if (!w->failed) {
        sv_av_begin();
        rc = avcodec_send_frame(w->enc, NULL);
        if (rc < 0)
            writer_fail(w, NULL, SV_ERR_FORMAT, "cannot flush encoder %s: %s", w->encname,
                        sv_av_why(rc, why, sizeof why));
        else
            drain(w, NULL);
    }
    if (!w->failed) {
        rc = av_write_trailer(w->oc);
        if (rc < 0)
            writer_fail(w, NULL, SV_ERR_IO, "cannot finish the file: %s", sv_av_why(rc, why, sizeof why));
    }
    if (!w->failed) {
        rc = w->oc->pb->error;
        int rc2 = avio_closep(&w->oc->pb);
        if (rc >= 0)
            rc = rc2;
        if (rc < 0)
            writer_fail(w, NULL, SV_ERR_IO, "cannot write: %s", sv_av_why(rc, why, sizeof why));
    }
    if (!w->failed) {
        sv_err e = {0, ""};
        if (commit_temp(w->tmp, w->path, &e) != SV_OK) {
            free(w->tmp); /* commit_temp removed it */
            w->tmp = NULL;
            w->failed = 1;
            w->ferr = e;
        } else {
            free(w->tmp);
            w->tmp = NULL;
        }
    }
    int code = SV_OK;
    if (w->failed) {
        code = w->ferr.code;
        if (err)
            *err = w->ferr;
    }
    writer_free(w, 1);
    return code;
}

void sv_video_writer_abort(sv_video_writer *w)
{
    writer_free(w, 1);
}

const char *sv_video_writer_encoder(const sv_video_writer *w)
{
    return w ? w->encname : "";
}

void sv_video_writer_coded_size(const sv_video_writer *w, int *width, int *height)
{
    if (width)
        *width = w ? w->cwidth : 0;
    if (height)
        *height = w ? w->cheight : 0;
}

int64_t sv_video_writer_frames(const sv_video_writer *w)
{
    return w ? w->nframes : 0;
}

/* ================================================================================================
 * Still images
 * ============================================================================================== */

static int encode_png(const char *path, const uint8_t *rgb, int W, int H, uint8_t **data, size_t *size,
                      sv_err *err)
{
    const AVCodec *c = avcodec_find_encoder(AV_CODEC_ID_PNG);
    if (!c)
        return sv_seterr(err, SV_ERR_UNSUPPORTED, "%s: this libavcodec has no PNG encoder", path);
    char why[384];
    sv_av_begin();
    AVCodecContext *ctx = avcodec_alloc_context3(c);
    AVFrame *f = av_frame_alloc();
    AVPacket *pkt = av_packet_alloc();
    int code = SV_OK, rc;
    if (!ctx || !f || !pkt) {
        code = sv_seterr(err, SV_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    ctx->width = W;
    ctx->height = H;
    ctx->pix_fmt = AV_PIX_FMT_RGB24;
    ctx->time_base = (AVRational){1, 25};
    ctx->thread_count = 1;
    AVDictionary *dict = NULL;
    av_dict_set(&dict, "pred", "paeth", 0);
    rc = avcodec_open2(ctx, c, &dict);
    av_dict_free(&dict);
    if (rc < 0) {
        code = sv_seterr(err, SV_ERR_UNSUPPORTED, "%s: cannot open the PNG encoder: %s", path,
                         sv_av_why(rc, why, sizeof why));
        goto done;
    }
    /* Non-refcounted frame over the caller's pixels: libavcodec copies it when it needs to. */
    f->format = AV_PIX_FMT_RGB24;
    f->width = W;
    f->height = H;
    f->data[0] = (uint8_t *)rgb;
    f->linesize[0] = W * 3;
    f->pts = 0;
    rc = avcodec_send_frame(ctx, f);
    if (rc >= 0)
        rc = avcodec_send_frame(ctx, NULL);
    if (rc >= 0)
        rc = avcodec_receive_packet(ctx, pkt);
    if (rc < 0) {
        code = sv_seterr(err, SV_ERR_FORMAT, "%s: PNG encoding failed: %s", path, sv_av_why(rc, why, sizeof why));
        goto done;
    }
    *data = malloc(pkt->size);
    if (!*data) {
        code = sv_seterr(err, SV_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    memcpy(*data, pkt->data, pkt->size);
    *size = (size_t)pkt->size;
done:
    av_packet_free(&pkt);
    av_frame_free(&f);
    avcodec_free_context(&ctx);
    return code;
}

static int encode_jpeg(const char *path, const uint8_t *rgb, int W, int H, int quality, uint8_t **data,
                       size_t *size, sv_err *err)
{
    tjhandle tj = tjInitCompress();
    if (!tj)
        return sv_seterr(err, SV_ERR_NOMEM, "%s: cannot initialise libturbojpeg", path);
    unsigned char *buf = NULL;
    unsigned long len = 0;
    int code = SV_OK;
    if (tjCompress2(tj, rgb, W, 0, H, TJPF_RGB, &buf, &len, TJSAMP_420, quality, TJFLAG_ACCURATEDCT) != 0) {
        code = sv_seterr(err, SV_ERR_FORMAT, "%s: JPEG encoding failed: %s", path, tjGetErrorStr2(tj));
    } else {
        *data = malloc(len);
        if (!*data)
            code = sv_seterr(err, SV_ERR_NOMEM, "%s: out of memory", path);
        else {
            memcpy(*data, buf, len);
            *size = len;
        }
    }
    tjFree(buf);
    tjDestroy(tj);
    return code;
}

int sv_image_write(const char *path, const uint8_t *rgb24, int width, int height, int quality, sv_err *err)
{
    if (!path || !rgb24)
        return sv_seterr(err, SV_ERR_INVALID, "image: NULL path or pixels");
    if (width < 1 || height < 1 || width > 65535 || height > 65535)
        return sv_seterr(err, SV_ERR_INVALID, "%s: image size %dx%d out of range (1..65535)", path, width, height);
    if (quality > 100)
        return sv_seterr(err, SV_ERR_INVALID, "%s: JPEG quality %d out of range (1..100)", path, quality);
    const char *ext = path_ext(path);
    int png = strcasecmp(ext, ".png") == 0;
    int jpg = strcasecmp(ext, ".jpg") == 0 || strcasecmp(ext, ".jpeg") == 0;
    if (!png && !jpg)
        return sv_seterr(err, SV_ERR_INVALID, "%s: unknown image extension '%s' (use .png, .jpg or .jpeg)", path,
                         ext);
    uint8_t *data = NULL;
    size_t size = 0;
    int rc = png ? encode_png(path, rgb24, width, height, &data, &size, err)
                 : encode_jpeg(path, rgb24, width, height, quality > 0 ? quality : SV_DEFAULT_JPEG_Q, &data, &size,
                               err);
    if (rc != SV_OK)
        return rc;
    size_t tmpn = strlen(path) + 64;
    char *tmp = malloc(tmpn);
    if (!tmp) {
        free(data);
        return sv_seterr(err, SV_ERR_NOMEM, "%s: out of memory", path);
    }
    int fd = make_temp(path, tmp, tmpn, err);
    if (fd < 0) {
        free(data);
        free(tmp);
        return fd;
    }
    int werr = write_all(fd, data, size) != 0 ? errno : 0;
    if (close(fd) != 0 && !werr)
        werr = errno;
    free(data);
    if (werr) {
        unlink(tmp);
        free(tmp);
        return sv_seterr(err, SV_ERR_IO, "%s: cannot write: %s", path, strerror(werr));
    }
    rc = commit_temp(tmp, path, err);
    free(tmp);
    return rc;
}
