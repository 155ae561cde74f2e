/* svgan — libav log capture (see avlog.h). */
#include "avlog.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/error.h>
#include <libavutil/log.h>

static _Thread_local char g_avmsg[256];
static _Thread_local int g_avmsg_open; /* the last piece did not end its line */
static pthread_once_t g_log_once = PTHREAD_ONCE_INIT;

static void av_log_cb(void *avcl, int level, const char *fmt, va_list vl)
{
    if (level > AV_LOG_ERROR)
        return;
    char line[256];
    int prefix = !g_avmsg_open;
    av_log_format_line2(avcl, level, fmt, vl, line, sizeof line, &prefix);
    size_t n = strlen(line);
    int ends = n > 0 && line[n - 1] == '\n';
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = 0;
    if (!g_avmsg_open)
        g_avmsg[0] = 0;
    size_t have = strlen(g_avmsg);
    snprintf(g_avmsg + have, sizeof g_avmsg - have, "%s", line);
    g_avmsg_open = !ends;
}

static void log_init(void)
{
    const char *e = getenv("SVGAN_AV_LOG");
    if (!(e && *e && strcmp(e, "0") != 0))
        av_log_set_callback(av_log_cb);
}

void sv_av_begin(void)
{
    pthread_once(&g_log_once, log_init);
    g_avmsg[0] = 0;
    g_avmsg_open = 0;
}

const char *sv_av_why(int averr, char *buf, size_t n)
{
    char e[AV_ERROR_MAX_STRING_SIZE];
    av_strerror(averr, e, sizeof e);
    if (g_avmsg[0])
        snprintf(buf, n, "%s; %s", e, g_avmsg);
    else
        snprintf(buf, n, "%s", e);
    return buf;
}
