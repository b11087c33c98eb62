#!/bin/bash
# migrate-jcr-keys.sh: moves AEM's crypto keys out of the JCR (/etc/key) into the file system
# (Adobe KB KA-23909). Run by the SSM Command document of lib/jcr-key-migration-document.ts, which
# inlines the modules' functions it uses between the markers below and appends the parameter data
# block after the final `exit`. Needs bash, coreutils, systemctl, setpriv and the AWS CLI (and gzip
# when no bundle location names a crypto bundle; see aem-keys-common.sh); HTTP goes to AEM on
# 127.0.0.1 through bash's /dev/tcp.
#
# Order (any failure before step 8 leaves /etc/key untouched):
#   1 validate parameters, read the admin credentials (Secrets Manager; never argv)
#   2 locate both crypto bundles' data folders (exact symbolic names, shared lookup)
#   3 GET /etc/key/hmac and /etc/key/master (bounded in size and time) into shell variables as
#     base64; check sizes
#   4 when the files differ: back up the current hmac, master and storage; stop AEM; install
#     hmac, master and storage=Bundle atomically; start AEM. Identical files: no restart.
#   5 wait until both crypto bundles are active again (Web Console JSON) and Sling serves /etc/key
#     (a starting AEM answers 503 until then)
#   6 verify: the files still hold the bytes read (AEM did not replace them), storage is still
#     Bundle, and AEM still serves the same bytes from /etc/key (checksums)
#   7 print fingerprints (first 12 hex digits of SHA-256) only
#   8 delete the two properties (one Sling POST: hmac@Delete, master@Delete) and check both are gone
# Exit status: 0 success (also: nothing to migrate), 1 error.
[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# >>> modules
# shellcheck source-path=SCRIPTDIR source=aem-keys-common.sh
. "${BASH_SOURCE[0]%/*}/aem-keys-common.sh"
# <<< modules

# migrate_get_file PORT AUTH PATH MAX_BYTES
#   GET (aemkeys_http_open, 60 s in all) of a binary: MIGRATE_B64 = base64 of at most MAX_BYTES
#   of the body (a pipe from the socket through head and base64: bash variables cannot hold NUL
#   bytes; bash reads a socket one byte at a time, so after the headers the body is still unread).
#   Headers: at most 64 KiB. Sets MIGRATE_STATUS; only a 200's body is read (an error page, e.g.
#   Sling's 404, is no key). Returns 1 when the connection fails, the answer is too slow or the
#   body is shorter than its Content-Length, 5 when a 200's Content-Length is above MAX_BYTES.
migrate_get_file() {
  local max=$4 length=-1 head_bytes=0 want left
  MIGRATE_STATUS='' MIGRATE_B64=''
  aemkeys_http_open GET "$1" "$3" "$2" 60 || return 1
  MIGRATE_STATUS=$AEMKEYS_HTTP_STATUS
  while aemkeys_http_line && [[ -n $AEMKEYS_HTTP_LINE ]]; do
    (( head_bytes += ${#AEMKEYS_HTTP_LINE} + 2 ))
    (( head_bytes <= 65536 )) || { exec {AEMKEYS_HTTP_FD}>&-; return 1; }
    if [[ ${AEMKEYS_HTTP_LINE,,} =~ ^content-length:[[:space:]]*([0-9]{1,12})[[:space:]]*$ ]]; then length=${BASH_REMATCH[1]}; fi
  done
  [[ $MIGRATE_STATUS == 200 ]] || { exec {AEMKEYS_HTTP_FD}>&-; return 0; }
  (( length <= max )) || { exec {AEMKEYS_HTTP_FD}>&-; return 5; }
  left=$(( AEMKEYS_HTTP_DEADLINE - SECONDS ))
  want=$(( length >= 0 ? length : max + 1 ))
  (( left > 0 )) && MIGRATE_B64=$(timeout --foreground -k 1 "$left" head -c "$want" <&"$AEMKEYS_HTTP_FD" | base64 -w 0) \
    || { exec {AEMKEYS_HTTP_FD}>&-; return 1; }
  exec {AEMKEYS_HTTP_FD}>&-
  aemkeys_b64_len "$MIGRATE_B64"
  (( length < 0 || AEMKEYS_REPLY == length ))
}

# migrate_fetch_key PORT NAME EXPECTED_BYTES → MIGRATE_FETCHED: base64 of /etc/key/NAME, or empty
# when /etc/key has no such property.
migrate_fetch_key() {
  local port=$1 name=$2 size=$3 rc=0
  MIGRATE_FETCHED=''
  migrate_get_file "$port" "$MIGRATE_AUTH" "/etc/key/$name" "$size" || rc=$?
  (( rc != 5 )) || aemkeys_fail "/etc/key/$name is larger than $size bytes (parameter ${name^}Bytes)"
  (( rc == 0 )) || aemkeys_fail "cannot read /etc/key/$name from AEM on 127.0.0.1:$port"
  case $MIGRATE_STATUS in
    200) ;;
    404) MIGRATE_B64=''; return 0 ;;
    401|403) aemkeys_fail "AEM refused the admin credentials for /etc/key/$name (HTTP $MIGRATE_STATUS)" ;;
    *) aemkeys_fail "GET /etc/key/$name answered HTTP $MIGRATE_STATUS" ;;
  esac
  aemkeys_b64_len "$MIGRATE_B64"
  (( AEMKEYS_REPLY <= size )) || aemkeys_fail "/etc/key/$name is larger than $size bytes (parameter ${name^}Bytes)"
  (( AEMKEYS_REPLY == size )) || aemkeys_fail "/etc/key/$name is $AEMKEYS_REPLY bytes, expected $size (parameter ${name^}Bytes)"
  MIGRATE_FETCHED=$MIGRATE_B64 MIGRATE_B64=''
}

