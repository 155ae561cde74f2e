#include "config.h"
#include "cli.h"
int cmd_init(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_error("init: not implemented yet");
    return 1;
}
