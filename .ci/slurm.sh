#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, for tests/test_slurm.py (run by .ci/run around pytest).
#
#   .ci/slurm.sh up       install what is missing (apt-get, as root), configure, start, wait for the node
#   .ci/slurm.sh down     stop the daemons `up` started (by their pid files) and remove their folder
#   .ci/slurm.sh status   sinfo and squeue of the cluster
#
# Several callers may share the cluster (e.g. two .ci/run at once): `up` registers its caller (the
# parent process, or $KQBENCH_SLURM_CALLER), `down` unregisters it and stops the cluster only when no
# live caller is left.
#
# Daemons: munged (authentication), MariaDB + slurmdbd (the accounting store: `sacct`, which submitit
# asks how a job ended when it left no result, e.g. when it was cancelled or timed out), slurmctld and
# slurmd, for one node (this machine, 2 CPUs) in one partition, `ci`. Everything they write is in
# $KQBENCH_SLURM_DIR (default /run/kqbench-slurm): slurm.conf (use it with SLURM_CONF=$DIR/slurm.conf),
# pid files, logs, spool, state and the database. Nothing outside it is configured or overwritten;
# a munged that was already running is used and left running.
#
# When the cluster cannot start, `up` says why on stderr and in $DIR/unavailable (the error and the
# setting), stops what it started and exits 1; the SLURM test then skips with that reason.
set -uo pipefail

DIR=${KQBENCH_SLURM_DIR:-/run/kqbench-slurm}
LOCK=$DIR.lock
CALLER=${KQBENCH_SLURM_CALLER:-$PPID}
NODE=$(hostname -s)
CPUS=2
PARTITION=ci
DB_PORT=${KQBENCH_SLURM_DB_PORT:-16819}
PORTS="6817 6818 6819 $DB_PORT"  # slurmctld, slurmd, slurmdbd, MariaDB (127.0.0.1 only)
export SLURM_CONF=$DIR/slurm.conf

fail() {  # fail SETTING MESSAGE [LOG]: record why, stop what started, exit 1
    local reason="$1: $2"
    [[ -n "${3:-}" && -s "$3" ]] && reason+=$'\n'"last lines of $3:"$'\n'"$(tail -n 5 "$3")"
    stop_daemons
    mkdir -p "$DIR" && printf '%s\n' "$reason" >"$DIR/unavailable"
    echo "slurm.sh: SLURM not started: $reason" >&2
    exit 1
}

