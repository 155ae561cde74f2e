/* svgan init: write a randomly initialised model (G and G_ema identical). */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "svgan/generator.h"

#define MAX_SETS 64

static void init_usage(FILE *f)
{
    fprintf(f, "usage: svgan init --preset NAME -o FILE [--seed N] [--set KEY=VALUE ...] [--force] [--device SEL]\n"
               "Write a randomly initialised StyleGAN-V model (spec section 2.10) as an svgan checkpoint;\n"
               "G and G_ema are identical.\n\n"
               "  --preset NAME     one of:");
    for (const char *const *p = sv_mconfig_preset_names(); *p; p++)
        fprintf(f, " %s", *p);
    fprintf(f, "\n"
               "  -o, --output FILE where to write (refuses to replace an existing file without --force)\n"
               "  --seed N          random seed, 0 .. 2^64-1 (default 0)\n"
               "  --set KEY=VALUE   override one configuration key (e.g. --set resolution=128,\n"
               "                    --set conv_clamp=null); repeatable\n"
               "  --force           replace FILE if it exists\n"
               "  --device SEL      OpenCL device (index, 'cpu', 'gpu' or a name substring)\n"
               "See svgan-init(1) and svgan-checkpoint(5).\n");
}

/* "--opt VALUE" or "--opt=VALUE" for any of the given names; 1 consumed,
 * 0 not this option, -1 missing value (reported). */
static int opt_value(int argc, char **argv, int *i, const char *name, const char *alt, const char **val)
{
    const char *a = argv[*i];
    const char *names[2] = {name, alt};
    for (int k = 0; k < 2; k++) {
        const char *n = names[k];
        if (!n)
            continue;
        size_t nl = strlen(n);
        if (!strcmp(a, n)) {
            if (*i + 1 >= argc) {
                cli_error("init: %s needs a value", n);
                return -1;
            }
            *val = argv[++*i];
            return 1;
        }
        if (!strncmp(a, n, nl) && a[nl] == '=' && n[1] == '-') {
            *val = a + nl + 1;
            return 1;
        }
    }
    return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s || *s == '-' || *s == '+')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

/* Apply KEY=VALUE overrides through the configuration's JSON form. Returns 0,
 * or 2 (usage error, reported). */
static int apply_sets(sv_mconfig *c, const char *const *sets, int nsets)
{
    if (!nsets)
        return 0;
    char *js = sv_mconfig_to_json(c);
    cJSON *o = js ? cJSON_Parse(js) : NULL;
    free(js);
    if (!o) {
        cli_error("init: out of memory");
        return 1;
    }
    int rc = 0;
    for (int i = 0; i < nsets && !rc; i++) {
        const char *eq = strchr(sets[i], '=');
        if (!eq || eq == sets[i]) {
            cli_error("init: --set wants KEY=VALUE, got '%s'", sets[i]);
            rc = 2;
            break;
        }
        char key[128];
        size_t kl = (size_t)(eq - sets[i]);
        if (kl >= sizeof key) {
            cli_error("init: --set: key too long");
            rc = 2;
            break;
        }
        memcpy(key, sets[i], kl);
        key[kl] = 0;
        if (!cJSON_GetObjectItemCaseSensitive(o, key)) {
            char list[1024] = "";
            size_t len = 0;
            const cJSON *it;
            cJSON_ArrayForEach(it, o)
            {
                int w = snprintf(list + len, sizeof list - len, "%s%s", len ? ", " : "", it->string);
                if (w < 0 || (size_t)w >= sizeof list - len)
                    break;
                len += (size_t)w;
            }
            cli_error("init: --set: unknown configuration key '%s' (keys: %s)", key, list);
            rc = 2;
            break;
        }
        cJSON *v = cJSON_Parse(eq + 1);
        if (!v || !(cJSON_IsNumber(v) || cJSON_IsNull(v))) {
            cJSON_Delete(v);
            cli_error("init: --set %s: value '%s' is not a number (or null)", key, eq + 1);
            rc = 2;
            break;
        }
        cJSON_ReplaceItemInObjectCaseSensitive(o, key, v);
    }
    if (!rc) {
        char *txt = cJSON_PrintUnformatted(o);
        sv_err e = {0};
        if (!txt) {
            cli_error("init: out of memory");
            rc = 1;
        } else if (sv_mconfig_from_json(txt, c, &e)) {
            cli_error("init: --set: %s", e.msg);
            rc = 2;
        }
        cJSON_free(txt);
    }
    cJSON_Delete(o);
    return rc;
}

