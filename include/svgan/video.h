/* svgan — video and image output (host side).
 *
 * Frames leave the device once, as float32 [3,H,W] in the generator's range (about [-1,1]); they
 * are converted to 8-bit RGB (sv_frames_to_rgb24), optionally tiled into a grid (sv_grid_compose),
 * and then either streamed into a video file (sv_video_writer_*) or written as one image per frame
 * (sv_image_write).
 *
 * All pixel buffers here are packed RGB24: 3 bytes per pixel (R, G, B), rows top to bottom.
 *
 * Atomicity: every file is written under a hidden temporary name in the destination's directory
 * (".NAME.svtmp-XXXXXX") and renamed onto the final name only once it is complete.  An existing file
 * under the final name is replaced only at that moment; on any failure (or sv_video_writer_abort)
 * the temporary file is removed.  A crash can leave a hidden temporary file, never a half-written
 * file under the final name.
 *
 * Logging: libav* messages are not printed.  The first call into this module installs a libav log
 * callback that keeps the last error-level message (it is appended to svgan's error messages) and
 * drops everything else; set SVGAN_AV_LOG=1 to keep libav's default logging instead. */
#ifndef SVGAN_VIDEO_H
#define SVGAN_VIDEO_H

#include <stddef.h>
#include <stdint.h>

#include "svgan/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------------
 * Conversion and grids
 * ---------------------------------------------------------------------------------------------- */

/* Official output conversion (spec §6.1, src/scripts/generate.py), per channel value x:
 *     v = clamp(x·0.5 + 0.5, 0, 1)         (float32 arithmetic, multiply then add, no FMA)
 *     out = (uint8) (v·255)                 (truncating cast, as torch's .to(torch.uint8))
 * so 1.0 → 255, 0.99 → 253, -1 → 0.  NaN becomes 0 (torch leaves NaN through the clamp and the
 * cast is undefined; 0 is what it gives on x86).
 * chw: host float32 [3,H,W] (planar); out: packed RGB24 [H,W,3] (3·H·W bytes).
 * Returns SV_ERR_INVALID for NULL pointers or H, W < 1. */
int sv_frames_to_rgb24(const float *chw, int H, int W, uint8_t *out);

/* Default grid padding, as torchvision's make_grid (2 px, black). */
#define SV_GRID_PADDING 2

/* Size of a rows×cols grid of tile_h×tile_w tiles with `padding` pixels of black between tiles and
 * around the border (torchvision make_grid layout):
 *     H = rows·(tile_h + padding) + padding,  W = cols·(tile_w + padding) + padding.
 * padding < 0 selects SV_GRID_PADDING. */
int sv_grid_size(int rows, int cols, int tile_h, int tile_w, int padding, int *H, int *W);

/* Compose tiles[r·cols + c] (packed RGB24 tile_h×tile_w, contiguous) into out (packed RGB24 of
 * sv_grid_size; contiguous).  NULL tiles leave their cell black (make_grid does the same for cells
 * past the last image).  padding < 0 selects SV_GRID_PADDING. */
int sv_grid_compose(const uint8_t *const *tiles, int rows, int cols, int tile_h, int tile_w, int padding,
                    uint8_t *out);

/* ------------------------------------------------------------------------------------------------
 * Streaming video writer
 * ---------------------------------------------------------------------------------------------- */

/* Policy for sizes that the encoder's pixel format cannot hold (4:2:0 formats need even width and
 * height). */
typedef enum sv_video_odd {
    SV_VIDEO_ODD_PAD = 0,   /* default: pad to even by repeating the last column / row; the file is
                               then up to one pixel wider / taller than the frames put */
    SV_VIDEO_ODD_REJECT = 1 /* fail in open with a message naming the size */
} sv_video_odd;

typedef struct sv_video_opts {
    /* Encoder name ("libx264", "mpeg4", "libvpx-vp9", ...) to use instead of the automatic choice;
     * NULL or "" = automatic: H.264 (libx264, then any other software H.264 encoder), then MPEG-4
     * Part 2 ("mpeg4"), then others the container accepts; for .webm: VP9, VP8, AV1.  Encoders
     * named in the environment variable SVGAN_VIDEO_SKIP (comma-separated) are left out of the
     * automatic choice; an encoder that fails to open is skipped too. */
    const char *codec;
    /* Quality on x264's CRF scale (0 = lossless … 51 = worst); < 0 = default (18).  Mapped to the
     * encoder: libx264 crf; VP8/VP9/AV1 crf = round(crf·63/51) (constant quality); mpeg4 and other
     * quantiser-based encoders: qscale = clamp(round(crf/6), 1, 31) (18 → 3). */
    int crf;
    /* x264 preset (NULL = "medium"); ignored by other encoders. */
    const char *preset;
    sv_video_odd odd; /* default SV_VIDEO_ODD_PAD */
    int threads;      /* encoder threads; 0 = libavcodec's automatic choice */
} sv_video_opts;

