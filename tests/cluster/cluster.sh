#!/usr/bin/env bash
# A genuine one-node SLURM cluster on this machine (Debian's munge + slurmctld + slurmd, two fake GPUs),
# for tests/cluster/run_cluster_test.sh and for trying profiles/slurm by hand. Run as root.
#
#   tests/cluster/cluster.sh install   # apt-get install slurmctld slurmd slurm-client munge (if missing)
#   tests/cluster/cluster.sh up        # install, write /etc/slurm/{slurm,gres}.conf, start the daemons,
#                                      # wait until the node is idle; prints "cluster up"
#   tests/cluster/cluster.sh down      # stop every daemon by the pid in its pid file; "daemons stopped"
#   tests/cluster/cluster.sh status    # sinfo + squeue
#
# Everything it owns lives under /run/xlt-slurm (pid files; munged's in /run/munge), /var/lib/xlt-slurm,
# /var/log/xlt-slurm (daemon logs, task records) and /etc/slurm (config, marked as ours). It refuses to
# overwrite a slurm.conf it did not write. Idempotent: `up` first stops daemons left by an earlier run and
# starts from a clean controller state (no jobs or node states of an earlier run).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CONF_DIR=/etc/slurm
RUN_DIR=/run/xlt-slurm
STATE_DIR=/var/lib/xlt-slurm
LOG_DIR=/var/log/xlt-slurm
MARK="# Written by xlt tests/cluster/cluster.sh: a one-node test cluster. Safe to overwrite."
TASK_RECORD="$LOG_DIR/task-env.log"
MUNGE_PID=/run/munge/xlt-munged.pid  # munged runs as munge: its pid file lives in its own /run/munge
UP_TIMEOUT=${XLT_CLUSTER_UP_TIMEOUT:-60}  # seconds to wait for the node to become idle
OVERSUBSCRIBE=${XLT_CLUSTER_OVERSUBSCRIBE:-3} # jobs that may share one core (1: none)

log() { echo "[cluster] $*"; }
die() {
  echo "[cluster] ERROR: $*" >&2
  exit 1
}

need_root() { [[ $(id -u) -eq 0 ]] || die "run as root (it installs packages, writes /etc/slurm, starts daemons)"; }

