/* svgan CLI: the only layer that prints for the user and exits. */
#ifndef SVGAN_CLI_H
#define SVGAN_CLI_H

#include "svgan/svgan.h"

/* Each subcommand: argc/argv start at the subcommand name. Returns exit status. */
int cmd_devices(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_parity(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_dataset(int argc, char **argv);
int cmd_fvd(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_augment(int argc, char **argv);

/* "svgan: <msg>" on stderr, one line. */
void cli_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* If argv[*i] is one of names (NULL-terminated), as "--name value" or
 * "--name=value": set *val (advancing *i past a separate value) and return
 * its index in names.  -1: not one of them; -2: the value is missing (a
 * one-line error naming cmd was printed). */
int cli_take_value(const char *cmd, int argc, char **argv, int *i, const char *const *names, const char **val);
/* Parse "--device X" / "--device=X"; returns 1 if argv[*i] was consumed. */
int cli_device_opt(int argc, char **argv, int *i, const char **device);

#endif
