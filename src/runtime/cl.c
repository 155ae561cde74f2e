/* OpenCL runtime: discovery, selection, context, program build + caches. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "svgan/gemm.h"

#ifndef SVGAN_KERNELDIR
#define SVGAN_KERNELDIR "/usr/local/share/svgan/cl"
#endif

/* Build options every program gets.  Deliberately no -cl-fast-relaxed-math,
 * -cl-finite-math-only, -cl-mad-enable or -cl-no-signed-zeros: training must
 * see NaN/Inf, and results must not depend on contraction choices. */
#define SV_BASE_BUILD_OPTIONS "-cl-std=CL1.2"

const char *sv_devtype_name(cl_device_type t)
{
    if (t & CL_DEVICE_TYPE_GPU) return "gpu";
    if (t & CL_DEVICE_TYPE_CPU) return "cpu";
    if (t & CL_DEVICE_TYPE_ACCELERATOR) return "accelerator";
    return "other";
}

static void str_info(cl_device_id d, cl_device_info what, char *buf, size_t n)
{
    buf[0] = 0;
    if (clGetDeviceInfo(d, what, n, buf, NULL) != CL_SUCCESS)
        buf[0] = 0;
    buf[n - 1] = 0;
}

static int fill_info(sv_devinfo *di, cl_platform_id p, int pidx, cl_device_id d)
{
    memset(di, 0, sizeof *di);
    di->pid = p;
    di->did = d;
    di->platform_index = pidx;
    if (clGetPlatformInfo(p, CL_PLATFORM_NAME, sizeof di->platform, di->platform, NULL))
        di->platform[0] = 0;
    di->platform[sizeof di->platform - 1] = 0;
    str_info(d, CL_DEVICE_NAME, di->name, sizeof di->name);
    str_info(d, CL_DEVICE_VENDOR, di->vendor, sizeof di->vendor);
    str_info(d, CL_DEVICE_VERSION, di->version, sizeof di->version);
    str_info(d, CL_DRIVER_VERSION, di->driver, sizeof di->driver);
    str_info(d, CL_DEVICE_OPENCL_C_VERSION, di->c_version, sizeof di->c_version);
    cl_ulong u = 0;
    cl_uint cu = 0;
    size_t wg = 0;
    clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof di->type, &di->type, NULL);
    if (!clGetDeviceInfo(d, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof u, &u, NULL)) di->global_mem = u;
    if (!clGetDeviceInfo(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof u, &u, NULL)) di->max_alloc = u;
    if (!clGetDeviceInfo(d, CL_DEVICE_LOCAL_MEM_SIZE, sizeof u, &u, NULL)) di->local_mem = u;
    if (!clGetDeviceInfo(d, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL)) di->compute_units = cu;
    if (!clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL)) di->max_wg = wg;
    size_t n = 0;
    if (!clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, 0, NULL, &n) && n) {
        char *ext = malloc(n + 1);
        if (ext && !clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, n, ext, NULL)) {
            ext[n] = 0;
            di->fp16 = strstr(ext, "cl_khr_fp16") != NULL;
            di->fp64 = strstr(ext, "cl_khr_fp64") != NULL;
        }
        free(ext);
    }
    if (!di->fp64) {
        cl_device_fp_config fc = 0;
        if (!clGetDeviceInfo(d, CL_DEVICE_DOUBLE_FP_CONFIG, sizeof fc, &fc, NULL) && fc)
            di->fp64 = 1;
    }
    return 0;
}

