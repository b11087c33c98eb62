# shellcheck shell=bash
# aem-keys-files.sh: the root side of reading and writing files in the tree: every step asks the
# AemUser worker (aem-keys-worker.sh) and checks its answer. Part of the on-instance scripts (see
# aem-keys-common.sh): functions only.

# Root's own folder, outside the tree: the runs' locks, and which secret installed the keys.
AEMKEYS_RECORD_DIR=/var/lib/aem-crypto-keys
AEMKEYS_LOCK_WAIT=600     # seconds a run waits for another run on the same QuickstartDir
AEMKEYS_READ_MAX=65536    # bytes of a file probed or written in the tree (a text file, aemkeys_tree_text: 1 MiB)
# What `storage` holds, the six bytes "Bundle" (no newline), in base64 as aemkeys_probe gives it
# (canonical: equal bytes, equal text).
AEMKEYS_BUNDLE_B64=QnVuZGxl

# aemkeys_probe FILE [MAX_BYTES]
#   Reads FILE as AemUser. AEMKEYS_PROBE = absent|file; for a file AEMKEYS_PROBE_OM ("aem 600"),
#   AEMKEYS_PROBE_MTIME (epoch s) and AEMKEYS_PROBE_B64 (base64 of the content). Fails with one
#   line when FILE is not a regular file, is larger than MAX_BYTES (default AEMKEYS_READ_MAX)
#   or cannot be read by AemUser within AEMKEYS_IO_TIMEOUT s.
aemkeys_probe() {
  local f=$1 out
  AEMKEYS_PROBE=absent AEMKEYS_PROBE_OM='' AEMKEYS_PROBE_MTIME='' AEMKEYS_PROBE_B64=''
  aemkeys_user_out aemkeys_u_probe "$f" "${2:-$AEMKEYS_READ_MAX}"
  out=$AEMKEYS_OUT
  AEMKEYS_OUT=''
  case $AEMKEYS_RC in
    0) ;;
    3) return 0 ;;
    4) aemkeys_fail "$f is not a regular file" ;;
    5) aemkeys_fail "$f is larger than ${2:-$AEMKEYS_READ_MAX} bytes" ;;
    *) aemkeys_fail "$f cannot be read by $AEMKEYS_USER within $AEMKEYS_IO_TIMEOUT s" ;;
  esac
  # Owner and mode are printed ("owner/mode fixed, was aem 644"): a name, no ':', no space.
  [[ $out =~ ^([A-Za-z0-9_.-]{1,32}\ [0-7]{1,4})\ ([0-9]+)\ ([A-Za-z0-9+/=]*)$ ]] || aemkeys_fail "$f: unexpected answer when read as $AEMKEYS_USER"
  # shellcheck disable=SC2034 # this function's reply, read by its callers
  AEMKEYS_PROBE=file AEMKEYS_PROBE_OM=${BASH_REMATCH[1]} AEMKEYS_PROBE_MTIME=${BASH_REMATCH[2]}
  AEMKEYS_PROBE_B64=${BASH_REMATCH[3]}
  out=''
}

# aemkeys_tree_text FILE
#   AEMKEYS_REPLY = FILE's text (at most 1 MiB, NULs dropped), read as AemUser (aemkeys_u_text);
#   returns 1 (AEMKEYS_REPLY empty) when FILE does not exist. Fails when it cannot be read (not a
#   regular file?).
aemkeys_tree_text() {
  AEMKEYS_REPLY=''
  aemkeys_worker_call 1048577 aemkeys_u_text "$1" 1048576
  [[ $AEMKEYS_RC == 3 ]] && return 1
  [[ $AEMKEYS_RC == 0 && $AEMKEYS_OUT == *x ]] || aemkeys_fail "cannot read $1 (not a regular file?)"
  AEMKEYS_REPLY=${AEMKEYS_OUT%x}
  AEMKEYS_OUT=''
}

# aemkeys_sha256_file FILE [MAX_BYTES]
#   Reads FILE as AemUser (aemkeys_probe). AEMKEYS_REPLY = its sha256 hex, or empty when FILE
#   does not exist. Fails when FILE is not a regular file, is larger than MAX_BYTES or cannot be
#   read by AemUser.
aemkeys_sha256_file() {
  aemkeys_probe "$@"
  AEMKEYS_REPLY=''
  [[ $AEMKEYS_PROBE == absent ]] && return 0
  aemkeys_sha256_b64 "$AEMKEYS_PROBE_B64"
}

# aemkeys_storage_is_bundle FILE
#   Returns 0 when FILE holds exactly the six bytes "Bundle" (no newline).
aemkeys_storage_is_bundle() {
  aemkeys_probe "$1"
  [[ $AEMKEYS_PROBE == file && $AEMKEYS_PROBE_B64 == "$AEMKEYS_BUNDLE_B64" ]]
}

