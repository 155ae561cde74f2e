/* svgan devices: list every OpenCL device. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cmd_devices(int argc, char **argv)
{
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: svgan devices [--json]\nList every OpenCL device with its index (for --device / "
                   "SVGAN_DEVICE), type, memory, compute units, OpenCL version and fp16/fp64 support.\n");
            return 0;
        } else {
            cli_error("devices: unknown option '%s'", argv[i]);
            return 2;
        }
    }
    sv_devinfo *l;
    int n;
    sv_err e = {0};
    if (sv_devices(&l, &n, &e)) {
        cli_error("%s", e.msg);
        return 1;
    }
    sv_devinfo def;
    int defidx = -1;
    sv_err e2 = {0};
    if (sv_device_select(NULL, &def, &e2) == 0)
        defidx = def.index;
    for (int i = 0; i < n; i++) {
        sv_devinfo *d = &l[i];
        if (json) {
            printf("{\"index\": %d, \"platform\": \"%s\", \"name\": \"%s\", \"type\": \"%s\", \"global_mem\": %llu, "
                   "\"max_alloc\": %llu, \"compute_units\": %u, \"version\": \"%s\", \"driver\": \"%s\", "
                   "\"fp16\": %s, \"fp64\": %s, \"default\": %s}\n",
                   d->index, d->platform, d->name, sv_devtype_name(d->type), (unsigned long long)d->global_mem,
                   (unsigned long long)d->max_alloc, d->compute_units, d->version, d->driver,
                   d->fp16 ? "true" : "false", d->fp64 ? "true" : "false", i == defidx ? "true" : "false");
        } else {
            printf("%c%d  %-4s %s\n", i == defidx ? '*' : ' ', d->index, sv_devtype_name(d->type), d->name);
            printf("     platform: %s; %s; driver %s\n", d->platform, d->version, d->driver);
            printf("     memory %.1f GiB (max alloc %.1f GiB), %u compute units, fp16 %s, fp64 %s\n",
                   d->global_mem / 1073741824.0, d->max_alloc / 1073741824.0, d->compute_units,
                   d->fp16 ? "yes" : "no", d->fp64 ? "yes" : "no");
        }
    }
    if (!json && defidx >= 0)
        printf("(* = selected by default; choose with --device or SVGAN_DEVICE)\n");
    free(l);
    return 0;
}