int sv_devices(sv_devinfo **out, int *n, sv_err *e)
{
    *out = NULL;
    *n = 0;
    cl_uint np = 0;
    sv_blas_prepare_env(); /* setenv before any driver thread exists (see gemm.h) */
    cl_int rc = clGetPlatformIDs(0, NULL, &np);
    if (rc != CL_SUCCESS || np == 0)
        return sv_seterr(e, SV_ERR_NODEVICE,
                         "no OpenCL platform found (%s); install an OpenCL driver, e.g. "
                         "pocl-opencl-icd for the CPU",
                         rc == CL_SUCCESS ? "0 platforms" : sv_cl_errname(rc));
    cl_platform_id *ps = calloc(np, sizeof *ps);
    if (!ps)
        return sv_seterr(e, SV_ERR_NOMEM, "out of memory");
    clGetPlatformIDs(np, ps, NULL);
    sv_devinfo *list = NULL;
    int cnt = 0;
    for (cl_uint p = 0; p < np; p++) {
        cl_uint nd = 0;
        if (clGetDeviceIDs(ps[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd) != CL_SUCCESS || nd == 0)
            continue;
        cl_device_id *ds = calloc(nd, sizeof *ds);
        sv_devinfo *nl = realloc(list, (cnt + nd) * sizeof *list);
        if (!ds || !nl) {
            free(ds);
            free(nl ? nl : list);
            free(ps);
            return sv_seterr(e, SV_ERR_NOMEM, "out of memory");
        }
        list = nl;
        clGetDeviceIDs(ps[p], CL_DEVICE_TYPE_ALL, nd, ds, NULL);
        for (cl_uint d = 0; d < nd; d++) {
            fill_info(&list[cnt], ps[p], (int)p, ds[d]);
            list[cnt].index = cnt;
            cnt++;
        }
        free(ds);
    }
    free(ps);
    if (cnt == 0) {
        free(list);
        return sv_seterr(e, SV_ERR_NODEVICE,
                         "OpenCL platforms found but no devices (for PoCL, check that "
                         "POCL_CACHE_DIR or ~/.cache is writable)");
    }
    *out = list;
    *n = cnt;
    return SV_OK;
}

static int ci_contains(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return 1;
    }
    return n == 0;
}

int sv_device_select(const char *sel, sv_devinfo *out, sv_err *e)
{
    const char *from = "--device";
    if (!sel || !*sel) {
        sel = getenv("SVGAN_DEVICE");
        from = "SVGAN_DEVICE";
    }
    sv_devinfo *l;
    int n, rc = sv_devices(&l, &n, e);
    if (rc)
        return rc;
    int pick = -1;
    if (!sel || !*sel) {
        for (int i = 0; i < n && pick < 0; i++)
            if (l[i].type & CL_DEVICE_TYPE_GPU)
                pick = i;
        if (pick < 0)
            pick = 0;
    } else {
        char *end;
        long v = strtol(sel, &end, 10);
        if (*end == 0 && end != sel) {
            if (v < 0 || v >= n) {
                free(l);
                return sv_seterr(e, SV_ERR_NODEVICE, "%s=%s: no device with that index (%d device%s; see 'svgan devices')",
                                 from, sel, n, n == 1 ? "" : "s");
            }
            pick = (int)v;
        } else {
            cl_device_type want = 0;
            if (!strcasecmp(sel, "gpu")) want = CL_DEVICE_TYPE_GPU;
            else if (!strcasecmp(sel, "cpu")) want = CL_DEVICE_TYPE_CPU;
            else if (!strcasecmp(sel, "accelerator")) want = CL_DEVICE_TYPE_ACCELERATOR;
            for (int i = 0; i < n && pick < 0; i++) {
                if (want ? (l[i].type & want) != 0
                         : (ci_contains(l[i].name, sel) || ci_contains(l[i].vendor, sel) ||
                            ci_contains(l[i].platform, sel)))
                    pick = i;
            }
            if (pick < 0) {
                free(l);
                return sv_seterr(e, SV_ERR_NODEVICE, "%s=%s matches no OpenCL device (see 'svgan devices')",
                                 from, sel);
            }
        }
    }
    *out = l[pick];
    free(l);
    return SV_OK;
}

int sv_ctx_create(sv_ctx **out, const char *selector, sv_err *e)
{
    *out = NULL;
    sv_devinfo di;
    int rc = sv_device_select(selector, &di, e);
    if (rc)
        return rc;
    sv_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return sv_seterr(e, SV_ERR_NOMEM, "out of memory");
    c->info = di;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)di.pid, 0};
    cl_int cerr = 0;
    c->cl = clCreateContext(props, 1, &di.did, NULL, NULL, &cerr);
    if (!c->cl) {
        free(c);
        return sv_seterr(e, SV_ERR_CL, "clCreateContext on '%s': %s", di.name, sv_cl_errname(cerr));
    }
    c->q = clCreateCommandQueue(c->cl, di.did, 0, &cerr);
    if (!c->q) {
        clReleaseContext(c->cl);
        free(c);
        return sv_seterr(e, SV_ERR_CL, "clCreateCommandQueue on '%s': %s", di.name, sv_cl_errname(cerr));
    }
    c->is_cpu = (di.type & CL_DEVICE_TYPE_CPU) != 0;
    const char *pf = getenv("SVGAN_PROFILE");
    c->profile = pf && *pf && strcmp(pf, "0") != 0;
    c->buf_flags = c->is_cpu ? CL_MEM_ALLOC_HOST_PTR : 0;
    *out = c;
    return SV_OK;
}

