/* svgan — command-line entry point: dispatch to subcommands. */
#include "config.h"

#include <execinfo.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("svgan: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_take_value(const char *cmd, int argc, char **argv, int *i, const char *const *names, const char **val)
{
    const char *a = argv[*i];
    for (int o = 0; names[o]; o++) {
        size_t l = strlen(names[o]);
        if (!strcmp(a, names[o])) {
            if (*i + 1 >= argc) {
                cli_error("%s: %s needs a value", cmd, a);
                return -2;
            }
            *val = argv[++*i];
            return o;
        }
        if (!strncmp(a, names[o], l) && a[l] == '=') {
            *val = a + l + 1;
            return o;
        }
    }
    return -1;
}

int cli_device_opt(int argc, char **argv, int *i, const char **device)
{
    const char *a = argv[*i];
    if (!strcmp(a, "--device") || !strcmp(a, "-d")) {
        if (*i + 1 >= argc) {
            cli_error("%s needs a value (index, 'cpu', 'gpu' or a name substring)", a);
            return -1;
        }
        *device = argv[++*i];
        return 1;
    }
    if (!strncmp(a, "--device=", 9)) {
        *device = a + 9;
        return 1;
    }
    return 0;
}

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} cmds[] = {
    {"devices", cmd_devices, "list OpenCL devices"},
    {"init", cmd_init, "write a randomly initialised model (svgan init --preset NAME -o FILE)"},
    {"sample", cmd_sample, "render videos from a model"},
    {"train", cmd_train, "train StyleGAN-V on videos (default: the procedural demo dataset)"},
    {"fvd", cmd_fvd, "Frechet Video Distance of a model or dataset against real videos"},
    {"dataset", cmd_dataset, "inspect a video dataset or convert one to frame folders"},
    {"augment", cmd_augment, "show the ADA augmentation of real clips as a grid image"},
    {"parity", cmd_parity, "compare svgan with an official reference bundle"},
    {"bench", cmd_bench, "benchmarks (gemm, ops, sample, train, i3d)"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: svgan <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        fprintf(f, "  %-10s %s\n", cmds[i].name, cmds[i].help);
    fprintf(f, "\nglobal environment: SVGAN_DEVICE (device selector), SVGAN_KERNEL_DIR (kernel sources),\n"
               "SVGAN_CACHE_DIR (program binary cache, 'off' to disable), SVGAN_GEMM (auto|clblast|cblas),\n"
               "SVGAN_DATA_DIR (demo model, I3D layout table), SVGAN_I3D (I3D weights for svgan fvd).\n"
               "See svgan(1) and 'svgan <command> --help'.\n");
}

/* A crash (in svgan or in an OpenCL driver) prints one line and a raw backtrace before the default
 * action, so a report can say where it happened.  Only async-signal-safe calls. */
static void crash_handler(int sig)
{
    static const char msg[] = "svgan: fatal signal (crash); backtrace follows — please report it\n";
    ssize_t wr = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)wr;
    void *frames[64];
    int n = backtrace(frames, 64);
    backtrace_symbols_fd(frames, n, STDERR_FILENO);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install_crash_handler(void)
{
    void *warm[1];
    backtrace(warm, 1); /* loads libgcc now, not inside the handler */
    const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        signal(sigs[i], crash_handler);
}

int main(int argc, char **argv)
{
    install_crash_handler();
    /* progress and JSON lines reach a redirected log (tail -f, a crash) line by line */
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("svgan %s\n", PACKAGE_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(argv[1], cmds[i].name))
            return cmds[i].fn(argc - 1, argv + 1);
    cli_error("unknown command '%s' (try 'svgan --help')", argv[1]);
    return 2;
}
