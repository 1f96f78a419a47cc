#!/bin/sh
# Installs the BackupRun agent from the portal that served this script; no other site is
# needed. As root (whole-server backups; a systemd unit where systemd runs):
#
#   curl -fsSL PORTAL/agent/install.sh | sh -s -- --server https://SERVERIP:HTTPS_PORT --port 1167
#
# It checks for Python 3.11+ with venv, installs the agent into a virtualenv with pip from
# the portal's wheels (PORTAL/agent/wheels/), trusts the backup server, and starts the agent:
# a systemd unit (root, systemd running), else in the background with nohup. Running it
# again upgrades in place. Options: --help, and docs/agent.md ("Installing").
# POSIX sh (dash, busybox ash, bash). Nothing runs before the last line, so a download cut
# short does nothing.

PORTAL=@PORTAL_URL@
SERVER=
PORT=1167
PREFIX=
DATA_DIR=
ROOT=
START=yes
SYSTEMD=yes
PYTHON=python3
INSECURE=${BACKUPRUN_INSECURE:-0}
# where systemd keeps units, and the folder that exists while it runs (tests point them away)
UNIT=${BACKUPRUN_SYSTEMD_UNIT_DIR:-/etc/systemd/system}/backuprun-agent.service
SYSTEMD_RUNNING=${BACKUPRUN_SYSTEMD_RUN_DIR:-/run/systemd/system}
LINK=/usr/local/bin/backuprun

usage() {
    cat <<EOF
Usage: sh install.sh --server https://SERVERIP:HTTPS_PORT [options]

Installs the BackupRun agent from $PORTAL and starts it.

  --server URL     the backup server to trust, https://SERVERIP:HTTPS_PORT (required)
  --port PORT      the port the agent listens on, on all addresses (default 1167)
  --prefix DIR     the virtualenv to install into (default /opt/backuprun-agent as root,
                   else ~/.local/share/backuprun-agent/venv)
  --data-dir DIR   the agent's data folder (default: the agent's own,
                   /var/lib/backuprun-agent as root, else ~/.local/share/backuprun-agent)
  --root DIR       serve only the files under DIR (default /)
  --python CMD     the Python 3.11+ to use (default python3)
  --portal URL     install from this portal instead of $PORTAL
  --no-start       install and trust, but do not start the agent
  --no-systemd     start the agent in the background even where systemd runs
  --insecure       do not verify the portal's TLS certificate (development only;
                   also BACKUPRUN_INSECURE=1)
  -h, --help       this help

Exit codes: 0 done, 2 bad arguments, 3 no usable Python, 4 the portal cannot be reached
or has no agent wheels, 5 pip failed, 6 the backup server cannot be trusted, 7 the agent
did not start.
EOF
}

say() { printf 'backuprun-agent: %s\n' "$*"; }

die() {
    code=$1
    shift
    printf 'backuprun-agent: error: %s\n' "$*" >&2
    exit "$code"
}

# -- arguments ----------------------------------------------------------------------------

parse_arguments() {
    while [ $# -gt 0 ]; do
        case $1 in
            --no-start) START=no; shift; continue ;;
            --no-systemd) SYSTEMD=no; shift; continue ;;
            --insecure) INSECURE=1; shift; continue ;;
            -h|--help) usage; exit 0 ;;
            --*=*) opt=${1%%=*}; value=${1#*=}; shift ;;
            --server|--port|--prefix|--data-dir|--root|--python|--portal)
                [ $# -ge 2 ] || die 2 "$1 needs a value (see --help)"
                opt=$1; value=$2; shift 2 ;;
            *) die 2 "unknown argument: $1 (see --help)" ;;
        esac
        case $opt in
            --server) SERVER=$value ;;
            --port) PORT=$value ;;
            --prefix) PREFIX=$value ;;
            --data-dir) DATA_DIR=$value ;;
            --root) ROOT=$value ;;
            --python) PYTHON=$value ;;
            --portal) PORTAL=${value%/} ;;
            *) die 2 "unknown option: $opt (see --help)" ;;
        esac
    done
    case $INSECURE in 1|yes|true) INSECURE=1 ;; *) INSECURE=0 ;; esac
}