/* ---- SVGAN_PROFILE ------------------------------------------------------ */

static double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double sv_prof_begin(sv_ctx *c)
{
    if (!c || !c->profile)
        return 0.0;
    clFinish(c->q);
    return now_sec();
}

void sv_prof_end(sv_ctx *c, double t0, const char *name, double flop)
{
    if (t0 == 0.0)
        return;
    clFinish(c->q);
    double dt = now_sec() - t0;
    sv_prof_entry *e = c->prof;
    while (e && strcmp(e->name, name))
        e = e->next;
    if (!e) {
        e = calloc(1, sizeof *e);
        if (!e || !(e->name = strdup(name))) {
            free(e);
            return; /* profiling is best effort */
        }
        e->next = c->prof;
        c->prof = e;
    }
    e->sec += dt;
    e->flop += flop;
    e->calls++;
}

static int prof_cmp(const void *a, const void *b)
{
    double x = (*(sv_prof_entry *const *)a)->sec, y = (*(sv_prof_entry *const *)b)->sec;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void prof_report(sv_ctx *c)
{
    size_t n = 0;
    double tot = 0.0;
    for (sv_prof_entry *e = c->prof; e; e = e->next, n++)
        tot += e->sec;
    sv_prof_entry **v = n ? malloc(n * sizeof *v) : NULL;
    if (v) {
        size_t i = 0;
        for (sv_prof_entry *e = c->prof; e; e = e->next)
            v[i++] = e;
        qsort(v, n, sizeof *v, prof_cmp);
        fprintf(stderr, "svgan profile (%s): %.3f s in %zu kernels/GEMM classes\n", c->info.name, tot, n);
        fprintf(stderr, "%10s %6s %10s %12s %9s  %s\n", "seconds", "%", "calls", "us/call", "GFLOP/s", "name");
        for (i = 0; i < n; i++) {
            char gf[32] = "";
            if (v[i]->flop > 0 && v[i]->sec > 0)
                snprintf(gf, sizeof gf, "%.1f", v[i]->flop / v[i]->sec * 1e-9);
            fprintf(stderr, "%10.3f %6.2f %10llu %12.1f %9s  %s\n", v[i]->sec, tot > 0 ? 100.0 * v[i]->sec / tot : 0.0,
                    (unsigned long long)v[i]->calls, 1e6 * v[i]->sec / (double)v[i]->calls, gf, v[i]->name);
        }
        free(v);
    }
    for (sv_prof_entry *e = c->prof, *ne; e; e = ne) {
        ne = e->next;
        free(e->name);
        free(e);
    }
    c->prof = NULL;
}

void sv_ctx_destroy(sv_ctx *c)
{
    if (!c)
        return;
    if (c->q)
        clFinish(c->q);
    if (c->prof)
        prof_report(c);
    sv_gemm_state_free(c);
    sv_pool_release_all(c);
    for (sv_kern_entry *k = c->kerns, *nk; k; k = nk) {
        nk = k->next;
        clReleaseKernel(k->k);
        free(k->name);
        free(k);
    }
    for (sv_prog_entry *p = c->progs, *np; p; p = np) {
        np = p->next;
        clReleaseProgram(p->prog);
        free(p->key);
        free(p);
    }
    if (c->q)
        clReleaseCommandQueue(c->q);
    if (c->cl)
        clReleaseContext(c->cl);
    free(c);
}

cl_context sv_ctx_cl(const sv_ctx *c) { return c->cl; }
cl_command_queue sv_ctx_queue(const sv_ctx *c) { return c->q; }
cl_device_id sv_ctx_device(const sv_ctx *c) { return c->info.did; }
const sv_devinfo *sv_ctx_info(const sv_ctx *c) { return &c->info; }
int sv_ctx_is_cpu(const sv_ctx *c) { return c->is_cpu; }

int sv_ctx_row_kernels(const sv_ctx *c)
{
    const char *s = getenv("SVGAN_KERNEL_FORM");
    if (s && !strcmp(s, "rows"))
        return 1;
    if (s && !strcmp(s, "elem"))
        return 0;
    return c->is_cpu;
}
sv_err *sv_ctx_err(sv_ctx *c) { return &c->err; }
const char *sv_ctx_errmsg(const sv_ctx *c) { return c->err.msg; }
void sv_ctx_get_stats(const sv_ctx *c, sv_ctx_stats *s) { *s = c->stats; }

int sv_ctx_finish(sv_ctx *c)
{
    SV_CL(&c->err, clFinish(c->q));
    return SV_OK;
}

const char *sv_kernel_dir(void)
{
    const char *d = getenv("SVGAN_KERNEL_DIR");
    return (d && *d) ? d : SVGAN_KERNELDIR;
}

/* ---- program cache ---------------------------------------------------- */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0) { fclose(f); return NULL; }
    long n = ftell(f);
    if (n < 0 || fseek(f, 0, SEEK_SET) != 0) { fclose(f); return NULL; }
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) { free(b); b = NULL; }
    fclose(f);
    if (b) {
        b[n] = 0;
        if (len) *len = (size_t)n;
    }
    return b;
}

