#!/usr/bin/env bash
# A real single-node SLURM (slurmctld + slurmd, auth/none) for tests and demos on this machine
# (docs/architecture.md §9, platform facts).
#   tools/local-slurm.sh start STATE_DIR   # writes STATE_DIR/slurm.conf, starts the daemons,
#                                          # waits for the node; prints `export SLURM_CONF=...`
#   tools/local-slurm.sh stop STATE_DIR    # stops them by PID (use it in a `trap ... EXIT`)
# Every start uses a fresh state directory, so old jobs never come back.
# Environment: LNPSAXS_SLURMCTLD_PORT, LNPSAXS_SLURMD_PORT (default 16817, 16818: give two
# instances different ports); LNPSAXS_SLURM_KILL_INVALID_DEPEND=0 leaves out
# DependencyParameters=kill_invalid_depend, like a site that does not set it (then only the jobs'
# own `sbatch --kill-on-invalid-dep=yes` keeps a job whose parent failed from pending forever).
set -euo pipefail
cmd=${1:-}; STATE=${2:-}
usage() { sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; }   # the comment block at the top
case "$cmd" in -h|--help) usage; exit 0 ;; esac
[ -n "$cmd" ] && [ -n "$STATE" ] || { usage; exit 2; }

stop() {
  for d in slurmd slurmctld; do
    if [ -f "$STATE/$d.pid" ]; then
      pid=$(cat "$STATE/$d.pid")
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
      rm -f "$STATE/$d.pid"
    fi
  done
}

case "$cmd" in
  stop) stop; exit 0 ;;
  start) ;;
  *) echo "local-slurm: unknown command '$cmd' (start|stop)" >&2; exit 2 ;;
esac

command -v slurmctld > /dev/null || { echo "local-slurm: slurmctld not installed (tools/install-deps.sh)" >&2; exit 2; }
rm -rf "$STATE"
mkdir -p "$STATE/ctld" "$STATE/d"
STATE=$(cd "$STATE" && pwd)
host=$(hostname -s)
node=$(slurmd -C | head -1 | sed "s/^NodeName=[^ ]*/NodeName=$host/")
depend="DependencyParameters=kill_invalid_depend"
[ "${LNPSAXS_SLURM_KILL_INVALID_DEPEND:-1}" = 0 ] && depend="# DependencyParameters: Slurm's default (a job whose dependency failed pends)"
cat > "$STATE/slurm.conf" <<CONF
ClusterName=lnpsaxs-local
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/none
CredType=cred/none
MpiDefault=pmix
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
$depend
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE/jobcomp.txt
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
SlurmctldPort=${LNPSAXS_SLURMCTLD_PORT:-16817}
SlurmdPort=${LNPSAXS_SLURMD_PORT:-16818}
ReturnToService=2
KillWait=5
MinJobAge=300
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=local Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
export SLURM_CONF=$STATE/slurm.conf
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for _ in $(seq 1 100); do
  if sinfo -h -o '%T' 2>/dev/null | grep -qE '^idle'; then
    echo "export SLURM_CONF=$SLURM_CONF"
    exit 0
  fi
  sleep 0.2
done
echo "local-slurm: the node did not come up; see $STATE/slurmctld.log and $STATE/slurmd.log" >&2
stop
exit 1
