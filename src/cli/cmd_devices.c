/* svgan devices: list every OpenCL device. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

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
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "index", d->index);
            cJSON_AddStringToObject(o, "platform", d->platform);
            cJSON_AddStringToObject(o, "name", d->name);
            cJSON_AddStringToObject(o, "vendor", d->vendor);
            cJSON_AddStringToObject(o, "type", sv_devtype_name(d->type));
            cJSON_AddNumberToObject(o, "global_mem", (double)d->global_mem);
            cJSON_AddNumberToObject(o, "max_alloc", (double)d->max_alloc);
            cJSON_AddNumberToObject(o, "compute_units", d->compute_units);
            cJSON_AddStringToObject(o, "version", d->version);
            cJSON_AddStringToObject(o, "opencl_c", d->c_version);
            cJSON_AddStringToObject(o, "driver", d->driver);
            cJSON_AddBoolToObject(o, "fp16", d->fp16);
            cJSON_AddBoolToObject(o, "fp64", d->fp64);
            cJSON_AddBoolToObject(o, "default", i == defidx);
            char *txt = cJSON_PrintUnformatted(o);
            if (txt)
                puts(txt);
            cJSON_free(txt);
            cJSON_Delete(o);
        } else {
            printf("%c%d  %-4s %s\n", i == defidx ? '*' : ' ', d->index, sv_devtype_name(d->type), d->name);
            printf("     platform: %s; %s; %s; driver %s\n", d->platform, d->version, d->c_version, d->driver);
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
