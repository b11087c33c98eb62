# shellcheck shell=bash
# aem-keys-worker.sh: the AemUser worker, one process per run that does every step in the tree.
# Part of the on-instance scripts (see aem-keys-common.sh): functions only.
#
# Every file operation inside QuickstartDir (list, test, read, stage, rename, mkdir, backup,
# cleanup) runs as AemUser: root only decides, reads secrets and talks to systemctl and to
# 127.0.0.1, and never looks at a path of the tree itself. A link or a race planted by that user
# can therefore only lead where the user could write or read anyway. One AemUser process per run
# does those steps (the worker, a coprocess started by aemkeys_user_init): the aemkeys_u_*
# functions (aem-keys-user.sh, aem-keys-manifests.sh) are its side, shipped as text (declare -f)
# to `bash -c`. It gets paths and bytes in requests (never key material in argv or the
# environment), answers text only, and its functions exit with 0 ok, 3 absent, 4 not a regular
# file, 5 too large, anything else failed. The worker holds its two pipes and /dev/null, nothing
# of root's: the AEM user can inspect its own processes (pidfd_getfd(2), ptrace) and take copies
# of whatever they hold open. Root reads its answers bounded in size and time and checks them,
# as any other input from the tree.

AEMKEYS_IO_TIMEOUT=60     # seconds for any one step run as AemUser (a FIFO, a hung file system)
AEMKEYS_READ_INLINE_MAX=4096  # answers up to this size are read by bash itself (aemkeys_worker_read)

# aemkeys_user_init USER
#   Starts the worker as USER: setpriv (util-linux; no PAM, no session, no log line) when this
#   script runs as root, a plain bash when it already runs as USER. Fails otherwise. Call it from
#   the main shell (the worker lives as long as that shell).
aemkeys_user_init() {
  local uid gid
  # shellcheck disable=SC2034 # named in the other modules' messages
  AEMKEYS_USER=$1
  uid=$(id -u -- "$1" 2>/dev/null) && gid=$(id -g -- "$1" 2>/dev/null) || aemkeys_fail "parameter AemUser: user '$1' does not exist on this host"
  if [[ $EUID == "$uid" ]]; then
    AEMKEYS_AS=()
  elif [[ $EUID == 0 ]]; then
    command -v setpriv >/dev/null 2>&1 || aemkeys_fail "setpriv (util-linux) is not on the PATH: it runs every file step as $1"
    AEMKEYS_AS=(setpriv "--reuid=$uid" "--regid=$gid" --init-groups --no-new-privs --)
  else
    aemkeys_fail "run as root or as $1 (this is uid $EUID)"
  fi
  # The worker's code: its constants, every aemkeys_u_* and aemkeys_u8_* function (the steps it
  # runs, aem-keys-user.sh and aem-keys-manifests.sh), aemkeys_manifest_bsn and its loop.
  local -a code=()
  mapfile -t code < <(compgen -A function aemkeys_u_; compgen -A function aemkeys_u8_)
  AEMKEYS_USER_CODE="$(declare -p AEMKEYS_TMP_PREFIX AEMKEYS_TMP_SUFFIX AEMKEYS_MANIFEST_MAX AEMKEYS_MANIFEST_BATCH)
$(declare -f "${code[@]}" aemkeys_manifest_bsn aemkeys_w_serve)
aemkeys_w_serve"
  aemkeys_worker_start || aemkeys_fail "cannot start a process as $1 (setpriv)"
}

# aemkeys_open_tree QUICKSTART_DIR USER
#   Starts the worker as USER (aemkeys_user_init) and fails unless that user can open
#   QUICKSTART_DIR.
aemkeys_open_tree() {
  aemkeys_user_init "$2"
  aemkeys_user_is open "$1" || aemkeys_fail "QuickstartDir $1 is not a directory $2 can open"
}

# aemkeys_worker_start
#   Starts the worker (coprocess AEMKEYS_W) and keeps plain copies of its pipes in AEMKEYS_WQ
#   (requests) and AEMKEYS_WR (answers): bash closes a coprocess's own descriptors in pipeline
#   subshells, and the tree helpers are used in pipelines. Returns 1 unless it answers a first request.
aemkeys_worker_start() {
  coproc AEMKEYS_W { aemkeys_worker_exec; }
  AEMKEYS_WPID=$AEMKEYS_W_PID
  exec {AEMKEYS_WQ}>&"${AEMKEYS_W[1]}" {AEMKEYS_WR}<&"${AEMKEYS_W[0]}"
  aemkeys_worker_call 16 aemkeys_u_is dir /
}

# aemkeys_worker_exec (the coprocess, still root until setpriv)
#   Closes every descriptor but 0 and 1 (the coprocess's pipes): root's stdout and stderr (SSM's
#   capture files), aemkeys_logged's capture pipe, anything inherited; stderr becomes /dev/null.
#   Only then does setpriv change the user and exec the worker's bash, in /, with a clean environment.
aemkeys_worker_exec() {
  local fd
  local -a fds=(/proc/self/fd/*)
  exec 2>/dev/null
  [[ -e ${fds[0]} ]] || fds=({3..1023})
  for fd in "${fds[@]}"; do
    fd=${fd##*/}
    (( fd > 2 )) && exec {fd}>&-
  done
  cd / || exit 1
  exec "${AEMKEYS_AS[@]}" env -i "PATH=$PATH" LC_ALL=C bash -c "$AEMKEYS_USER_CODE" aemkeys-user
}