int cmd_init(int argc, char **argv)
{
    const char *preset = NULL, *out = NULL, *seed_s = NULL, *device = NULL;
    const char *sets[MAX_SETS];
    int nsets = 0, force = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        int r;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            init_usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--force") || !strcmp(a, "-f")) {
            force = 1;
            continue;
        }
        if ((r = cli_device_opt(argc, argv, &i, &device)) != 0) {
            if (r < 0)
                return 2;
            continue;
        }
        if ((r = opt_value(argc, argv, &i, "--preset", NULL, &preset)) ||
            (r = opt_value(argc, argv, &i, "--output", "-o", &out)) ||
            (r = opt_value(argc, argv, &i, "--seed", NULL, &seed_s))) {
            if (r < 0)
                return 2;
            continue;
        }
        if ((r = opt_value(argc, argv, &i, "--set", NULL, &val))) {
            if (r < 0)
                return 2;
            if (nsets == MAX_SETS) {
                cli_error("init: too many --set options (at most %d)", MAX_SETS);
                return 2;
            }
            sets[nsets++] = val;
            continue;
        }
        cli_error("init: unknown argument '%s' (try 'svgan init --help')", a);
        return 2;
    }
    if (!preset) {
        cli_error("init: --preset NAME is required (try 'svgan init --help')");
        return 2;
    }
    if (!out || !*out) {
        cli_error("init: -o FILE is required (try 'svgan init --help')");
        return 2;
    }
    uint64_t seed = 0;
    if (seed_s && parse_u64(seed_s, &seed)) {
        cli_error("init: --seed wants an integer in 0..18446744073709551615, got '%s'", seed_s);
        return 2;
    }
    sv_err e = {0};
    sv_mconfig cfg;
    if (sv_mconfig_preset(preset, &cfg, &e)) {
        cli_error("init: %s", e.msg);
        return 2;
    }
    int rc = apply_sets(&cfg, sets, nsets);
    if (rc)
        return rc;
    if (sv_mconfig_validate(&cfg, &e)) {
        cli_error("init: %s", e.msg);
        return 2;
    }
    if (!force && access(out, F_OK) == 0) {
        cli_error("init: %s exists (use --force to replace it)", out);
        return 1;
    }

    sv_ctx *ctx = NULL;
    if (sv_ctx_create(&ctx, device, &e)) {
        cli_error("%s", e.msg);
        return 1;
    }
    sv_generator *g = NULL;
    rc = 1;
    if (sv_generator_new(ctx, &cfg, &g) || sv_generator_init(g, seed)) {
        cli_error("init: %s", sv_ctx_errmsg(ctx));
        goto done;
    }
    char seedbuf[32], creator[64];
    snprintf(seedbuf, sizeof seedbuf, "%llu", (unsigned long long)seed);
    snprintf(creator, sizeof creator, "svgan %s init", PACKAGE_VERSION);
    const char *meta[] = {"created_by", creator, "preset", preset, "seed", seedbuf, NULL};
    if (sv_checkpoint_save_generator(out, &cfg, g, g, meta, &e)) {
        cli_error("init: %s", e.msg);
        goto done;
    }
    printf("wrote %s: preset %s, %dx%d, G %lld parameters, seed %llu\n", out, preset, cfg.resolution, cfg.resolution,
           (long long)sv_generator_num_trainable(g), (unsigned long long)seed);
    rc = 0;
done:
    sv_generator_free(g);
    sv_ctx_destroy(ctx);
    return rc;
}