install_packages() {
  local missing=()
  for cmd in slurmctld slurmd sbatch munged; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
  done
  if ((${#missing[@]} == 0)); then
    log "slurm and munge already installed ($(slurmctld -V))"
    return
  fi
  log "installing slurmctld slurmd slurm-client munge (missing: ${missing[*]})"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
  log "installed $(slurmctld -V)"
}

# --- daemons ---------------------------------------------------------------------------------------

pid_alive() { [[ -s "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_daemon() { # name pidfile
  local name=$1 pidfile=$2 pid i
  if ! pid_alive "$pidfile"; then
    rm -f "$pidfile"
    return
  fi
  pid=$(cat "$pidfile")
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name (pid $pid) ignored SIGTERM for 10 s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
  log "stopped $name (pid $pid)"
}

down() {
  # Jobs still on our cluster (a failed run): cancel them first so no job step outlives slurmd.
  if pid_alive "$RUN_DIR/slurmctld.pid"; then
    local ids
    ids=$(timeout 5 squeue -h -o %i 2>/dev/null || true)
    if [[ -n $ids ]]; then
      log "cancelling leftover jobs: $(echo "$ids" | tr '\n' ' ')"
      # shellcheck disable=SC2086
      timeout 10 scancel $ids 2>/dev/null || true
      sleep 1
    fi
  fi
  stop_daemon slurmd "$RUN_DIR/slurmd.pid"
  stop_daemon slurmctld "$RUN_DIR/slurmctld.pid"
  stop_daemon munged "$MUNGE_PID"
  echo "daemons stopped"
}

# --- configuration ---------------------------------------------------------------------------------

write_config() {
  local host node_line
  if [[ -f $CONF_DIR/slurm.conf ]] && ! grep -qxF "$MARK" "$CONF_DIR/slurm.conf"; then
    die "$CONF_DIR/slurm.conf exists and was not written by this script; not touching a real cluster"
  fi
  mkdir -p "$CONF_DIR" "$RUN_DIR" "$STATE_DIR/ctld" "$STATE_DIR/d" "$LOG_DIR"

  # Two fake GPUs: character devices, so that gres/gpu has a File= per GPU (count-only GRES makes
  # Slurm 22.05 drain the node) and Slurm sets CUDA_VISIBLE_DEVICES for the jobs that ask for one.
  local i
  for i in 0 1; do
    [[ -c /dev/fakegpu$i ]] || mknod -m 666 "/dev/fakegpu$i" c 195 "$i"
  done

  # CPUs, sockets, cores, threads and RealMemory exactly as slurmd sees them (more would drain the node).
  node_line=$(slurmd -C | head -n 1)
  [[ $node_line == NodeName=* ]] || die "unexpected 'slurmd -C' output: $node_line"
  # $(hostname) as slurmd sees it (the short name), so that slurmd finds its NodeName line
  host=${node_line#NodeName=}
  host=${host%% *}

  cat >"$CONF_DIR/slurm.conf" <<EOF
$MARK
ClusterName=xlt
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
SlurmctldPidFile=$RUN_DIR/slurmctld.pid
SlurmdPidFile=$RUN_DIR/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
StateSaveLocation=$STATE_DIR/ctld
SlurmdSpoolDir=$STATE_DIR/d
# No cgroups needed: a job's processes are tracked by process group (proctrack/pgid), so that killing a job
# also kills a child whose parent died first (with proctrack/linuxproc such orphans escape); no binding.
ProctrackType=proctrack/pgid
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
# No slurmdbd: no accounting (sacct does not work; the CI profile asks the executor to use squeue).
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
MailProg=/bin/true
ReturnToService=2
# Finished jobs stay visible to squeue/scontrol for an hour (the executor polls squeue; the test reads them).
MinJobAge=3600
# Records each task's GPU environment (CUDA_VISIBLE_DEVICES) for the test.
TaskProlog=$CONF_DIR/xlt-task-prolog.sh
${node_line/ UpTime=*/} NodeAddr=127.0.0.1 Gres=gpu:fake:2 State=UNKNOWN
# Partitions named as in profiles/slurm. OverSubscribe=FORCE:$OVERSUBSCRIBE: up to $OVERSUBSCRIBE jobs share a core
# (memory and GPUs stay exclusive): the short jobs of the test mostly start Python, so overlapping them
# keeps both CPUs busy between Snakemake's status checks.
PartitionName=cpu Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:$OVERSUBSCRIBE
PartitionName=gpu Nodes=ALL MaxTime=INFINITE State=UP OverSubscribe=FORCE:$OVERSUBSCRIBE
EOF
  cat >"$CONF_DIR/gres.conf" <<EOF
$MARK
AutoDetect=off
NodeName=$host Name=gpu Type=fake File=/dev/fakegpu[0-1]
EOF
  install -m 0755 "$HERE/task_prolog.sh" "$CONF_DIR/xlt-task-prolog.sh"
  log "wrote $CONF_DIR/slurm.conf ($(echo "${node_line/ UpTime=*/}" | tr -s ' '), Gres=gpu:fake:2," \
    "OverSubscribe=FORCE:$OVERSUBSCRIBE) and gres.conf"
}

start_daemons() {
  # munge: the key comes with the package; make one if a minimal install left none.
  if [[ ! -s /etc/munge/munge.key ]]; then
    mkdir -p /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
  fi
  install -d -o munge -g munge -m 0755 /run/munge
  install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
  runuser -u munge -- /usr/sbin/munged --pid-file="$MUNGE_PID" \
    || die "munged did not start (see /var/log/munge/munged.log)"
  munge -n | unmunge >/dev/null || die "munge round trip failed"
  log "munged up (pid $(cat "$MUNGE_PID"))"

  : >"$TASK_RECORD"
  chmod 0666 "$TASK_RECORD"
  # -c: start from a clean controller state (no jobs or node states from an earlier run).
  slurmctld -c || die "slurmctld did not start (see $LOG_DIR/slurmctld.log)"
  slurmd || die "slurmd did not start (see $LOG_DIR/slurmd.log)"
}

wait_idle() {
  local t0 state="" name
  t0=$(date +%s)
  while (($(date +%s) - t0 < UP_TIMEOUT)); do
    for name in slurmctld slurmd; do
      # a daemon writes its pid file once it has forked; a pid file whose process is gone means it died
      if [[ -s $RUN_DIR/$name.pid ]] && ! pid_alive "$RUN_DIR/$name.pid"; then
        tail -n 15 "$LOG_DIR/$name.log" >&2 || true
        die "$name died (log: $LOG_DIR/$name.log)"
      fi
    done
    if pid_alive "$RUN_DIR/slurmctld.pid" && pid_alive "$RUN_DIR/slurmd.pid"; then
      state=$(timeout 5 sinfo -h -N -o %t 2>/dev/null | head -n 1 || true)
      case $state in
        idle) break ;;
        drain* | drng | down* | inval | fail*)
          timeout 5 sinfo -R >&2 || true
          tail -n 15 "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log" >&2 || true
          die "node is $state"
          ;;
      esac
    fi
    sleep 0.5
  done
  if [[ $state != idle ]]; then
    tail -n 15 "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log" >&2 || true
    die "node not idle after ${UP_TIMEOUT}s (state: '${state}')"
  fi
  log "node $(timeout 5 sinfo -h -N -o %N | head -n 1) idle after $(($(date +%s) - t0)) s: $(timeout 5 sinfo -h -N -o '%N cpus=%c mem=%m gres=%G partition=%P' | tr '\n' ' ')"
  echo "cluster up"
}

up() {
  need_root
  install_packages
  mkdir -p "$RUN_DIR"
  # leftovers of an interrupted run (by their pid files only)
  stop_daemon slurmd "$RUN_DIR/slurmd.pid"
  stop_daemon slurmctld "$RUN_DIR/slurmctld.pid"
  stop_daemon munged "$MUNGE_PID"
  write_config
  start_daemons
  wait_idle
}

case ${1:-} in
  install) need_root && install_packages ;;
  up) up ;;
  down) need_root && down ;;
  status)
    timeout 5 sinfo
    timeout 5 squeue --states=all -o "%.6i %.12P %.30k %.10T %.12b %R"
    ;;
  *) die "usage: $0 install|up|down|status" ;;
esac