# aemkeys_worker_stop
#   Kills the worker (an answer was late, too large or malformed) and closes its pipes: every
#   later request fails.
aemkeys_worker_stop() {
  [[ -n ${AEMKEYS_WPID:-} ]] && kill -KILL "$AEMKEYS_WPID" 2>/dev/null
  [[ -n ${AEMKEYS_WQ:-} ]] && exec {AEMKEYS_WQ}>&- {AEMKEYS_WR}<&-
  AEMKEYS_WQ='' AEMKEYS_WR=''
}

# aemkeys_worker_call MAX FUNCTION [ARG...]
#   Runs FUNCTION ARG... in the worker (stdin /dev/null, stderr dropped) and reads its answer,
#   all of it within AEMKEYS_IO_TIMEOUT s: "NONCE STATUS LENGTH" then LENGTH bytes.
#   AEMKEYS_OUT = the output as text (NULs and trailing newlines dropped), at most MAX bytes.
#   AEMKEYS_RC (also the return status) = FUNCTION's status, 5 when the answer is larger than
#   MAX, 1 when the worker did not answer well (it is then stopped). The request is written by
#   a background subshell: a worker that stops reading cannot block root either.
aemkeys_worker_call() {
  local max=$1 nonce req hdr writer rc len deadline LC_ALL=C
  shift
  AEMKEYS_OUT='' AEMKEYS_RC=1
  [[ -n ${AEMKEYS_WQ:-} ]] || return 1
  nonce=$RANDOM$RANDOM$RANDOM
  printf -v req ' %q' "$@"
  # The writer keeps no output of root's (stdout, stderr, aemkeys_capture's fd 3) and is killed
  # once the answer is in: a worker that answers without reading all cannot leave it blocked.
  # Disowned: bash reports no job killed on stderr.
  { printf '%s %s\n%s' "$nonce" "${#req}" "$req" >&"$AEMKEYS_WQ"; } >/dev/null 2>&1 3>&- &
  writer=$!
  disown "$writer"
  req=''
  hdr='' deadline=$(( SECONDS + AEMKEYS_IO_TIMEOUT ))
  IFS= read -r -n 48 -t "$AEMKEYS_IO_TIMEOUT" hdr <&"$AEMKEYS_WR"
  kill -KILL "$writer" 2>/dev/null
  if [[ ! $hdr =~ ^$nonce\ ([0-9]{1,3})\ ([0-9]{1,12})$ ]] || (( BASH_REMATCH[2] > max )); then
    [[ -n ${BASH_REMATCH[2]:-} ]] && AEMKEYS_RC=5
    aemkeys_worker_stop
    return "$AEMKEYS_RC"
  fi
  rc=${BASH_REMATCH[1]} len=${BASH_REMATCH[2]}
  if (( len > 0 )) && ! { (( SECONDS < deadline )) && aemkeys_worker_read "$len" $(( deadline - SECONDS )) && (( ${#AEMKEYS_OUT} == len )); }; then
    AEMKEYS_OUT=''
    aemkeys_worker_stop
    return 1
  fi
  AEMKEYS_RC=$rc
  return "$rc"
}

# aemkeys_worker_read LEN SECONDS
#   AEMKEYS_OUT = the next LEN bytes from the worker (fd AEMKEYS_WR), read within SECONDS; 1 when
#   they do not come in time (on an early end it may be 0 with fewer bytes: the caller checks the
#   length). bash's read -t looks at its timer before each byte (two system calls a byte), so a
#   longer answer (the bundle list, tens of KB) is read by head under timeout; the x keeps its
#   trailing newlines.
aemkeys_worker_read() {
  if (( $1 <= AEMKEYS_READ_INLINE_MAX )); then
    IFS= read -r -N "$1" -t "$2" AEMKEYS_OUT <&"$AEMKEYS_WR" || return 1
  else
    AEMKEYS_OUT=$(timeout -s KILL "$2" head -c "$1" <&"$AEMKEYS_WR" && printf x) || return 1
    AEMKEYS_OUT=${AEMKEYS_OUT%x}
  fi
}

# aemkeys_user_is TEST PATH: aemkeys_u_is as AemUser (dir, realdir, open or exists); 1 also when the
#   worker does not answer.
aemkeys_user_is() {
  aemkeys_worker_call 16 aemkeys_u_is "$@"
}

# aemkeys_user_out FUNCTION [ARG...]
#   Runs FUNCTION as AemUser in the worker; AEMKEYS_OUT = its output as text (at most
#   4 * AEMKEYS_READ_MAX bytes: more is status 5), AEMKEYS_RC = its exit status.
aemkeys_user_out() {
  aemkeys_worker_call $(( 4 * AEMKEYS_READ_MAX )) "$@"
  return 0
}

# aemkeys_w_serve (the worker, as AemUser)
#   Answers requests from root, one at a time: "NONCE LENGTH" and LENGTH bytes of %q-quoted words
#   (a command); the answer is "NONCE STATUS LENGTH" and LENGTH bytes of the command's output.
#   Each command runs in a subshell of its own.
aemkeys_w_serve() {
  local nonce len req out rc
  local -a cmd
  while IFS=' ' read -r nonce len && [[ $len =~ ^[0-9]+$ ]] && IFS= read -r -N "$len" req; do
    eval "cmd=($req)"
    out=$("${cmd[@]}" </dev/null 2>/dev/null)
    rc=$?
    printf '%s %s %s\n%s' "$nonce" "$rc" "${#out}" "$out"
  done
}