wait_for() {  # wait_for SECONDS COMMAND...: until COMMAND succeeds
    local deadline=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

alive() {  # alive PIDFILE NAME: the process that file names runs, and is NAME
    [[ -s "$1" ]] && [[ "$(cat "/proc/$(cat "$1")/comm" 2>/dev/null)" == "$2" ]]
}

stop() {  # stop PIDFILE NAME: TERM, then KILL after 20 s; only that process, and only if it is NAME
    local pidfile=$1 pid
    if alive "$pidfile" "$2"; then
        pid=$(cat "$pidfile")
        kill -TERM "$pid" 2>/dev/null
        wait_for 20 bash -c "! kill -0 $pid" || kill -KILL "$pid" 2>/dev/null
    fi
    rm -f "$pidfile"
}

stop_daemons() {
    stop "$DIR/slurmd.pid" slurmd
    stop "$DIR/slurmctld.pid" slurmctld
    stop "$DIR/slurmdbd.pid" slurmdbd
    stop "$DIR/mariadb.pid" mariadbd
    if [[ -e "$DIR/munged.ours" ]]; then
        stop /run/munge/munged.pid munged
        rm -f "$DIR/munged.ours"
    fi
    return 0
}

callers() {  # the registered callers that still run (the others are forgotten)
    local f
    for f in "$DIR"/callers/*; do
        [[ -e "$f" ]] || continue
        if kill -0 "${f##*/}" 2>/dev/null; then echo "${f##*/}"; else rm -f "$f"; fi
    done
}

install() {
    local missing=()
    for cmd in munged slurmctld slurmd slurmdbd sbatch sacct mariadbd mariadb-install-db; do
        command -v "$cmd" >/dev/null || missing+=("$cmd")
    done
    ((${#missing[@]})) || return 0
    [[ $(id -u) == 0 ]] || fail "user $(id -un)" "not root: cannot install ${missing[*]} (apt-get) nor start the daemons"
    command -v apt-get >/dev/null || fail "no apt-get" "cannot install ${missing[*]}"
    echo "slurm.sh: installing slurm-wlm slurmdbd munge mariadb-server (missing: ${missing[*]})"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        slurm-wlm slurmdbd munge mariadb-server >"$DIR/apt.log" 2>&1 \
        || fail "apt-get install slurm-wlm slurmdbd munge mariadb-server" "failed" "$DIR/apt.log"
}

configure() {
    local mem
    mem=$(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo)
    mkdir -p "$DIR"/{state,spool,db}
    cat >"$DIR/slurm.conf" <<EOF
# Written by .ci/slurm.sh: one node ($NODE, $CPUS CPUs), one partition ($PARTITION), accounting in slurmdbd.
ClusterName=kqbench
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
# no cgroup confinement: processes are tracked by parent process id, tasks not bound to cores
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=5
JobCompType=jobcomp/none
# a cancelled or timed-out job: SIGTERM, then SIGKILL this many seconds later (SLURM's default is 30)
KillWait=5
ReturnToService=2
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$mem State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
    # slurmd 22.05 loads a cgroup plugin even with proctrack/linuxproc and task/none, and refuses
    # CgroupPlugin=disabled; cgroup v1 is what this machine kind mounts
    cat >"$DIR/cgroup.conf" <<EOF
CgroupPlugin=cgroup/v1
IgnoreSystemd=yes
EOF
    cat >"$DIR/slurmdbd.conf" <<EOF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
PidFile=$DIR/slurmdbd.pid
LogFile=$DIR/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StorageLoc=kqbench_slurm_acct
EOF
    chmod 600 "$DIR/slurmdbd.conf"
}

start_munged() {
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        return 0  # a munged is running already: use it, leave it running
    fi
    if [[ ! -s /etc/munge/munge.key ]]; then
        mungekey --create --keyfile=/etc/munge/munge.key >"$DIR/munged.start.log" 2>&1 \
            || fail "/etc/munge/munge.key" "mungekey --create failed" "$DIR/munged.start.log"
    fi
    chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
    mkdir -p /run/munge && chown munge:munge /run/munge
    touch "$DIR/munged.ours"
    runuser -u munge -- munged 9>&- >"$DIR/munged.start.log" 2>&1 \
        || fail "munged" "did not start" "$DIR/munged.start.log"
    wait_for 10 bash -c "munge -n | unmunge" \
        || fail "munged (socket /run/munge/munge.socket.2)" "munge -n | unmunge fails" "/var/log/munge/munged.log"
}

start_mariadb() {
    if [[ ! -d "$DIR/db/mysql" ]]; then
        mariadb-install-db --no-defaults --datadir="$DIR/db" --user=root --skip-test-db \
            --auth-root-authentication-method=socket >"$DIR/mariadb-install.log" 2>&1 \
            || fail "mariadb-install-db --datadir=$DIR/db" "failed" "$DIR/mariadb-install.log"
    fi
    mariadbd --no-defaults --datadir="$DIR/db" --user=root --socket="$DIR/mariadb.sock" \
        --pid-file="$DIR/mariadb.pid" --log-error="$DIR/mariadb.log" --bind-address=127.0.0.1 \
        --port="$DB_PORT" --skip-name-resolve --innodb-buffer-pool-size=32M --innodb-use-native-aio=0 \
        --innodb-lock-wait-timeout=900 </dev/null >/dev/null 2>&1 9>&- &
    wait_for 30 mariadb --no-defaults -S "$DIR/mariadb.sock" -u root -e "select 1" \
        || fail "mariadbd --port=$DB_PORT" "no answer after 30 s" "$DIR/mariadb.log"
    mariadb --no-defaults -S "$DIR/mariadb.sock" -u root -e \
        "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1'; GRANT ALL ON kqbench_slurm_acct.* TO 'slurm'@'127.0.0.1';" \
        >"$DIR/mariadb-user.log" 2>&1 || fail "MariaDB user slurm@127.0.0.1" "could not be created" "$DIR/mariadb-user.log"
}

start_slurm() {
    slurmdbd 9>&- >"$DIR/slurmdbd.start.log" 2>&1 || fail "slurmdbd" "did not start" "$DIR/slurmdbd.start.log"
    wait_for 30 sacctmgr -n list cluster \
        || fail "slurmdbd (DbdHost=localhost, DbdPort=6819)" "sacctmgr gets no answer after 30 s" "$DIR/slurmdbd.log"
    sacctmgr -n list cluster format=cluster | grep -qw kqbench || sacctmgr -i add cluster kqbench >/dev/null 2>&1
    slurmctld 9>&- >"$DIR/slurmctld.start.log" 2>&1 || fail "slurmctld" "did not start" "$DIR/slurmctld.start.log"
    wait_for 30 scontrol ping \
        || fail "slurmctld (SlurmctldHost=$NODE(127.0.0.1))" "scontrol ping fails after 30 s" "$DIR/slurmctld.log"
    slurmd 9>&- >"$DIR/slurmd.start.log" 2>&1 || fail "slurmd" "did not start" "$DIR/slurmd.start.log"
    wait_for 30 bash -c "sinfo -h -n $NODE -o %T | grep -qx idle" \
        || fail "slurmd (NodeName=$NODE CPUs=$CPUS)" "node not idle after 30 s: $(sinfo -h -n "$NODE" -o '%T %E' 2>&1)" \
                "$DIR/slurmd.log"
}

up() {
    local started=$SECONDS port
    if alive "$DIR/slurmctld.pid" slurmctld && alive "$DIR/slurmd.pid" slurmd; then
        mkdir -p "$DIR/callers" && touch "$DIR/callers/$CALLER"
        echo "slurm.sh: already up ($SLURM_CONF); callers: $(callers | tr '\n' ' ')"
        return 0
    fi
    stop_daemons  # what a crashed run left; then start afresh (no old jobs, accounting or state)
    rm -rf "$DIR"
    mkdir -p "$DIR"
    install
    for port in $PORTS; do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            fail "port $port" "in use by another process (another SLURM or database on this machine?)"
        fi
    done
    configure
    start_munged
    start_mariadb
    local db=$SECONDS
    start_slurm
    mkdir -p "$DIR/callers" && touch "$DIR/callers/$CALLER"
    echo "slurm.sh: up in $((SECONDS - started)) s ($((db - started)) s munged + MariaDB, $((SECONDS - db)) s" \
         "slurmdbd, slurmctld, slurmd): node $NODE ($CPUS CPUs), partition $PARTITION; SLURM_CONF=$SLURM_CONF"
}

down() {
    [[ -d "$DIR" ]] || return 0
    rm -f "$DIR/callers/$CALLER"
    local others
    others=$(callers | tr '\n' ' ')
    if [[ -n "$others" ]]; then
        echo "slurm.sh: left up for callers $others"
        return 0
    fi
    stop_daemons
    rm -rf "$DIR"
    echo "slurm.sh: down"
}

if [[ "${1:-}" == up && $(id -u) != 0 ]]; then
    echo "slurm.sh: SLURM not started: user $(id -un): not root (the daemons run as root, their files are in $DIR)" >&2
    exit 1
fi
exec 9>"$LOCK"
flock 9  # one up or down at a time (the daemons are started without this descriptor)
case "${1:-}" in
    up) up ;;
    down) down ;;
    status) sinfo && squeue ;;
    *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