/* Two independent 64-bit FNV-1a streams -> 128-bit key (collisions would need
 * an adversary; the cache is local). */
static void hash_update(uint64_t h[2], const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h[0] = (h[0] ^ p[i]) * 0x100000001b3ULL;
        h[1] = (h[1] ^ (p[i] + 0x5bu)) * 0x100000001b3ULL + 0x9e3779b97f4a7c15ULL;
    }
    unsigned char sep = 0xff; /* field separator */
    h[0] = (h[0] ^ sep) * 0x100000001b3ULL;
    h[1] = (h[1] ^ sep) * 0x100000001b3ULL;
}

static int cache_dir(char *buf, size_t n)
{
    const char *d = getenv("SVGAN_CACHE_DIR");
    if (d && !strcmp(d, "off"))
        return -1;
    if (d && *d)
        snprintf(buf, n, "%s", d);
    else if ((d = getenv("XDG_CACHE_HOME")) && *d)
        snprintf(buf, n, "%s/svgan", d);
    else if ((d = getenv("HOME")) && *d)
        snprintf(buf, n, "%s/.cache/svgan", d);
    else
        return -1;
    /* create (one level of parents is enough for ~/.cache/svgan) */
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", buf);
    for (char *s = tmp + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            mkdir(tmp, 0755);
            *s = '/';
        }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

static cl_program load_cached_binary(sv_ctx *c, const char *path, const char *opts)
{
    size_t len = 0;
    char *bin = read_file(path, &len);
    if (!bin || len == 0) {
        free(bin);
        return NULL;
    }
    const unsigned char *bp = (const unsigned char *)bin;
    cl_int st = 0, err = 0;
    cl_program p = clCreateProgramWithBinary(c->cl, 1, &c->info.did, &len, &bp, &st, &err);
    free(bin);
    if (!p || err != CL_SUCCESS || st != CL_SUCCESS) {
        if (p) clReleaseProgram(p);
        return NULL;
    }
    if (clBuildProgram(p, 1, &c->info.did, opts, NULL, NULL) != CL_SUCCESS) {
        clReleaseProgram(p);
        return NULL;
    }
    return p;
}

static void store_binary(sv_ctx *c, cl_program p, const char *path)
{
    size_t sz = 0;
    if (clGetProgramInfo(p, CL_PROGRAM_BINARY_SIZES, sizeof sz, &sz, NULL) != CL_SUCCESS || sz == 0)
        return;
    unsigned char *bin = malloc(sz);
    if (!bin)
        return;
    unsigned char *bins[1] = {bin};
    if (clGetProgramInfo(p, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) == CL_SUCCESS) {
        char tmp[1200];
        snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
        FILE *f = fopen(tmp, "wb");
        if (f) {
            int ok = fwrite(bin, 1, sz, f) == sz;
            ok &= fclose(f) == 0;
            if (ok && rename(tmp, path) == 0)
                ;
            else
                unlink(tmp);
        }
    }
    (void)c;
    free(bin);
}

static int build_program(sv_ctx *c, const char *file, const char *defines, const char *kname,
                         cl_program *out)
{
    /* Let earlier commands finish before a program is created or compiled:
     * builds are rare (cached in memory and on disk), and a CPU driver then
     * never compiles with LLVM while its worker threads run kernels of the
     * same context (PoCL 3.1 crashed intermittently in cold-cache runs). */
    clFinish(c->q);
    char path[1024];
    const char *dir = sv_kernel_dir();
    snprintf(path, sizeof path, "%s/common.cl", dir);
    size_t lc = 0, ls = 0;
    char *common = read_file(path, &lc);
    if (!common)
        return sv_seterr(&c->err, SV_ERR_IO,
                         "cannot read kernel file %s (set SVGAN_KERNEL_DIR to the directory of svgan's .cl files)",
                         path);
    snprintf(path, sizeof path, "%s/%s", dir, file);
    char *src = read_file(path, &ls);
    if (!src) {
        free(common);
        return sv_seterr(&c->err, SV_ERR_IO,
                         "cannot read kernel file %s (set SVGAN_KERNEL_DIR to the directory of svgan's .cl files)",
                         path);
    }
    char *full = malloc(lc + ls + 64);
    if (!full) {
        free(common);
        free(src);
        return sv_seterr(&c->err, SV_ERR_NOMEM, "out of memory");
    }
    int hl = sprintf(full, "%s\n#line 1\n", common);
    memcpy(full + hl, src, ls + 1);
    free(common);
    free(src);
    size_t flen = strlen(full);

    char opts[1024];
    snprintf(opts, sizeof opts, "%s%s%s", SV_BASE_BUILD_OPTIONS, defines && *defines ? " " : "",
             defines ? defines : "");

    uint64_t h[2] = {0xcbf29ce484222325ULL, 0x84222325cbf29ce4ULL};
    hash_update(h, full, flen);
    hash_update(h, opts, strlen(opts));
    hash_update(h, c->info.platform, strlen(c->info.platform));
    hash_update(h, c->info.name, strlen(c->info.name));
    hash_update(h, c->info.vendor, strlen(c->info.vendor));
    hash_update(h, c->info.version, strlen(c->info.version));
    hash_update(h, c->info.driver, strlen(c->info.driver));

    char cdir[900], cpath[1024];
    int have_cache = cache_dir(cdir, sizeof cdir) == 0;
    if (have_cache) {
        snprintf(cpath, sizeof cpath, "%s/%016llx%016llx.clbin", cdir, (unsigned long long)h[0],
                 (unsigned long long)h[1]);
        cl_program p = load_cached_binary(c, cpath, opts);
        if (p) {
            free(full);
            c->stats.programs_from_disk++;
            *out = p;
            return SV_OK;
        }
    }

    cl_int err = 0;
    const char *srcs[1] = {full};
    cl_program p = clCreateProgramWithSource(c->cl, 1, srcs, &flen, &err);
    free(full);
    if (!p)
        return sv_seterr(&c->err, SV_ERR_CL, "clCreateProgramWithSource(%s): %s", file, sv_cl_errname(err));
    err = clBuildProgram(p, 1, &c->info.did, opts, NULL, NULL);
    if (err != CL_SUCCESS) {
        size_t n = 0;
        clGetProgramBuildInfo(p, c->info.did, CL_PROGRAM_BUILD_LOG, 0, NULL, &n);
        char *log = calloc(1, n + 1);
        if (log)
            clGetProgramBuildInfo(p, c->info.did, CL_PROGRAM_BUILD_LOG, n, log, NULL);
        /* The full log goes to stderr (it can be long); the error value names
         * file, kernel and options and carries the log's start. */
        fprintf(stderr, "svgan: building %s (kernel %s) with '%s' failed: %s\n--- build log ---\n%s\n---\n",
                file, kname, opts, sv_cl_errname(err), log ? log : "");
        sv_seterr(&c->err, SV_ERR_BUILD, "building %s (kernel %s) with '%s' failed: %s: %.200s", file, kname,
                  opts, sv_cl_errname(err), log ? log : "");
        free(log);
        clReleaseProgram(p);
        return SV_ERR_BUILD;
    }
    c->stats.programs_built++;
    if (have_cache)
        store_binary(c, p, cpath);
    *out = p;
    return SV_OK;
}

int sv_kernel(sv_ctx *c, const char *file, const char *kname, const char *defines, cl_kernel *out)
{
    size_t kl = strlen(file) + (defines ? strlen(defines) : 0) + 2;
    char *key = malloc(kl);
    if (!key)
        return sv_seterr(&c->err, SV_ERR_NOMEM, "out of memory");
    snprintf(key, kl, "%s\n%s", file, defines ? defines : "");
    sv_prog_entry *pe = c->progs;
    while (pe && strcmp(pe->key, key))
        pe = pe->next;
    if (!pe) {
        cl_program p;
        int rc = build_program(c, file, defines, kname, &p);
        if (rc) {
            free(key);
            return rc;
        }
        pe = calloc(1, sizeof *pe);
        if (!pe) {
            clReleaseProgram(p);
            free(key);
            return sv_seterr(&c->err, SV_ERR_NOMEM, "out of memory");
        }
        pe->key = key;
        pe->prog = p;
        pe->next = c->progs;
        c->progs = pe;
    } else {
        free(key);
    }
    for (sv_kern_entry *ke = c->kerns; ke; ke = ke->next)
        if (ke->prog == pe->prog && !strcmp(ke->name, kname)) {
            *out = ke->k;
            return SV_OK;
        }
    cl_int err = 0;
    cl_kernel k = clCreateKernel(pe->prog, kname, &err);
    if (!k)
        return sv_seterr(&c->err, SV_ERR_BUILD, "kernel %s not found in %s: %s", kname, file, sv_cl_errname(err));
    sv_kern_entry *ke = calloc(1, sizeof *ke);
    char *nm = strdup(kname);
    if (!ke || !nm) {
        free(ke);
        free(nm);
        clReleaseKernel(k);
        return sv_seterr(&c->err, SV_ERR_NOMEM, "out of memory");
    }
    ke->prog = pe->prog;
    ke->name = nm;
    ke->k = k;
    ke->next = c->kerns;
    c->kerns = ke;
    c->stats.kernels_created++;
    *out = k;
    return SV_OK;
}

int sv_launch(sv_ctx *c, cl_kernel k, int dims, const size_t *global, const size_t *local, const char *kname)
{
    size_t g[3];
    for (int i = 0; i < dims; i++) {
        g[i] = global[i];
        if (g[i] == 0)
            return SV_OK; /* empty launch */
        if (local && local[i])
            g[i] = (g[i] + local[i] - 1) / local[i] * local[i];
    }
    double t0 = sv_prof_begin(c);
    cl_int err = clEnqueueNDRangeKernel(c->q, k, (cl_uint)dims, NULL, g, local, 0, NULL, NULL);
    if (err != CL_SUCCESS)
        return sv_seterr(&c->err, SV_ERR_CL, "enqueue %s: %s", kname, sv_cl_errname(err));
    sv_prof_end(c, t0, kname, 0.0);
    return SV_OK;
}

void sv_args_begin(sv_args *a, sv_ctx *ctx, cl_kernel k, const char *kname)
{
    a->ctx = ctx;
    a->k = k;
    a->kname = kname;
    a->i = 0;
    a->failed = 0;
}

static void set_arg(sv_args *a, size_t sz, const void *v)
{
    if (a->failed) {
        a->i++;
        return;
    }
    cl_int err = clSetKernelArg(a->k, a->i, sz, v);
    if (err != CL_SUCCESS) {
        a->failed = 1;
        sv_seterr(&a->ctx->err, SV_ERR_CL, "%s: setting argument %u: %s", a->kname, a->i, sv_cl_errname(err));
    }
    a->i++;
}

void sv_arg_mem(sv_args *a, cl_mem m) { set_arg(a, sizeof m, &m); }
void sv_arg_long(sv_args *a, int64_t v) { cl_long x = v; set_arg(a, sizeof x, &x); }
void sv_arg_int(sv_args *a, int v) { cl_int x = v; set_arg(a, sizeof x, &x); }
void sv_arg_float(sv_args *a, float v) { cl_float x = v; set_arg(a, sizeof x, &x); }
void sv_arg_local(sv_args *a, size_t bytes) { set_arg(a, bytes, NULL); }
int sv_args_end(sv_args *a) { return a->failed ? SV_ERR_CL : SV_OK; }
