#!/bin/bash
# migrate-jcr-keys.sh: moves AEM's crypto keys out of the JCR (/etc/key) into the file system
# (Adobe KB KA-23909). Run by the SSM Command document of lib/migration-document.ts, which
# inlines aem-keys-common.sh between the markers below and appends the parameter data block after
# the final `exit`. Needs bash, coreutils, systemctl and the AWS CLI only; HTTP goes to AEM on
# 127.0.0.1 through bash's /dev/tcp.
#
# Order (any failure before step 8 leaves /etc/key untouched):
#   1 validate parameters, read the admin credentials (Secrets Manager; never argv)
#   2 locate both crypto bundles' data folders (exact symbolic names, shared lookup)
#   3 GET /etc/key/hmac and /etc/key/master (bounded in size and time) into shell variables as
#     base64; check sizes
#   4 when the files differ: back up the current hmac, master and storage; stop AEM; install
#     hmac, master and storage=Bundle atomically; start AEM. Identical files: no restart.
#   5 wait until both crypto bundles are active again (Web Console JSON)
#   6 verify: the files still hold the bytes read (AEM did not replace them), storage is still
#     Bundle, and AEM still serves the same bytes from /etc/key (checksums)
#   7 print fingerprints (first 12 hex digits of SHA-256) only
#   8 delete the two properties (one Sling POST: hmac@Delete, master@Delete) and check both are gone
# Exit status: 0 success (also: nothing to migrate), 1 error.
[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# >>> aem-keys-common.sh
. "${BASH_SOURCE[0]%/*}/aem-keys-common.sh"
# <<< aem-keys-common.sh

# migrate_fail MESSAGE...: fails, saying /etc/key was not touched.
migrate_fail() {
  aemkeys_fail "$* (/etc/key left untouched)"
}

# migrate_get_file PORT AUTH PATH MAX_BYTES
#   GET (aemkeys_http_open, 60 s in all) of a binary: MIGRATE_B64 = base64 of at most MAX_BYTES
#   of the body (a pipe from the socket through head and base64: bash variables cannot hold NUL
#   bytes; bash reads a socket one byte at a time, so after the headers the body is still unread).
#   Headers: at most 64 KiB. Sets MIGRATE_STATUS. Returns 1 when the connection fails, the answer
#   is too slow or too large (also: a Content-Length above MAX_BYTES, however few bytes follow),
#   or the body is shorter than its Content-Length.
migrate_get_file() {
  local max=$4 length=-1 seen=0 want left
  MIGRATE_STATUS='' MIGRATE_B64=''
  aemkeys_http_open GET "$1" "$3" "$2" 60 || return 1
  MIGRATE_STATUS=$AEMKEYS_HTTP_STATUS
  while aemkeys_http_line && [[ -n $AEMKEYS_HTTP_LINE ]]; do
    (( seen += ${#AEMKEYS_HTTP_LINE} + 2 ))
    (( seen <= 65536 )) || { exec {AEMKEYS_HTTP_FD}>&-; return 1; }
    if [[ ${AEMKEYS_HTTP_LINE,,} =~ ^content-length:[[:space:]]*([0-9]{1,12})[[:space:]]*$ ]]; then length=${BASH_REMATCH[1]}; fi
  done
  (( length <= max )) || { exec {AEMKEYS_HTTP_FD}>&-; return 1; }
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
  local port=$1 name=$2 size=$3
  MIGRATE_FETCHED=''
  migrate_get_file "$port" "$MIGRATE_AUTH" "/etc/key/$name" "$size" \
    || migrate_fail "cannot read /etc/key/$name from AEM on 127.0.0.1:$port"
  case $MIGRATE_STATUS in
    200) ;;
    404) MIGRATE_B64=''; return 0 ;;
    401|403) migrate_fail "AEM refused the admin credentials for /etc/key/$name (HTTP $MIGRATE_STATUS)" ;;
    *) migrate_fail "GET /etc/key/$name answered HTTP $MIGRATE_STATUS" ;;
  esac
  aemkeys_b64_len "$MIGRATE_B64"
  (( AEMKEYS_REPLY <= size )) || migrate_fail "/etc/key/$name is larger than $size bytes (parameter ${name^}Bytes)"
  (( AEMKEYS_REPLY == size )) || migrate_fail "/etc/key/$name is $AEMKEYS_REPLY bytes, expected $size (parameter ${name^}Bytes)"
  MIGRATE_FETCHED=$MIGRATE_B64 MIGRATE_B64=''
}

