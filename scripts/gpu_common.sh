# Steps every lent-GPU script takes (sourced by scripts/ablation_gpu.sh and scripts/table1_gpu.sh,
# so a fix to the install or the MPS start reaches both). Needs `say` and, for gpu_start_mps,
# ACC (gpu or cpu) and PY (the python to run).

# Install the carried wheels (.whl/) into /tmp/site without an index or dependencies, so the
# machine's own torch stays; ECN_GPU_SKIP_WHEELS=1 uses the installed ecn (a CPU test here).
gpu_install_wheels() {
  say "install carried wheels"
  if [ "${ECN_GPU_SKIP_WHEELS:-0}" != 1 ] && ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site .whl/*.whl || { echo "wheel install failed"; exit 1; }
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
  fi
}

# MPS lets the runs' small kernels share the GPU at once instead of time-slicing; stopped again
# when a client cannot use it.
gpu_start_mps() {
  if [ "$ACC" = gpu ] && command -v nvidia-cuda-mps-control >/dev/null; then
    if nvidia-cuda-mps-control -d; then
      if timeout 60 $PY -c "import torch; torch.ones(1, device='cuda').sum().item()"; then
        say "MPS daemon started"
      else
        echo quit | nvidia-cuda-mps-control; say "MPS clients failed: MPS stopped"
      fi
    else
      say "MPS not available"
    fi
  fi
}