absolute() {  # OPTION PATH: the path made absolute; one a unit file or a shell could misread refused
    case $2 in
        *[[:space:]]*|*\"*|*\'*|*\\*|*\$*|*%*|*\`*) die 2 "$1 $2: use a path without spaces, quotes, \\, \$, % or \`" ;;
        /*) printf '%s' "$2" ;;
        *) printf '%s/%s' "$(pwd)" "$2" ;;
    esac
}

check_arguments() {
    [ -n "$SERVER" ] || die 2 "give the backup server: --server https://SERVERIP:HTTPS_PORT (the portal shows it)"
    case $SERVER in
        https://?*) ;;
        *) die 2 "--server $SERVER: give https://SERVERIP:HTTPS_PORT" ;;
    esac
    case $PORT in
        ''|0*|*[!0-9]*) die 2 "--port $PORT: give a port number, 1-65535" ;;
    esac
    [ "${#PORT}" -le 5 ] && [ "$PORT" -le 65535 ] || die 2 "--port $PORT: give a port number, 1-65535"
    case $PORTAL in
        http://?*|https://?*) ;;
        *) die 2 "--portal $PORTAL: give the portal's address, https://PORTAL" ;;
    esac
    if [ "$(id -u)" = 0 ]; then
        IS_ROOT=yes
        DEFAULT_PREFIX=/opt/backuprun-agent
        DEFAULT_DATA=/var/lib/backuprun-agent
    else
        IS_ROOT=no
        [ -n "${HOME:-}" ] || die 2 "HOME is not set: give --prefix and --data-dir"
        DEFAULT_PREFIX=$HOME/.local/share/backuprun-agent/venv
        DEFAULT_DATA=$HOME/.local/share/backuprun-agent
    fi
    PREFIX=$(absolute --prefix "${PREFIX:-$DEFAULT_PREFIX}") || exit 2
    if [ -n "$DATA_DIR" ]; then DATA_DIR=$(absolute --data-dir "$DATA_DIR") || exit 2; fi
    if [ -n "$ROOT" ]; then
        ROOT=$(absolute --root "$ROOT") || exit 2
        [ -d "$ROOT" ] || die 2 "--root $ROOT: not a folder"
    fi
    DATA=${DATA_DIR:-$DEFAULT_DATA}
    BACKUPRUN=$PREFIX/bin/backuprun
    WHEELS=$PORTAL/agent/wheels/
    PIDFILE=$DATA/agent.pid
    LOG=$DATA/agent.log
}

# -- what this machine has ----------------------------------------------------------------

fetch() {  # URL: its body on stdout
    if [ "$FETCH" = curl ]; then
        if [ "$INSECURE" = 1 ]; then curl -fsSL --insecure "$1"; else curl -fsSL "$1"; fi
    else
        if [ "$INSECURE" = 1 ]; then wget -qO- --no-check-certificate "$1"; else wget -qO- "$1"; fi
    fi
}

new_enough() {  # PYTHON: is it 3.11 or newer?
    "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1
}

check_machine() {
    if command -v curl >/dev/null 2>&1; then
        FETCH=curl
    elif command -v wget >/dev/null 2>&1; then
        FETCH=wget
    else
        die 4 "neither curl nor wget is installed: install one of them and run this again"
    fi
    command -v "$PYTHON" >/dev/null 2>&1 || die 3 "$PYTHON is not installed: install Python 3.11 or newer with its venv module (e.g. apt-get install python3 python3-venv), or name one with --python"
    if ! new_enough "$PYTHON"; then
        version=$("$PYTHON" -c 'import platform; print(platform.python_version())' 2>/dev/null)
        die 3 "$PYTHON is Python ${version:-of an unknown version}; the agent needs 3.11 or newer: install one and name it with --python (e.g. --python python3.11)"
    fi
    "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1 || die 3 "$PYTHON has no venv module: install it (e.g. apt-get install python3-venv) and run this again"
}

check_portal() {
    listing=$(fetch "$WHEELS") || die 4 "cannot fetch $WHEELS: check the portal's address and that this server reaches it (a self-signed certificate in development: --insecure)"
    case $listing in
        *backuprun-*.whl*) ;;
        *) die 4 "the portal at $PORTAL has no agent wheels yet: its operator makes them with: backuprun admin agent-wheels" ;;
    esac
}

# -- the virtualenv and the agent ---------------------------------------------------------

make_virtualenv() {
    if [ -f "$PREFIX/pyvenv.cfg" ]; then
        if new_enough "$PREFIX/bin/python"; then
            say "upgrading the agent in $PREFIX"
        else
            say "making the virtualenv in $PREFIX again (its Python is gone or too old)"
            "$PYTHON" -m venv --clear "$PREFIX" || die 3 "cannot make a virtualenv in $PREFIX"
        fi
    elif [ -e "$PREFIX" ] && [ ! -d "$PREFIX" ]; then
        die 2 "$PREFIX is a file: give another --prefix"
    elif [ -d "$PREFIX" ] && [ -n "$(ls -A "$PREFIX" 2>/dev/null)" ]; then
        die 2 "$PREFIX is not empty and not a virtualenv: remove it or give another --prefix"
    else
        say "installing the agent into $PREFIX"
        "$PYTHON" -m venv "$PREFIX" || die 3 "cannot make a virtualenv in $PREFIX with $PYTHON"
    fi
}

pip_install() {  # pip install ARGS..., only from the portal's wheels, whatever pip.conf or PIP_* say
    if [ "$INSECURE" = 1 ]; then
        hostport=${PORTAL#*://}
        set -- --trusted-host "${hostport%%/*}" "$@"
    fi
    PIP_CONFIG_FILE=/dev/null "$PREFIX/bin/python" -m pip --isolated --disable-pip-version-check \
        --no-input --quiet install --no-index --find-links "$WHEELS" "$@"
}

install_agent() {
    hint="the portal's wheels may not fit this server's Python ($("$PREFIX/bin/python" -c 'import platform; print(platform.python_version())' 2>/dev/null)) or machine ($(uname -m)): its operator adds them with backuprun admin agent-wheels --python-version/--platform"
    pip_install --upgrade backuprun || die 5 "pip could not install the agent from $WHEELS (above); $hint"
    pip_install --force-reinstall --no-deps backuprun || die 5 "pip could not install the agent from $WHEELS (above)"
    "$BACKUPRUN" --version >/dev/null 2>&1 || die 5 "the installed agent does not run ($BACKUPRUN --version fails); $hint"
    if [ "$IS_ROOT" = yes ] && [ "$PREFIX" = "$DEFAULT_PREFIX" ]; then
        if [ ! -e "$LINK" ] && [ ! -L "$LINK" ] || [ "$(readlink "$LINK" 2>/dev/null)" = "$BACKUPRUN" ]; then
            ln -sf "$BACKUPRUN" "$LINK" 2>/dev/null && say "the command is $LINK"
        fi
    fi
}

agent() {  # backuprun agent COMMAND ARGS..., with --data-dir when one was given
    if [ -n "$DATA_DIR" ]; then
        "$BACKUPRUN" agent "$@" --data-dir "$DATA_DIR"
    else
        "$BACKUPRUN" agent "$@"
    fi
}

trust_server() {
    agent trust "$SERVER" || die 6 "the backup server at $SERVER cannot be trusted (above); check --server against the portal"
    say "compare that fingerprint with the one at $SERVER/ (the backup server's page)"
}

# -- starting it --------------------------------------------------------------------------

alive() {  # PID: running, and not a zombie
    kill -0 "$1" 2>/dev/null || return 1
    [ -r "/proc/$1/stat" ] || return 0
    state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
    [ "$state" != Z ]
}

nap() { sleep 0.2 2>/dev/null || sleep 1; }

stop_background() {  # the agent this script started in the background before, if it runs
    [ -f "$PIDFILE" ] || return 0
    pid=$(cat "$PIDFILE" 2>/dev/null)
    case $pid in ''|*[!0-9]*) rm -f "$PIDFILE"; return 0 ;; esac
    if alive "$pid" && { [ ! -r "/proc/$pid/cmdline" ] || tr '\000' ' ' <"/proc/$pid/cmdline" | grep -q 'backuprun agent run'; }; then
        say "stopping the agent started before (pid $pid)"
        kill "$pid" 2>/dev/null
        i=0
        while alive "$pid" && [ "$i" -lt 100 ]; do nap; i=$((i + 1)); done
        if alive "$pid"; then kill -9 "$pid" 2>/dev/null; fi
    fi
    rm -f "$PIDFILE"
}

start_with_systemd() {  # COMMAND...: as the unit backuprun-agent
    stop_background
    unit_tmp=$UNIT.tmp.$$
    cat >"$unit_tmp" <<EOF || die 7 "cannot write $UNIT"
[Unit]
Description=BackupRun agent
After=network-online.target
Wants=network-online.target

[Service]
ExecStart=$*
ExecReload=/bin/kill -HUP \$MAINPID
Restart=on-failure
RestartSec=5

[Install]
WantedBy=multi-user.target
EOF
    chmod 644 "$unit_tmp" && mv -f "$unit_tmp" "$UNIT" || die 7 "cannot write $UNIT"
    systemctl daemon-reload && systemctl enable --quiet backuprun-agent && systemctl restart backuprun-agent \
        || die 7 "systemd could not start the agent: see systemctl status backuprun-agent"
    sleep 3
    systemctl is-active --quiet backuprun-agent || die 7 "the agent did not stay up: see journalctl -u backuprun-agent"
    say "the agent runs as the systemd service backuprun-agent (started at boot), on port $PORT"
}

start_in_background() {  # COMMAND...: with nohup, its pid in $PIDFILE, its output in $LOG
    stop_background
    mkdir -p "$DATA" || die 7 "cannot make the data folder $DATA"
    touch "$LOG" || die 7 "cannot write the log $LOG"
    before=$(wc -l <"$LOG")
    if command -v nohup >/dev/null 2>&1; then
        nohup "$@" >>"$LOG" 2>&1 </dev/null &
    else
        "$@" >>"$LOG" 2>&1 </dev/null &
    fi
    pid=$!
    echo "$pid" >"$PIDFILE" || die 7 "cannot write $PIDFILE"
    i=0
    until tail -n +"$((before + 1))" "$LOG" | grep -q 'listening on https://'; do
        if ! alive "$pid"; then
            rm -f "$PIDFILE"
            reason=$(tail -n +"$((before + 1))" "$LOG" | grep 'error:' | tail -n 1)
            die 7 "the agent did not start: ${reason:-see $LOG}"
        fi
        [ "$i" -lt 300 ] || die 7 "the agent did not say it listens within a minute: see $LOG"
        nap
        i=$((i + 1))
    done
    why="systemd does not run here"
    [ "$IS_ROOT" = yes ] || why="not root, so no systemd unit"
    [ "$SYSTEMD" = yes ] || why="--no-systemd"
    say "the agent runs in the background ($why): pid $pid, on port $PORT, log $LOG, pid file $PIDFILE"
    say "it does not start again at boot by itself: add this command to the server's start-up: $*"
}

start_agent() {
    set -- "$BACKUPRUN" agent run --listen "0.0.0.0:$PORT"
    if [ -n "$DATA_DIR" ]; then set -- "$@" --data-dir "$DATA_DIR"; fi
    if [ -n "$ROOT" ]; then set -- "$@" --root "$ROOT"; fi
    if [ "$START" = no ]; then
        say "installed, not started (--no-start); start it with: $*"
    elif [ "$SYSTEMD" = yes ] && [ "$IS_ROOT" = yes ] && [ -d "$SYSTEMD_RUNNING" ] && command -v systemctl >/dev/null 2>&1; then
        start_with_systemd "$@"
    else
        start_in_background "$@"
    fi
}

main() {
    parse_arguments "$@"
    check_arguments
    check_machine
    check_portal
    make_virtualenv
    install_agent
    trust_server
    start_agent
}

main "$@"
