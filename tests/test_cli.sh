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
# svgan init / sample end to end (needs a device and the kernels).
if "$bin" devices >/dev/null 2>&1; then
    work=$(mktemp -d)
    t "init --help" 0 "$bin" init --help
    t "init unknown preset" 2 "$bin" init --preset nope -o "$work/x.safetensors"; one_line_err "init unknown preset"
    t "init small" 0 "$bin" init --preset small --seed 3 -o "$work/m.safetensors"
    t "init refuses to overwrite" 1 "$bin" init --preset small -o "$work/m.safetensors"; one_line_err "init refuses to overwrite"
    t "sample --help" 0 "$bin" sample --help
    t "sample unknown option" 2 "$bin" sample --bogus; one_line_err "sample unknown option"
    t "sample missing checkpoint" 1 "$bin" sample --checkpoint "$work/none.safetensors" -o "$work/a.mp4"
    one_line_err "sample missing checkpoint"
    printf 'not a checkpoint' > "$work/junk.safetensors"
    t "sample junk checkpoint" 1 "$bin" sample --checkpoint "$work/junk.safetensors" -o "$work/a.mp4"
    one_line_err "sample junk checkpoint"
    [ ! -e "$work/a.mp4" ] || { echo "FAIL: a failed sample left an output file"; fail=1; }
    t "sample grid mp4" 0 "$bin" sample --checkpoint "$work/m.safetensors" --frames 64 --fps 25 --grid 2x2 -o "$work/out.mp4"
    if command -v ffprobe >/dev/null 2>&1; then
        info=$(ffprobe -v error -select_streams v:0 -count_frames \
            -show_entries stream=nb_read_frames,r_frame_rate,width,height -of csv=p=0 "$work/out.mp4")
        # 2x2 grid of 64x64 tiles with 2 px padding: 134x134; 64 frames at 25 fps
        [ "$info" = "134,134,25/1,64" ] || { echo "FAIL sample grid mp4: ffprobe says '$info', want 134,134,25/1,64"; fail=1; }
    else
        [ -s "$work/out.mp4" ] || { echo "FAIL sample grid mp4: empty output"; fail=1; }
        echo "ffprobe not installed: container checks skipped"
    fi
    t "sample time-scale 2.5 + cm grid" 0 "$bin" sample --checkpoint "$work/m.safetensors" --frames 5 --time-scale 2.5 \
        --grid 2x3 --content-motion-grid -o "$work/cm"
    n=$(ls "$work/cm" | wc -l)
    [ "$n" -eq 5 ] || { echo "FAIL sample frames dir: $n files, want 5"; fail=1; }
    t "sample odd fps + seconds" 0 "$bin" sample --checkpoint "$work/m.safetensors" --seconds 0.4 --fps 29.97 -o "$work/s.mkv"
    rm -rf "$work"
fi
# svgan dataset: info / make (no device needed).
dw=$(mktemp -d)
t "dataset --help" 0 "$bin" dataset --help
t "dataset unknown option" 2 "$bin" dataset info demo --bogus; one_line_err "dataset unknown option"
t "dataset unknown subcommand" 2 "$bin" dataset frob demo; one_line_err "dataset unknown subcommand"
t "dataset info missing path" 1 "$bin" dataset info "$dw/none"; one_line_err "dataset info missing path"
t "dataset make needs resolution" 2 "$bin" dataset make demo -o "$dw/x"; one_line_err "dataset make needs resolution"
"$bin" dataset info demo:5 --demo-videos 4 --demo-frames 10 --json > /tmp/svgan-cli-out.$$ || fail=1
grep -q '"videos":4,"frames":40,"resolution":64' /tmp/svgan-cli-out.$$ || { echo "FAIL dataset info --json"; cat /tmp/svgan-cli-out.$$; fail=1; }
t "dataset make" 0 "$bin" dataset make demo:5 --demo-videos 4 --demo-frames 10 --resolution 32 -o "$dw/d"
[ "$(ls "$dw/d" | wc -l)" -eq 4 ] && [ -f "$dw/d/demo000003/000009.jpg" ] || { echo "FAIL dataset make: layout"; ls -R "$dw" | head; fail=1; }
t "dataset info of the result" 0 "$bin" dataset info "$dw/d"
"$bin" dataset info "$dw/d" | grep -q '^resolution: *32x32' || { echo "FAIL dataset info: resolution"; fail=1; }
t "dataset make refuses to overwrite" 1 "$bin" dataset make demo --resolution 32 -o "$dw/d"; one_line_err "dataset make refuses to overwrite"
t "dataset make --fps without source fps" 1 "$bin" dataset make "$dw/d" --resolution 16 --fps 10 -o "$dw/e"
one_line_err "dataset make --fps without source fps"
[ ! -e "$dw/e" ] && [ -z "$(ls -d "$dw"/e.tmp-* 2>/dev/null)" ] || { echo "FAIL dataset make: a failed make left files"; fail=1; }
t "dataset make --force" 0 "$bin" dataset make "$dw/d" --resolution 16 --crop pad -o "$dw/d" --force
"$bin" dataset info "$dw/d" | grep -q '^resolution: *16x16' || { echo "FAIL dataset make --force: not replaced"; fail=1; }
rm -rf "$dw"
rm -f /tmp/svgan-cli-err.$$ /tmp/svgan-cli-out.$$
exit $fail