# aemkeys_key_files_hold DIR HMAC_SHA MASTER_SHA
#   Returns 0 when DIR/hmac and DIR/master hash to HMAC_SHA and MASTER_SHA; otherwise
#   AEMKEYS_REPLY = the first key that does not.
aemkeys_key_files_hold() {
  local k
  local -A sums=([hmac]=$2 [master]=$3)
  for k in hmac master; do
    aemkeys_sha256_file "$1/$k"
    if [[ $AEMKEYS_REPLY != "${sums[$k]}" ]]; then
      AEMKEYS_REPLY=$k
      return 1
    fi
  done
}

# aemkeys_require_writable DIR...
#   Before anything is changed: fails (nothing changed) unless AemUser can write each DIR (or
#   create it). A later swap by that user can still make a write fail, never leave the tree.
aemkeys_require_writable() {
  aemkeys_user_out aemkeys_u_writable "$@"
  [[ $AEMKEYS_RC == 0 ]] && return 0
  aemkeys_name "${AEMKEYS_OUT:-$1}"
  aemkeys_fail "$AEMKEYS_REPLY is not a folder $AEMKEYS_USER can write: nothing changed"
}

# aemkeys_clean_stale_tmp BACKUPS_DIR DIR...
#   As AemUser: removes staging files left in each DIR and unfinished backups in BACKUPS_DIR by
#   an interrupted run. AEMKEYS_REPLY = how many.
aemkeys_clean_stale_tmp() {
  aemkeys_user_out aemkeys_u_clean "$@"
  [[ $AEMKEYS_RC == 0 && $AEMKEYS_OUT =~ ^[0-9]+$ ]] || aemkeys_fail "cannot clean up leftovers of an interrupted run in ${*:2} as $AEMKEYS_USER"
  AEMKEYS_REPLY=$AEMKEYS_OUT
}

# aemkeys_write_atomic DEST MODE KIND DATA
#   As AemUser (aemkeys_u_write): writes DEST atomically, owned by AemUser (and that user's
#   group) with MODE. KIND is "base64" (DATA decoded) or "text" (DATA as is, no newline added).
#   The bytes reach the worker as base64 in its request pipe (encoded in a pipe from the printf
#   builtin, never in argv). After a crash DEST holds its old or its new bytes, never a mix.
aemkeys_write_atomic() {
  local b64=$4
  [[ $3 == base64 ]] || b64=$(printf '%s' "$4" | base64 -w 0) || aemkeys_fail "cannot encode $1"
  aemkeys_user_out aemkeys_u_write "$1" "$2" "$AEMKEYS_READ_MAX" "$b64"
  b64=''
  [[ $AEMKEYS_RC == 0 ]] || aemkeys_fail "cannot write $1 as $AEMKEYS_USER"
}

# aemkeys_backup QUICKSTART_DIR FILE...
#   As AemUser: copies FILEs into QUICKSTART_DIR/crypto-key-backups/<UTC time>[-n]/ (0700),
#   staged under a hidden name and renamed when complete. AEMKEYS_REPLY = the backup folder.
aemkeys_backup() {
  local root="$1/crypto-key-backups" stamp
  shift
  stamp=$(date -u +%Y%m%dT%H%M%SZ) || aemkeys_fail "date failed"
  aemkeys_user_out aemkeys_u_backup "$root" "$stamp" "$@"
  # The answer is printed: exactly the folder's name or nothing.
  [[ $AEMKEYS_RC == 0 && ${AEMKEYS_OUT#"$root/$stamp"} =~ ^(-[1-9][0-9]{0,8})?$ ]] \
    || aemkeys_fail "cannot back up the existing keys into $root as $AEMKEYS_USER"
  AEMKEYS_REPLY=$AEMKEYS_OUT
}

# aemkeys_ensure_dir DIR MODE
#   As AemUser: creates DIR (one level) with MODE when it does not exist.
aemkeys_ensure_dir() {
  aemkeys_user_out aemkeys_u_mkdir "$1" "$2"
  [[ $AEMKEYS_RC == 0 && ( $AEMKEYS_OUT == created || $AEMKEYS_OUT == exists ) ]] || aemkeys_fail "cannot create $1 as $AEMKEYS_USER"
}

# aemkeys_lock QUICKSTART_DIR
#   One run at a time on QUICKSTART_DIR (a gated launch and a tag association can reach a new
#   instance together): an exclusive lock (flock, util-linux) on a root-only file outside the tree,
#   AEMKEYS_RECORD_DIR/<sha256 of QUICKSTART_DIR>.lock, held until the script exits; waits up to
#   AEMKEYS_LOCK_WAIT s for the other run. AEMKEYS_REPLY = that sha256.
aemkeys_lock() {
  local fd
  aemkeys_sha256_text "$1"
  # shellcheck disable=SC2174 # -m for the last folder only is the point: /var/lib is the system's
  { mkdir -p -m 0700 -- "$AEMKEYS_RECORD_DIR" && exec {fd}>>"$AEMKEYS_RECORD_DIR/$AEMKEYS_REPLY.lock"; } 2>/dev/null \
    || aemkeys_fail "cannot create a lock file in $AEMKEYS_RECORD_DIR"
  flock -w "$AEMKEYS_LOCK_WAIT" "$fd" || aemkeys_fail "another run on $1 did not end within $AEMKEYS_LOCK_WAIT s: nothing changed"
}
