/* svgan — libav log capture shared by the video writer and the dataset reader (internal).
 *
 * libav has one process-wide log callback.  svgan installs it once (unless SVGAN_AV_LOG=1 asks for
 * libav's own logging) and keeps the last error-level message of each thread, so that a failing
 * libav call can be reported in one line with libav's own explanation appended. */
#ifndef SVGAN_IO_AVLOG_H
#define SVGAN_IO_AVLOG_H

#include <stddef.h>

/* Installs the callback (first call only) and clears this thread's last message. */
void sv_av_begin(void);
/* "av_strerror(averr); last libav message" into buf; returns buf. */
const char *sv_av_why(int averr, char *buf, size_t n);

#endif
