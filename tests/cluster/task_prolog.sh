#!/bin/sh
# SLURM TaskProlog of the test cluster (installed by tests/cluster/cluster.sh as /etc/slurm/xlt-task-prolog.sh):
# runs before every task of every job step, in the task's environment, and appends one line per task with
# the GPU environment SLURM gave it. tests/cluster/check_jobs.py reads the lines of the training jobs.
# It prints nothing on stdout (TaskProlog stdout would be read as `export NAME=value` commands).
printf 'job=%s step=%s gpus=%s CUDA_VISIBLE_DEVICES=%s SLURM_JOB_GPUS=%s\n' \
  "${SLURM_JOB_ID:-?}" "${SLURM_STEP_ID:-?}" "${SLURM_GPUS:-}" \
  "${CUDA_VISIBLE_DEVICES-<unset>}" "${SLURM_JOB_GPUS:-}" >>/var/log/xlt-slurm/task-env.log 2>/dev/null
exit 0
