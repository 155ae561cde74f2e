#include "config.h"
#include "cli.h"
int cmd_sample(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_error("sample: not implemented yet");
    return 1;
}