# migrate_install SERVICE QS FILE_DIR CRYPTO_DIR HMAC_B64 MASTER_B64
#   As AemUser: backs up the current files, then (root: stops AEM) writes hmac, master and
#   storage=Bundle atomically, (root: starts AEM, also when a write failed: a stopped AEM is
#   always started again).
migrate_install() {
  local service=$1 qs=$2 file_dir=$3 crypto_dir=$4 f
  local -a existing=()
  systemctl is-active --quiet -- "$service" || migrate_fail "service $service is not active"
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
  trap 'systemctl start -- "$MIGRATE_SERVICE" || true' EXIT
  systemctl stop -- "$service" || migrate_fail "cannot stop $service"
  aemkeys_write_atomic "$file_dir/hmac" 0600 base64 "$5"
  aemkeys_write_atomic "$file_dir/master" 0600 base64 "$6"
  aemkeys_write_atomic "$crypto_dir/storage" 0600 text Bundle
  trap - EXIT
  systemctl start -- "$service" || migrate_fail "cannot start $service"
  aemkeys_log "installed hmac, master and storage=Bundle; restarted $service"
}

# migrate_bundle_active PORT SYMBOLIC_NAME → 0 when the Web Console reports it Active.
migrate_bundle_active() {
  aemkeys_http GET "$1" "/system/console/bundles/$2.json" "$MIGRATE_AUTH" || return 1
  [[ $AEMKEYS_HTTP_STATUS == 200 ]] || return 1
  [[ $AEMKEYS_HTTP_BODY =~ \"symbolicName\"[[:space:]]*:[[:space:]]*\"$2\" ]] || return 1
  [[ $AEMKEYS_HTTP_BODY =~ \"state\"[[:space:]]*:[[:space:]]*\"Active\" ]]
}

# migrate_wait_healthy PORT TIMEOUT: both crypto bundles active within TIMEOUT seconds, or fails.
migrate_wait_healthy() {
  local port=$1 timeout=$2 deadline=$(( SECONDS + $2 ))
  until migrate_bundle_active "$port" com.adobe.granite.crypto.file && migrate_bundle_active "$port" com.adobe.granite.crypto; do
    (( SECONDS < deadline )) || migrate_fail "AEM did not come back with both crypto bundles active within ${timeout}s"
    sleep $(( timeout < 10 ? 1 : 5 ))
  done
}

# migrate_verify PORT FILE_DIR CRYPTO_DIR: the files, storage and what AEM serves from /etc/key agree.
migrate_verify() {
  local port=$1 file_dir=$2 crypto_dir=$3 name want
  aemkeys_key_files_hold "$file_dir" MIGRATE_SUM_ || migrate_fail "$AEMKEYS_REPLY on disk changed after the restart"
  aemkeys_storage_is_bundle "$crypto_dir/storage" || migrate_fail "storage is no longer Bundle after the restart"
  for name in hmac master; do
    want=MIGRATE_SUM_$name
    migrate_get_file "$port" "$MIGRATE_AUTH" "/etc/key/$name" "$AEMKEYS_READ_MAX" && [[ $MIGRATE_STATUS == 200 ]] \
      || migrate_fail "cannot read /etc/key/$name again after the restart (HTTP ${MIGRATE_STATUS:-none})"
    aemkeys_sha256_b64 "$MIGRATE_B64"
    MIGRATE_B64=''
    [[ $AEMKEYS_REPLY == "${!want}" ]] || migrate_fail "/etc/key/$name served after the restart differs from the file"
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

aemkeys_migrate_main() {
  local self=$1
  set -o pipefail
  umask 077
  aemkeys_require_bash
  aemkeys_load_data_block "$self" QuickstartDir AemUser ServiceName AdminSecretId AemPort HealthTimeoutSeconds HmacBytes MasterBytes

  # 1. Parameters and credentials.
  local qs user=$AEMKEYS_P_AemUser port=$AEMKEYS_P_AemPort admin_region
  aemkeys_check_abs_path QuickstartDir "$AEMKEYS_P_QuickstartDir"
  qs=$AEMKEYS_REPLY
  aemkeys_check_unit ServiceName "$AEMKEYS_P_ServiceName"
  MIGRATE_SERVICE=$AEMKEYS_P_ServiceName
  aemkeys_check_secret_arn AdminSecretId "$AEMKEYS_P_AdminSecretId"
  admin_region=$AEMKEYS_REPLY
  aemkeys_check_uint AemPort "$port" 1 65535
  aemkeys_check_uint HealthTimeoutSeconds "$AEMKEYS_P_HealthTimeoutSeconds" 1 3000
  aemkeys_check_uint HmacBytes "$AEMKEYS_P_HmacBytes" 1 4096
  aemkeys_check_uint MasterBytes "$AEMKEYS_P_MasterBytes" 1 4096
  aemkeys_check_user AemUser "$user"
  aemkeys_user_init "$user"
  aemkeys_as_user aemkeys_u_isdir "$qs" </dev/null 2>/dev/null || migrate_fail "QuickstartDir $qs is not a directory $user can open"
  command -v systemctl >/dev/null 2>&1 || migrate_fail "systemctl is not on the PATH"
  aemkeys_admin_auth "$AEMKEYS_P_AdminSecretId" "$admin_region"
  MIGRATE_AUTH=$AEMKEYS_REPLY
  AEMKEYS_REPLY=''

  # 2. Locate the bundles.
  local file_dir crypto_dir
  if aemkeys_keys_path_override "$qs" "$MIGRATE_SERVICE"; then
    migrate_fail "AEM reads its keys from elsewhere: $AEMKEYS_REPLY; the keys in the bundle folder are not the ones AEM uses"
  fi
  aemkeys_felix_dir "$qs"
  aemkeys_scan_bundles "$AEMKEYS_REPLY"
  aemkeys_find_bundle com.adobe.granite.crypto.file
  file_dir=$AEMKEYS_BUNDLE_DIR/data
  aemkeys_find_bundle com.adobe.granite.crypto
  crypto_dir=$AEMKEYS_BUNDLE_DIR/data

  # 3. Read the keys from the JCR (into shell variables, as base64; never into a file as root).
  aemkeys_ensure_dir "$file_dir" 0700
  aemkeys_ensure_dir "$crypto_dir" 0700
  aemkeys_clean_stale_tmp "$qs/crypto-key-backups" "$file_dir" "$crypto_dir"
  local jcr_hmac jcr_master
  migrate_fetch_key "$port" hmac "$AEMKEYS_P_HmacBytes"
  jcr_hmac=$MIGRATE_FETCHED
  migrate_fetch_key "$port" master "$AEMKEYS_P_MasterBytes"
  jcr_master=$MIGRATE_FETCHED
  if [[ -z $jcr_hmac && -z $jcr_master ]]; then
    aemkeys_log "result: unchanged (/etc/key holds no hmac or master property: nothing to migrate)"
    return 0
  fi
  [[ -n $jcr_hmac ]] || migrate_fail "/etc/key has master but no hmac"
  [[ -n $jcr_master ]] || migrate_fail "/etc/key has hmac but no master"
  aemkeys_sha256_b64 "$jcr_hmac"
  MIGRATE_SUM_hmac=$AEMKEYS_REPLY
  aemkeys_sha256_b64 "$jcr_master"
  MIGRATE_SUM_master=$AEMKEYS_REPLY
  local fps="hmac ${MIGRATE_SUM_hmac:0:12} master ${MIGRATE_SUM_master:0:12}"
  aemkeys_log "read from /etc/key: $fps"

  # 4. Install the files (restart only when something differs).
  if aemkeys_key_files_hold "$file_dir" MIGRATE_SUM_ && aemkeys_storage_is_bundle "$crypto_dir/storage"; then
    aemkeys_log "the key files already hold these keys and storage is Bundle: no restart"
  else
    migrate_install "$MIGRATE_SERVICE" "$qs" "$file_dir" "$crypto_dir" "$jcr_hmac" "$jcr_master"
  fi

  # 5-7. Wait until healthy, verify, report.
  migrate_wait_healthy "$port" "$AEMKEYS_P_HealthTimeoutSeconds"
  migrate_verify "$port" "$file_dir" "$crypto_dir"
  aemkeys_log "verified: files, /etc/key and the running AEM agree: $fps"

  # 8. Only now remove the properties from /etc/key.
  jcr_hmac='' jcr_master=''
  migrate_delete_properties "$port"
  aemkeys_log "result: migrated (removed hmac and master from /etc/key)"
  return 0
}

aemkeys_migrate_main "${BASH_SOURCE[0]:-$0}"
exit $?