# migrate_install SERVICE QS FILE_DIR CRYPTO_DIR HMAC_B64 MASTER_B64
#   As AemUser: backs up the current files, then (root: stops AEM) writes hmac, master and
#   storage=Bundle atomically, (root: starts AEM, also when a write failed: a stopped AEM is
#   always started again).
migrate_install() {
  local service=$1 qs=$2 file_dir=$3 crypto_dir=$4 f start_again
  local -a existing=()
  systemctl is-active --quiet -- "$service" || aemkeys_fail "service $service is not active"
  for f in "$file_dir/hmac" "$file_dir/master" "$crypto_dir/storage"; do
    aemkeys_probe "$f"
    [[ $AEMKEYS_PROBE == file ]] && existing+=("$f")
  done
  AEMKEYS_PROBE_B64=''
  if (( ${#existing[@]} > 0 )); then
    aemkeys_backup "$qs" "${existing[@]}"
    aemkeys_log "backup: $AEMKEYS_REPLY"
  fi
  # The keys travel to the shared atomic writer as base64 in shell variables (never argv).
  # From here on, whatever happens, AEM is started again on the way out (a no-op if it runs).
  printf -v start_again 'systemctl start -- %q || true' "$service"
  # shellcheck disable=SC2064 # the command is built now, from this function's SERVICE
  trap "$start_again" EXIT
  systemctl stop -- "$service" || aemkeys_fail "cannot stop $service"
  aemkeys_write_atomic "$file_dir/hmac" 0600 base64 "$5"
  aemkeys_write_atomic "$file_dir/master" 0600 base64 "$6"
  aemkeys_write_atomic "$crypto_dir/storage" 0600 text Bundle
  trap - EXIT
  systemctl start -- "$service" || aemkeys_fail "cannot start $service"
  aemkeys_log "installed hmac, master and storage=Bundle; restarted $service"
}

# migrate_bundle_active PORT SYMBOLIC_NAME → 0 when the Web Console reports it Active.
migrate_bundle_active() {
  aemkeys_http GET "$1" "/system/console/bundles/$2.json" "$MIGRATE_AUTH" || return 1
  [[ $AEMKEYS_HTTP_STATUS == 200 ]] || return 1
  [[ $AEMKEYS_HTTP_BODY =~ \"symbolicName\"[[:space:]]*:[[:space:]]*\"$2\" ]] || return 1
  [[ $AEMKEYS_HTTP_BODY =~ \"state\"[[:space:]]*:[[:space:]]*\"Active\" ]]
}

# migrate_key_served PORT → 0 when Sling serves /etc/key/hmac (200): a starting AEM answers 503
# after its bundles are Active, until its repository and Sling are up.
migrate_key_served() {
  migrate_get_file "$1" "$MIGRATE_AUTH" /etc/key/hmac "$AEMKEYS_READ_MAX" && [[ $MIGRATE_STATUS == 200 ]]
}

# migrate_wait_healthy PORT TIMEOUT: both crypto bundles active and /etc/key served within TIMEOUT
# seconds, or fails.
migrate_wait_healthy() {
  local port=$1 timeout=$2 deadline=$(( SECONDS + $2 ))
  until migrate_bundle_active "$port" com.adobe.granite.crypto.file && migrate_bundle_active "$port" com.adobe.granite.crypto \
    && migrate_key_served "$port"; do
    (( SECONDS < deadline )) || aemkeys_fail "AEM did not come back with both crypto bundles active and /etc/key served within ${timeout}s"
    sleep $(( timeout < 10 ? 1 : 5 ))
  done
  MIGRATE_B64=''
}

# migrate_verify PORT FILE_DIR CRYPTO_DIR: the files, storage and what AEM serves from /etc/key agree.
migrate_verify() {
  local port=$1 file_dir=$2 crypto_dir=$3 name
  aemkeys_key_files_hold "$file_dir" "${MIGRATE_SUM[hmac]}" "${MIGRATE_SUM[master]}" \
    || aemkeys_fail "$AEMKEYS_REPLY on disk changed after the restart"
  aemkeys_storage_is_bundle "$crypto_dir/storage" || aemkeys_fail "storage is no longer Bundle after the restart"
  for name in hmac master; do
    migrate_get_file "$port" "$MIGRATE_AUTH" "/etc/key/$name" "$AEMKEYS_READ_MAX" && [[ $MIGRATE_STATUS == 200 ]] \
      || aemkeys_fail "cannot read /etc/key/$name again after the restart (HTTP ${MIGRATE_STATUS:-none})"
    aemkeys_sha256_b64 "$MIGRATE_B64"
    MIGRATE_B64=''
    [[ $AEMKEYS_REPLY == "${MIGRATE_SUM[$name]}" ]] || aemkeys_fail "/etc/key/$name served after the restart differs from the file"
  done
}

# migrate_delete_properties PORT: removes hmac and master from /etc/key and checks both are gone.
migrate_delete_properties() {
  local port=$1 name manual="the keys are on disk and verified, but they could not be removed from /etc/key"
  aemkeys_http POST "$port" /etc/key "$MIGRATE_AUTH" 'hmac%40Delete=&master%40Delete=' || aemkeys_fail "$manual: AEM did not answer"
  [[ $AEMKEYS_HTTP_STATUS == 200 || $AEMKEYS_HTTP_STATUS == 201 || $AEMKEYS_HTTP_STATUS == 204 ]] \
    || aemkeys_fail "$manual: HTTP $AEMKEYS_HTTP_STATUS; run the migration again or delete them by hand"
  for name in hmac master; do
    migrate_get_file "$port" "$MIGRATE_AUTH" "/etc/key/$name" "$AEMKEYS_READ_MAX" || true
    MIGRATE_B64=''
    [[ $MIGRATE_STATUS == 404 ]] || aemkeys_fail "/etc/key/$name is still there after the delete (HTTP ${MIGRATE_STATUS:-none})"
  done
}

# The migration's parameters, in the order of its data block, each with its check.
MIGRATE_PARAMETERS=(
  'QuickstartDir abs_path'
  'AemUser user'
  'ServiceName unit'
  'AdminSecretId secret_arn'
  'AemPort uint 1 65535'
  'HealthTimeoutSeconds uint 1 3000'
  'HmacBytes uint 1 4096'
  'MasterBytes uint 1 4096'
)

# aemkeys_migrate_main SCRIPT_FILE: the migration's steps (see the top of this file). Until the
# last step, every failure says that /etc/key was left untouched (AEMKEYS_FAIL_NOTE).
aemkeys_migrate_main() {
  aemkeys_begin "$1" "${MIGRATE_PARAMETERS[@]}"
  AEMKEYS_FAIL_NOTE=' (/etc/key left untouched)'
  migrate_check_parameters
  aemkeys_lock "${AEMKEYS_P[QuickstartDir]}"
  aemkeys_locate_crypto_bundles "${AEMKEYS_P[QuickstartDir]}" "$MIGRATE_SERVICE" 'the keys in the bundle folder are not the ones AEM uses'
  MIGRATE_FILE_DIR=$AEMKEYS_FILE_DIR/data MIGRATE_CRYPTO_DIR=$AEMKEYS_CRYPTO_DIR/data
  migrate_read_jcr || return 0
  migrate_install_if_needed
  migrate_wait_healthy "${AEMKEYS_P[AemPort]}" "${AEMKEYS_P[HealthTimeoutSeconds]}"
  migrate_verify "${AEMKEYS_P[AemPort]}" "$MIGRATE_FILE_DIR" "$MIGRATE_CRYPTO_DIR"
  aemkeys_log "verified: files, /etc/key and the running AEM agree: $MIGRATE_FPS"
  # Only now remove the properties from /etc/key.
  MIGRATE_JCR=() AEMKEYS_FAIL_NOTE=''
  migrate_delete_properties "${AEMKEYS_P[AemPort]}"
  aemkeys_log "result: migrated (removed hmac and master from /etc/key)"
}

# migrate_check_parameters
#   Step 1: checks every parameter, opens the tree as AemUser and reads the admin credentials
#   (MIGRATE_AUTH). MIGRATE_SERVICE = the AEM service.
migrate_check_parameters() {
  aemkeys_check_parameters "${MIGRATE_PARAMETERS[@]}"
  MIGRATE_SERVICE=${AEMKEYS_P[ServiceName]}
  aemkeys_open_tree "${AEMKEYS_P[QuickstartDir]}" "${AEMKEYS_P[AemUser]}"
  command -v systemctl >/dev/null 2>&1 || aemkeys_fail "systemctl is not on the PATH"
  aemkeys_admin_auth "${AEMKEYS_P[AdminSecretId]}" "${AEMKEYS_REGION[AdminSecretId]}"
  MIGRATE_AUTH=$AEMKEYS_REPLY
  AEMKEYS_REPLY=''
}

# migrate_install_if_needed
#   Step 4: installs the keys from the JCR (migrate_install, with a restart) unless the key files
#   already hold them and storage is Bundle.
migrate_install_if_needed() {
  if aemkeys_key_files_hold "$MIGRATE_FILE_DIR" "${MIGRATE_SUM[hmac]}" "${MIGRATE_SUM[master]}" \
    && aemkeys_storage_is_bundle "$MIGRATE_CRYPTO_DIR/storage"; then
    aemkeys_log "the key files already hold these keys and storage is Bundle: no restart"
    return 0
  fi
  migrate_install "$MIGRATE_SERVICE" "${AEMKEYS_P[QuickstartDir]}" "$MIGRATE_FILE_DIR" "$MIGRATE_CRYPTO_DIR" \
    "${MIGRATE_JCR[hmac]}" "${MIGRATE_JCR[master]}"
}

# migrate_read_jcr
#   Step 3: cleans up after an interrupted run, then reads both keys from the JCR into
#   MIGRATE_JCR[hmac|master] (base64, in shell variables only; never into a file as root), their
#   sha256 into MIGRATE_SUM and fingerprints into MIGRATE_FPS. Returns 1 (after the result line)
#   when /etc/key holds neither.
migrate_read_jcr() {
  local port=${AEMKEYS_P[AemPort]} k
  aemkeys_ensure_dir "$MIGRATE_FILE_DIR" 0700
  aemkeys_ensure_dir "$MIGRATE_CRYPTO_DIR" 0700
  aemkeys_clean_stale_tmp "${AEMKEYS_P[QuickstartDir]}/crypto-key-backups" "$MIGRATE_FILE_DIR" "$MIGRATE_CRYPTO_DIR"
  declare -gA MIGRATE_JCR=() MIGRATE_SUM=()
  migrate_fetch_key "$port" hmac "${AEMKEYS_P[HmacBytes]}"
  MIGRATE_JCR[hmac]=$MIGRATE_FETCHED
  migrate_fetch_key "$port" master "${AEMKEYS_P[MasterBytes]}"
  MIGRATE_JCR[master]=$MIGRATE_FETCHED
  if [[ -z ${MIGRATE_JCR[hmac]} && -z ${MIGRATE_JCR[master]} ]]; then
    aemkeys_log "result: unchanged (/etc/key holds no hmac or master property: nothing to migrate)"
    return 1
  fi
  [[ -n ${MIGRATE_JCR[hmac]} ]] || aemkeys_fail "/etc/key has master but no hmac"
  [[ -n ${MIGRATE_JCR[master]} ]] || aemkeys_fail "/etc/key has hmac but no master"
  for k in hmac master; do
    aemkeys_sha256_b64 "${MIGRATE_JCR[$k]}"
    MIGRATE_SUM[$k]=$AEMKEYS_REPLY
  done
  MIGRATE_FPS="hmac ${MIGRATE_SUM[hmac]:0:12} master ${MIGRATE_SUM[master]:0:12}"
  aemkeys_log "read from /etc/key: $MIGRATE_FPS"
}

aemkeys_migrate_main "${BASH_SOURCE[0]:-$0}"
exit $?
