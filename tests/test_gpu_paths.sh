#!/bin/sh
# Run op suites through the code paths GPUs take — CLBlast for every GEMM and
# the per-element data-movement kernels — on whatever device the tests use
# (PoCL on CPU-only machines), so those paths are covered without a GPU.
set -u
dir=${SVGAN_TESTS_DIR:-tests}  # the built test programs (set by make check)
export SVGAN_GEMM=clblast SVGAN_KERNEL_FORM=elem
rc=0
# test_i3d adds the conv3d im2col + GEMM path and the whole I3D network
# (about 2 minutes on a busy 2-core CPU with a cold kernel cache).
for t in test_conv2d test_modconv test_upfirdn2d test_bias_act test_fc test_conv1d test_i3d; do
    echo "== $t (SVGAN_GEMM=clblast SVGAN_KERNEL_FORM=elem)"
    "$dir/$t"
    r=$?
    if [ $r -eq 77 ]; then echo "no device: skipped"; exit 77; fi
    [ $r -eq 0 ] || rc=1
done
exit $rc