/* Fill the defaults (automatic codec, crf 18, preset medium, pad odd sizes, automatic threads). */
void sv_video_opts_default(sv_video_opts *o);

/* Frame rate as an exact rational: integers give n/1; the NTSC rates 23.976, 29.97, 47.952, 59.94,
 * 119.88 (within 0.005) give 24000/1001, 30000/1001, 48000/1001, 60000/1001, 120000/1001; any other
 * value the closest fraction with a denominator ≤ 1001 (e.g. 12.5 → 25/2).  fps must be finite, in
 * (0, 1000]. */
int sv_video_fps_rational(double fps, int *num, int *den, sv_err *err);

/* The writer.  Colour: frames are taken as full-range RGB and converted (libswscale, bicubic,
 * accurate rounding) to the encoder's format, yuv420p for every automatic choice, limited range,
 * with the BT.709 matrix and BT.709 tags in the stream (VP8 and MJPEG: BT.601, which is all they
 * can signal).  Encoders are software only (hardware encoders are skipped); for .avi B-frames are
 * disabled because AVI has no presentation timestamps. */
typedef struct sv_video_writer sv_video_writer;

/* Open a writer for width×height frames at fps_num/fps_den frames per second.  The container comes
 * from the extension of path (case-insensitive): .mp4, .mov (with +faststart: the index is moved to
 * the front on close), .mkv, .webm, .avi; anything else is SV_ERR_INVALID.  opts may be NULL
 * (defaults).  Frame k gets the presentation time k·fps_den/fps_num s exactly (time base
 * fps_den/fps_num), and the stream's frame rate is fps_num/fps_den.
 * Errors: SV_ERR_INVALID (a side outside 1..16384, bad fps, unknown extension, odd size with
 * SV_VIDEO_ODD_REJECT), SV_ERR_UNSUPPORTED (no usable encoder for the container / named codec not
 * available), SV_ERR_IO (directory missing or not writable), SV_ERR_NOMEM. */
int sv_video_writer_open(const char *path, int width, int height, int fps_num, int fps_den,
                         const sv_video_opts *opts, sv_video_writer **out, sv_err *err);

/* Encode one frame: packed RGB24 width×height (the size given to open), rows `stride` bytes apart
 * (stride ≥ 3·width; 0 = 3·width).  The frame is converted and encoded at once; the writer keeps no
 * frames beyond the encoder's own bounded lookahead.  After an error the writer is unusable: every
 * later put fails and close reports the error and removes the temporary file. */
int sv_video_writer_put(sv_video_writer *w, const uint8_t *rgb24, size_t stride, sv_err *err);

/* Flush the encoder, finish the file, rename it onto the final name, free w (always, also on
 * error).  A video with zero frames is an error (SV_ERR_INVALID) and leaves no file.  NULL w → OK. */
int sv_video_writer_close(sv_video_writer *w, sv_err *err);

/* Free w without finishing: the temporary file is removed and the final name is left untouched.
 * NULL → no-op. */
void sv_video_writer_abort(sv_video_writer *w);

/* Name of the libavcodec encoder in use ("libx264", "mpeg4", ...), valid until close/abort. */
const char *sv_video_writer_encoder(const sv_video_writer *w);
/* Size of the encoded picture (differs from the frames put only when odd sizes were padded). */
void sv_video_writer_coded_size(const sv_video_writer *w, int *width, int *height);
/* Frames put so far. */
int64_t sv_video_writer_frames(const sv_video_writer *w);

/* ------------------------------------------------------------------------------------------------
 * Still images
 * ---------------------------------------------------------------------------------------------- */

/* Write one packed RGB24 image (contiguous, width×height).  Format from the extension
 * (case-insensitive): .png (lossless, libavcodec's PNG encoder; quality ignored) or .jpg / .jpeg
 * (libturbojpeg, 4:2:0, accurate DCT; quality 1…100, ≤ 0 = 95 as the official generate.py).
 * Atomic (temporary name + rename).  Errors: SV_ERR_INVALID (unknown extension, bad size or
 * quality > 100), SV_ERR_IO, SV_ERR_NOMEM, SV_ERR_UNSUPPORTED (no PNG encoder in libavcodec). */
int sv_image_write(const char *path, const uint8_t *rgb24, int width, int height, int quality, sv_err *err);

#ifdef __cplusplus
}
#endif
#endif
