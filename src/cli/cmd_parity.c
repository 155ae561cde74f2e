#include "config.h"
#include "cli.h"
int cmd_parity(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_error("parity: not implemented yet");
    return 1;
}
