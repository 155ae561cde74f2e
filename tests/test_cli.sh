#!/bin/sh
# End-to-end checks of the svgan command: exit codes and one-line errors.
set -u
bin=${SVGAN_BIN:?SVGAN_BIN not set (run through make check)}
fail=0
t() { # t NAME EXPECTED_RC CMD...
    name=$1 want=$2; shift 2
    out=$("$@" 2>/tmp/svgan-cli-err.$$); rc=$?
    err=$(cat /tmp/svgan-cli-err.$$)
    if [ "$rc" -ne "$want" ]; then
        echo "FAIL $name: exit $rc, expected $want; stderr: $err"; fail=1
    else
        echo "ok   $name"
    fi
}
one_line_err() { # the last command's stderr is exactly one line starting "svgan: "
    n=$(wc -l < /tmp/svgan-cli-err.$$)
    if [ "$n" -ne 1 ] || ! grep -q '^svgan: ' /tmp/svgan-cli-err.$$; then
        echo "FAIL $1: expected one 'svgan: ...' line on stderr, got:"; cat /tmp/svgan-cli-err.$$; fail=1
    fi
}

t "--help" 0 "$bin" --help
t "--version" 0 "$bin" --version
t "no command" 2 "$bin"
t "unknown command" 2 "$bin" frobnicate; one_line_err "unknown command"
t "devices unknown option" 2 "$bin" devices --bogus; one_line_err "devices unknown option"

# With no OpenCL platform installed: one line and a non-zero exit.
empty=$(mktemp -d)
OCL_ICD_VENDORS=$empty OCL_ICD_FILENAMES= t "devices without platform" 1 "$bin" devices
one_line_err "devices without platform"
grep -q 'no OpenCL platform' /tmp/svgan-cli-err.$$ || { echo "FAIL: message should say no OpenCL platform"; fail=1; }
rmdir "$empty"

# With a device: the list names it, JSON parses line by line.
if "$bin" devices >/tmp/svgan-cli-out.$$ 2>/dev/null; then
    grep -Eq '^\*?[0-9]+ +(cpu|gpu|accelerator|other) ' /tmp/svgan-cli-out.$$ || { echo "FAIL devices: no device line"; cat /tmp/svgan-cli-out.$$; fail=1; }
    grep -q 'compute units' /tmp/svgan-cli-out.$$ || { echo "FAIL devices: no compute units"; fail=1; }
    "$bin" devices --json > /tmp/svgan-cli-out.$$ || fail=1
    grep -q '"fp64":' /tmp/svgan-cli-out.$$ || { echo "FAIL devices --json"; fail=1; }
    t "bad device index" 1 env SVGAN_DEVICE=999 "$bin" bench gemm --repeat 1
    one_line_err "bad device index"
else
    echo "no OpenCL device: device checks skipped"
fi
rm -f /tmp/svgan-cli-err.$$ /tmp/svgan-cli-out.$$
exit $fail
