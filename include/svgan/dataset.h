/* svgan — video datasets (spec §5), read through one interface.
 *
 * Sources (chosen from the path by sv_dataset_open):
 *   - a directory of videos, each a folder of frames (.jpg/.jpeg via libturbojpeg, .png) in
 *     lexicographic file-name order — the StyleGAN-V layout: frames at depth root+2, videos ordered
 *     by sorted folder name;
 *   - the same tree inside a .zip file (directory entries and the top folder are optional);
 *   - a directory of video files (.mp4 .avi .mkv .webm .mov .m4v ...) decoded with libavformat /
 *     libavcodec, with seeking, so reading a clip does not decode the whole video;
 *   - "demo" or "demo:SEED": a procedural source (moving shapes), so training works with no download
 *     (these names always mean the demo source; a directory called demo is "./demo").
 *
 * Every video has a length (frames, the whole file; the sampler windows it to max_num_frames), a name
 * (folder or file name without extension — with it when two files share a base name; demo videos
 * are demo000000, demo000001, ...), an fps (0 when unknown) and frames of one square
 * resolution R with 3 channels (grayscale is replicated).  Frames not at R are resized (area for
 * downscaling, bicubic for upscaling, both documented in svgan-dataset(1)) or rejected, by option.
 *
 * Frame pixels are returned as uint8 planar CHW [3,R,R] per frame, frames one after another —
 * the layout the trainer uploads (x/127.5 − 1 happens on the device).
 *
 * A handle is used by one thread at a time; open one handle per reader thread if needed. */
#ifndef SVGAN_DATASET_H
#define SVGAN_DATASET_H

#include <stdint.h>

#include "svgan/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sv_ds_resize {
    SV_DS_RESIZE_REJECT = 0, /* a frame not at the resolution is an error for its video */
    SV_DS_RESIZE_AUTO = 1    /* area when shrinking, bicubic when enlarging; non-square: centre crop first */
} sv_ds_resize;

/* How SV_DS_RESIZE_AUTO makes a non-square frame square before resizing. */
typedef enum sv_ds_fit {
    SV_DS_FIT_CROP = 0, /* centre crop to min(W, H) (the default; what the preprocessing scripts do) */
    SV_DS_FIT_PAD = 1   /* centre the frame on a black max(W, H) square */
} sv_ds_fit;

typedef enum sv_ds_onerror {
    SV_DS_SKIP = 0, /* a corrupt/unreadable video is reported (sv_dataset_warnings) and left out */
    SV_DS_FATAL = 1 /* ... is an error */
} sv_ds_onerror;

typedef struct sv_dataset_opts {
    int resolution;        /* R; ≤ 0: the first frame of the first video decides (must be square) */
    sv_ds_resize resize;   /* default SV_DS_RESIZE_REJECT (as the official loader) */
    sv_ds_onerror on_error;/* default SV_DS_SKIP */
    int min_frames;        /* videos shorter than this are left out with a warning (default 3) */
    uint64_t demo_seed;    /* for "demo" without ":SEED" (default 0) */
    int demo_videos;       /* "demo": number of videos (default 32) */
    int demo_frames;       /* "demo": frames per video (default 64) */
    sv_ds_fit fit;         /* with SV_DS_RESIZE_AUTO (default SV_DS_FIT_CROP) */
} sv_dataset_opts;

void sv_dataset_opts_default(sv_dataset_opts *o);

typedef struct sv_dataset sv_dataset;

/* Opens and indexes the source: lists videos, counts every video's frames exactly (video files:
 * by demuxing packets, no decoding), reads one frame to learn the resolution.  Errors: missing path,
 * nothing usable in it, unreadable zip, first frame not square with resize REJECT, ... — one line
 * naming the path. */
int sv_dataset_open(const char *path, const sv_dataset_opts *opts, sv_dataset **out, sv_err *err);
void sv_dataset_close(sv_dataset *ds); /* NULL is fine */

const char *sv_dataset_kind(const sv_dataset *ds);      /* "frames", "zip", "video" or "demo" */
const char *sv_dataset_path(const sv_dataset *ds);
int64_t sv_dataset_num_videos(const sv_dataset *ds);
int sv_dataset_resolution(const sv_dataset *ds);         /* R */
int64_t sv_dataset_video_frames(const sv_dataset *ds, int64_t v);
const char *sv_dataset_video_name(const sv_dataset *ds, int64_t v);
double sv_dataset_video_fps(const sv_dataset *ds, int64_t v); /* 0: unknown (frame folders) */
/* 64-bit FNV-1a over the sorted video names and their frame counts (the FVD cache key): for each
 * video, its name with the terminating NUL, then its frame count as 8 little-endian bytes; for the
 * demo source "demo:SEED:R" is appended too (names and counts do not tell demo seeds apart).  The
 * same videos give the same value whatever the kind (frames, zip, video files).  The resolution is
 * not included (except for demo): key on sv_dataset_resolution too where resizing is possible. */
uint64_t sv_dataset_fingerprint(const sv_dataset *ds);
/* Number of videos left out at open (and their one-line reasons, i < count). */
int64_t sv_dataset_warnings(const sv_dataset *ds);
const char *sv_dataset_warning(const sv_dataset *ds, int64_t i);

/* Reads frames idx[0..n) (0-based, each < sv_dataset_video_frames) of video v into out
 * (n·3·R·R bytes, planar CHW per frame, in the order of idx), mirrored horizontally when xflip.
 * idx need not be sorted; repeated indices are fine.  Errors (SV_ERR_FORMAT / SV_ERR_IO) name the
 * file and frame. */
int sv_dataset_read(sv_dataset *ds, int64_t v, const int64_t *idx, int n, int xflip, uint8_t *out,
                    sv_err *err);

#ifdef __cplusplus
}
#endif
#endif
