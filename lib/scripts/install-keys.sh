#!/bin/bash
# install-keys.sh: puts the AEM crypto keys (hmac, master), `storage` and the token handler
# config in place on one instance. Run by the SSM Command document of lib/installer-document.ts,
# which inlines the modules' functions it uses between the markers below and appends the data
# block holding the parameters after the final `exit` (bash never parses it). Docs:
# docs/installer.md. Exit status: 0 success, 1 error (nothing changed when the input was bad),
# 3 Mode=verify found a mismatch.
#
# The run, step by step (install_run): check the parameters; locate the crypto bundles; read the
# secret's keys; compare them, `storage` and the token handler config with the instance's; in
# Mode=verify report and stop; decide (OnKeyMismatch); back up, write and check what differs;
# restart, refresh or start AEM only when needed.
[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# >>> modules
# shellcheck source-path=SCRIPTDIR source=aem-keys-common.sh
. "${BASH_SOURCE[0]%/*}/aem-keys-common.sh"
# <<< modules

AEMKEYS_REFRESH_TIMEOUT=300
# What `storage` holds on an instance whose keys are still in the JCR (AEM upgraded from 6.2 or
# older, KB KA-23909), in base64 as aemkeys_probe gives it (AEMKEYS_BUNDLE_B64): the bytes "JCR".
AEMKEYS_JCR_B64=SkNS

# aemkeys_refresh_bundles PORT AUTH ID...
#   POSTs action=refresh for each bundle id to the Web Console on 127.0.0.1:PORT, then polls
#   /system/console/bundles/ID.json until each is Active (at most AEMKEYS_REFRESH_TIMEOUT s).
aemkeys_refresh_bundles() {
  local port=$1 auth=$2 id deadline but='the keys were written, but'
  shift 2
  for id in "$@"; do
    aemkeys_http POST "$port" "/system/console/bundles/$id" "$auth" 'action=refresh' \
      || aemkeys_fail "$but the Web Console on 127.0.0.1:$port did not answer the refresh of bundle $id"
    [[ $AEMKEYS_HTTP_STATUS == [23]?? ]] || aemkeys_fail "$but the Web Console refused the refresh of bundle $id: HTTP $AEMKEYS_HTTP_STATUS"
  done
  deadline=$(( SECONDS + AEMKEYS_REFRESH_TIMEOUT ))
  for id in "$@"; do
    while :; do
      if aemkeys_http GET "$port" "/system/console/bundles/$id.json" "$auth" \
        && [[ $AEMKEYS_HTTP_STATUS == 200 && $AEMKEYS_HTTP_BODY =~ \"state\"[[:space:]]*:[[:space:]]*\"Active\" ]]; then
        break
      fi
      (( SECONDS < deadline )) || aemkeys_fail "$but bundle $id was not Active within $AEMKEYS_REFRESH_TIMEOUT s after the refresh"
      sleep 1
    done
  done
}

# Which secret installed the keys (issue 19): its ARN, never key material, in a root-only folder
# outside the AEM tree (the AEM user can neither forge nor remove it), one file per QuickstartDir:
# AEMKEYS_RECORD_DIR/<sha256 of QuickstartDir>, beside the run's lock (aemkeys_lock).

# aemkeys_record_read FILE: AEMKEYS_REPLY = the secret ARN recorded in FILE, or empty. Fails on a
# record that is not a root-owned regular file in a root-owned folder holding one ARN.
aemkeys_record_read() {
  local d=${1%/*} arn=''
  AEMKEYS_REPLY=''
  [[ -d $d && ! -L $d && -O $d ]] || aemkeys_fail "$d is not a folder owned by root: remove it"
  [[ -e $1 || -L $1 ]] || return 0
  if ! [[ -f $1 && ! -L $1 && -O $1 ]] || ! read -r -n 600 arn < "$1" || ! [[ $arn =~ $AEMKEYS_ARN_RE ]]; then
    aemkeys_fail "$1 (which secret installed the keys) is unreadable: remove it"
  fi
  AEMKEYS_REPLY=$arn
}

# aemkeys_record_write FILE ARN: writes ARN to FILE (root only, 0600) through a temp file and rename
# (its folder made by aemkeys_lock; the lock keeps other runs from the temp file).
aemkeys_record_write() {
  if ! printf '%s\n' "$2" > "$1.tmp" || ! mv -f -- "$1.tmp" "$1"; then
    aemkeys_fail "the keys were written, but $1 was not"
  fi
}

# aemkeys_same_secret ARN1 ARN2: 0 when both name the same secret: partition, account and name
# alike (a replica's ARN differs in the region only: Secrets Manager User Guide, "Replicate
# secrets across Regions").
aemkeys_same_secret() {
  local a
  [[ $1 =~ $AEMKEYS_ARN_RE ]] && a="${BASH_REMATCH[1]} ${BASH_REMATCH[4]} ${BASH_REMATCH[5]}"
  [[ $2 =~ $AEMKEYS_ARN_RE && $a == "${BASH_REMATCH[1]} ${BASH_REMATCH[4]} ${BASH_REMATCH[5]}" ]]
}

# The installer's parameters, in the order of its data block, each with its check
# (aemkeys_check_parameters; LogGroupName: aemkeys_logged).
INSTALL_PARAMETERS=(
  'SecretId secret_arn'
  'QuickstartDir abs_path'
  'AemUser user'
  'EncapsulatedToken enum true false'
  'Mode enum install verify'
  'OnKeyMismatch enum replace fail replace-fresh'
  'Restart enum none service bundles'
  'ServiceName unit'
  'StartAfterInstall enum true false'
  'AdminSecretId secret_arn optional'
  'AemPort uint 1 65535'
  'FreshKeyMinutes uint 1 5256000'
  'HmacBytes uint 1 4096'
  'MasterBytes uint 1 4096'
  'LogGroupName'
)

# aemkeys_install_main SCRIPT_FILE
#   Reads the parameters; with LogGroupName, runs install_run with its output sent to that group
#   (aemkeys_logged; the region is the SSM agent's, the association's), else runs it as it is.
aemkeys_install_main() {
  aemkeys_begin "$1" "${INSTALL_PARAMETERS[@]}"
  aemkeys_check_secret_arn SecretId "${AEMKEYS_P[SecretId]}"
  if [[ -n ${AEMKEYS_P[LogGroupName]} ]]; then
    aemkeys_logged "${AEMKEYS_P[LogGroupName]}" "${AWS_SSM_REGION_NAME:-$AEMKEYS_REPLY}" install_run
    return
  fi
  install_run
}

# install_run: the installer's steps. Returns 0, or 3 when Mode=verify found a mismatch.
install_run() {
  install_check_parameters
  install_lock
  install_locate
  install_read_secret
  install_compare
  if [[ ${AEMKEYS_P[Mode]} == verify ]]; then
    install_verify
    return
  fi
  install_decide
  install_prepare
  install_write_keys
  install_check_written
  install_write_token
  aemkeys_print_lines "${INSTALL_OUT[@]}"
  install_restart
}

# install_check_parameters
#   Checks every parameter (nothing is touched yet) and opens the tree as AemUser. Sets
#   INSTALL_RUNNING (Mode=install: install_service_state).
install_check_parameters() {
  aemkeys_check_parameters "${INSTALL_PARAMETERS[@]}"
  [[ ${AEMKEYS_P[Restart]} == bundles && -z ${AEMKEYS_P[AdminSecretId]} ]] \
    && aemkeys_fail "Restart=bundles needs AdminSecretId (a secret holding an AEM admin's {\"username\",\"password\"})"
  aemkeys_open_tree "${AEMKEYS_P[QuickstartDir]}" "${AEMKEYS_P[AemUser]}"
  INSTALL_RUNNING=false
  [[ ${AEMKEYS_P[Mode]} == install ]] || return 0
  if command -v systemctl >/dev/null 2>&1; then
    install_service_state
  elif [[ ${AEMKEYS_P[Restart]} != none || ${AEMKEYS_P[StartAfterInstall]} == true ]]; then
    aemkeys_fail "systemctl not found: use Restart=none and StartAfterInstall=false on hosts without systemd"
  fi
  return 0
}

# install_service_state
#   INSTALL_RUNNING = true unless systemd has ServiceName inactive or failed (an AEM activating or
#   reloading reads its keys now). Fails, nothing touched yet, when systemd has no such unit, unless
#   Restart=none and StartAfterInstall=false (the run then never uses the name).
install_service_state() {
  local unit=${AEMKEYS_P[ServiceName]}
  aemkeys_capture systemctl show -p LoadState -p ActiveState -- "$unit"
  [[ $AEMKEYS_OUT =~ ActiveState=(inactive|failed) ]] || INSTALL_RUNNING=true
  [[ $AEMKEYS_OUT == *LoadState=loaded* || ${AEMKEYS_P[Restart]}${AEMKEYS_P[StartAfterInstall]} == nonefalse ]] \
    || aemkeys_fail "ServiceName: systemd has no unit $unit"
}

# install_lock
#   One run at a time on this QuickstartDir (aemkeys_lock), from here to the script's exit.
#   INSTALL_RECORD = the file that records which secret installed the keys.
install_lock() {
  aemkeys_lock "${AEMKEYS_P[QuickstartDir]}"
  INSTALL_RECORD=$AEMKEYS_RECORD_DIR/$AEMKEYS_REPLY
}

# install_locate
#   The crypto bundles (aemkeys_locate_crypto_bundles) and the files this script manages:
#   INSTALL_FILE[hmac|master|storage|token], in INSTALL_KEYDIR, INSTALL_STOREDIR and
#   INSTALL_TOKEN_DIR. Starts INSTALL_OUT, the summary's lines.
install_locate() {
  local qs=${AEMKEYS_P[QuickstartDir]}
  aemkeys_locate_crypto_bundles "$qs" "${AEMKEYS_P[ServiceName]}" \
    'the keys in the bundle folder would be ignored (remove that setting, or put the keys there yourself)'
  INSTALL_KEYDIR=$AEMKEYS_FILE_DIR/data INSTALL_STOREDIR=$AEMKEYS_CRYPTO_DIR/data INSTALL_TOKEN_DIR=$qs/install
  declare -gA INSTALL_FILE=([hmac]=$INSTALL_KEYDIR/hmac [master]=$INSTALL_KEYDIR/master [storage]=$INSTALL_STOREDIR/storage
    [token]=$INSTALL_TOKEN_DIR/$AEMKEYS_TOKEN_PID.config)
  INSTALL_OUT=("bundles: com.adobe.granite.crypto.file=${AEMKEYS_FILE_DIR##*/} com.adobe.granite.crypto=${AEMKEYS_CRYPTO_DIR##*/}")
}

# install_read_secret
#   Reads, decodes and checks the keys (aemkeys_secret_key: AEMKEYS_KEY, AEMKEYS_SHA).
install_read_secret() {
  aemkeys_get_secret_string "${AEMKEYS_P[SecretId]}" "${AEMKEYS_REGION[SecretId]}"
  if ! aemkeys_json_object "$AEMKEYS_SECRET"; then
    AEMKEYS_SECRET=''
    aemkeys_fail "the secret ${AEMKEYS_P[SecretId]} is not a JSON object"
  fi
  AEMKEYS_SECRET=''
  aemkeys_secret_key hmac "${AEMKEYS_P[HmacBytes]}"
  aemkeys_secret_key master "${AEMKEYS_P[MasterBytes]}"
  AEMKEYS_JSON=()
}

# install_state NAME MODE WANT_BASE64 [WANT_SHA]
#   Compares INSTALL_FILE[NAME] (read as AemUser: aemkeys_probe) with the bytes WANT_BASE64
#   encodes: INSTALL_ST[NAME] = absent|same|differs, INSTALL_MTIME[NAME] its time, and
#   INSTALL_FIX[NAME] its owner and mode when the content is right but they are not AemUser's and
#   MODE (rewriting the same bytes fixes them). The probe's base64 is canonical (base64 -w 0), so
#   equal bytes give equal text when WANT_BASE64 is canonical too. A key's base64 comes from the
#   secret and may not be: for the keys, WANT_SHA (sha256 hex of the bytes) decides when the texts
#   differ, and INSTALL_OLDFP[NAME] is the file's fingerprint.
install_state() {
  local name=$1 mode=$2 want_b64=$3 want_sha=${4:-} sha=''
  aemkeys_probe "${INSTALL_FILE[$name]}"
  INSTALL_ST[$name]=absent
  if [[ $AEMKEYS_PROBE == file ]]; then
    INSTALL_ST[$name]=differs
    if [[ $AEMKEYS_PROBE_B64 == "$want_b64" ]]; then
      INSTALL_ST[$name]=same sha=$want_sha
    elif [[ -n $want_sha ]]; then
      aemkeys_sha256_b64 "$AEMKEYS_PROBE_B64"
      sha=$AEMKEYS_REPLY
      [[ $sha == "$want_sha" ]] && INSTALL_ST[$name]=same
    fi
  fi
  INSTALL_OLDFP[$name]=${sha:0:12}
  INSTALL_MTIME[$name]=$AEMKEYS_PROBE_MTIME
  [[ ${INSTALL_ST[$name]} == same && $AEMKEYS_PROBE_OM != "${AEMKEYS_P[AemUser]} $mode" ]] && INSTALL_FIX[$name]=$AEMKEYS_PROBE_OM
  return 0
}

# install_compare
#   install_state of hmac, master, storage and (EncapsulatedToken=true) the token handler config
#   (INSTALL_TOKEN_TEXT, from the document; INSTALL_TOKEN_B64, its base64), with the other files
#   configuring its PID (aemkeys_token_others: AEMKEYS_OTHERS, AEMKEYS_OTHERS_SHOW); INSTALL_ST[token]
#   = unmanaged otherwise. INSTALL_OLDFP[storage] = what a differing storage says. Then which secret
#   installed the instance's keys, from INSTALL_RECORD (install_lock): INSTALL_RECORD_WAS (the ARN
#   it holds, or empty) and INSTALL_RECORDED (that ARN when it names another secret).
install_compare() {
  declare -gA INSTALL_ST=([token]=unmanaged) INSTALL_OLDFP=() INSTALL_FIX=() INSTALL_MTIME=()
  install_state hmac 600 "${AEMKEYS_KEY[hmac]}" "${AEMKEYS_SHA[hmac]}"
  install_state master 600 "${AEMKEYS_KEY[master]}" "${AEMKEYS_SHA[master]}"
  install_state storage 600 "$AEMKEYS_BUNDLE_B64"
  # What a differing storage says: JCR (an upgraded instance's) or other content.
  [[ ${INSTALL_ST[storage]} == differs ]] && INSTALL_OLDFP[storage]='other content'
  [[ $AEMKEYS_PROBE_B64 == "$AEMKEYS_JCR_B64" ]] && INSTALL_OLDFP[storage]=JCR
  AEMKEYS_PROBE_B64='' INSTALL_TOKEN_TEXT='' INSTALL_TOKEN_B64='' AEMKEYS_OTHERS=() AEMKEYS_OTHERS_SHOW=()
  if [[ ${AEMKEYS_P[EncapsulatedToken]} == true ]]; then
    INSTALL_TOKEN_TEXT=${AEMKEYS_STATIC[token-config]:-}
    [[ -n $INSTALL_TOKEN_TEXT ]] || aemkeys_fail "the document carries no token handler config"
    INSTALL_TOKEN_B64=$(printf '%s' "$INSTALL_TOKEN_TEXT" | base64 -w 0) || aemkeys_fail "cannot encode the token handler config"
    install_state token 644 "$INSTALL_TOKEN_B64"
    aemkeys_token_others "$INSTALL_TOKEN_DIR" "$AEMKEYS_TOKEN_PID" "${INSTALL_FILE[token]}"
  fi
  aemkeys_record_read "$INSTALL_RECORD"
  INSTALL_RECORD_WAS=$AEMKEYS_REPLY INSTALL_RECORDED=$AEMKEYS_REPLY
  aemkeys_same_secret "$INSTALL_RECORDED" "${AEMKEYS_P[SecretId]}" && INSTALL_RECORDED=''
  [[ -n $INSTALL_RECORDED ]] && INSTALL_OUT+=("key set: the instance's keys were installed from $INSTALL_RECORDED")
  return 0
}

# install_verify
#   Mode=verify: prints what the instance has (nothing changes). Returns 0 when the keys and
#   storage are the secret's, else 3.
install_verify() {
  local ok=true k fp f
  local -A token=([same]=ok [differs]=differs [absent]=missing [unmanaged]='not managed (EncapsulatedToken=false)')
  for k in hmac master storage; do
    fp="${AEMKEYS_SHA[$k]:0:12} "
    [[ $k == storage ]] && fp=''
    case ${INSTALL_ST[$k]} in
      same) INSTALL_OUT+=("$k: ${fp:-Bundle }ok") ;;
      differs) INSTALL_OUT+=("$k: ${fp}differs (instance has ${INSTALL_OLDFP[$k]})"); ok=false ;;
      absent) INSTALL_OUT+=("$k: ${fp}missing on the instance"); ok=false ;;
    esac
  done
  INSTALL_OUT+=("token config: ${token[${INSTALL_ST[token]}]}")
  for f in "${AEMKEYS_OTHERS_SHOW[@]}"; do
    INSTALL_OUT+=("token config: $f also configures the PID (install mode backs it up and removes it)")
  done
  if [[ ${AEMKEYS_P[EncapsulatedToken]} == true && -z ${AEMKEYS_P[AdminSecretId]} ]]; then
    INSTALL_OUT+=("token in AEM: not checked (no AdminSecretId)")
  elif [[ ${AEMKEYS_P[EncapsulatedToken]} == true ]]; then
    aemkeys_admin_auth "${AEMKEYS_P[AdminSecretId]}" "${AEMKEYS_REGION[AdminSecretId]}"
    aemkeys_token_effective "${AEMKEYS_P[AemPort]}" "$AEMKEYS_REPLY" "$AEMKEYS_TOKEN_PID" "${INSTALL_FILE[token]}"
    INSTALL_OUT+=("token in AEM: $AEMKEYS_REPLY")
  fi
  aemkeys_print_lines "${INSTALL_OUT[@]}"
  if [[ $ok == true ]]; then
    aemkeys_log "result: verified (the instance has the secret's keys; Mode=verify changed nothing)"
    return 0
  fi
  aemkeys_log "result: mismatch (Mode=verify changed nothing)"
  return 3
}

# install_decide
#   Applies OnKeyMismatch when a key on the instance differs from the secret's (fail: refused
#   before anything is touched; keys another key set installed are never replaced silently;
#   replace-fresh: only AEM's own first-start keys). Sets INSTALL_FRESH_NOTE, INSTALL_KEY_CHANGE
#   (true when a key file or storage changes) and INSTALL_AUTH (Restart=bundles credentials, read
#   before anything is touched).
install_decide() {
  local on_mismatch=${AEMKEYS_P[OnKeyMismatch]} other
  other="the instance has other keys (hmac ${INSTALL_OLDFP[hmac]:-missing}, master ${INSTALL_OLDFP[master]:-missing})"
  [[ ${INSTALL_ST[hmac]} == differs || ${INSTALL_ST[master]} == differs ]] || on_mismatch=none
  [[ -n $INSTALL_RECORDED && $on_mismatch != none ]] \
    && aemkeys_fail "$other, installed from secret $INSTALL_RECORDED, not from ${AEMKEYS_P[SecretId]}: nothing changed." \
      "To replace them deliberately, remove $INSTALL_RECORD first"
  [[ $on_mismatch == fail ]] && aemkeys_fail "$other and OnKeyMismatch=fail: nothing changed"
  INSTALL_FRESH_NOTE=''
  [[ $on_mismatch == replace-fresh ]] && install_check_fresh "$other"
  INSTALL_KEY_CHANGE=false
  [[ ${INSTALL_ST[hmac]} != same || ${INSTALL_ST[master]} != same || ${INSTALL_ST[storage]} != same ]] && INSTALL_KEY_CHANGE=true
  INSTALL_AUTH=''
  if [[ $INSTALL_KEY_CHANGE == true && $INSTALL_RUNNING == true && ${AEMKEYS_P[Restart]} == bundles ]]; then
    aemkeys_admin_auth "${AEMKEYS_P[AdminSecretId]}" "${AEMKEYS_REGION[AdminSecretId]}"
    INSTALL_AUTH=$AEMKEYS_REPLY
    AEMKEYS_REPLY=''
  fi
}

# install_check_fresh OTHER_KEYS
#   OnKeyMismatch=replace-fresh: fails unless every key file on the instance was modified less
#   than FreshKeyMinutes ago (older keys may protect encrypted data); sets INSTALL_FRESH_NOTE.
install_check_fresh() {
  local now age=0 k minutes=${AEMKEYS_P[FreshKeyMinutes]}
  printf -v now '%(%s)T' -1
  for k in hmac master; do
    [[ ${INSTALL_ST[$k]} != absent ]] && (( now - INSTALL_MTIME[$k] > age )) && age=$(( now - INSTALL_MTIME[$k] ))
  done
  (( age >= minutes * 60 )) && aemkeys_fail "$1, last changed $(( age / 60 )) minutes ago: not AEM's first-start keys" \
    "(OnKeyMismatch=replace-fresh, FreshKeyMinutes=$minutes), they may protect encrypted data: nothing changed." \
    "To replace them after a backup, run with OnKeyMismatch=replace (construct option onKeyMismatch: OnKeyMismatch.REPLACE)"
  INSTALL_FRESH_NOTE="keys: the replaced keys were $(( age / 60 )) minutes old, AEM's first-start keys"
  INSTALL_FRESH_NOTE+=" (OnKeyMismatch=replace-fresh, FreshKeyMinutes=$minutes)"
}

# install_prepare
#   Every folder written must be one AemUser can write (checked as that user); then cleans up
#   after an interrupted run (INSTALL_CLEANED = how many leftovers) and backs up what is replaced
#   (INSTALL_BACKUP = the backup folder, or empty).
install_prepare() {
  local f qs=${AEMKEYS_P[QuickstartDir]}
  local -a dirs=("$INSTALL_KEYDIR" "$INSTALL_STOREDIR" "$qs/crypto-key-backups") to_backup=()
  [[ ${INSTALL_ST[token]} == absent || ${INSTALL_ST[token]} == differs || -n ${INSTALL_FIX[token]:-} ]] && dirs+=("$INSTALL_TOKEN_DIR")
  for f in "${AEMKEYS_OTHERS[@]}"; do dirs+=("${f%/*}"); done
  aemkeys_require_writable "${dirs[@]}"
  aemkeys_clean_stale_tmp "$qs/crypto-key-backups" "$INSTALL_KEYDIR" "$INSTALL_STOREDIR" "$INSTALL_TOKEN_DIR"
  INSTALL_CLEANED=$AEMKEYS_REPLY
  for f in hmac master storage; do
    [[ ${INSTALL_ST[$f]} == differs ]] && to_backup+=("${INSTALL_FILE[$f]}")
  done
  to_backup+=("${AEMKEYS_OTHERS[@]}")
  INSTALL_BACKUP=''
  if (( ${#to_backup[@]} > 0 )); then
    aemkeys_backup "$qs" "${to_backup[@]}"
    INSTALL_BACKUP=$AEMKEYS_REPLY
  fi
}

# install_write NAME MODE KIND DATA
#   Writes INSTALL_FILE[NAME] with MODE (aemkeys_write_atomic, KIND base64 or text) when its content
#   differs from the secret's or its owner or mode does; INSTALL_CHANGED = true then.
install_write() {
  [[ ${INSTALL_ST[$1]} != same || -n ${INSTALL_FIX[$1]:-} ]] || return 0
  aemkeys_write_atomic "${INSTALL_FILE[$1]}" "$2" "$3" "$4"
  INSTALL_CHANGED=true
}

# install_write_keys
#   Writes hmac, master and storage where needed (install_write), atomically; adds their lines to
#   INSTALL_OUT.
install_write_keys() {
  local k fp fix
  INSTALL_CHANGED=false
  # A file found in place (same) has its folder: only a file to write may need one.
  [[ ${INSTALL_ST[hmac]} == same && ${INSTALL_ST[master]} == same ]] || aemkeys_ensure_dir "$INSTALL_KEYDIR" 0700
  [[ ${INSTALL_ST[storage]} == same ]] || aemkeys_ensure_dir "$INSTALL_STOREDIR" 0700
  install_write hmac 0600 base64 "${AEMKEYS_KEY[hmac]}"
  install_write master 0600 base64 "${AEMKEYS_KEY[master]}"
  install_write storage 0600 text Bundle
  for k in hmac master storage; do
    fix=${INSTALL_FIX[$k]:-} fp=${AEMKEYS_SHA[$k]:0:12}
    [[ $k == storage ]] && fp=Bundle
    case ${INSTALL_ST[$k]} in
      same) INSTALL_OUT+=("$k: $fp unchanged${fix:+ (owner/mode fixed, was $fix)}") ;;
      absent) INSTALL_OUT+=("$k: $fp written") ;;
      differs) INSTALL_OUT+=("$k: $fp replaced (was ${INSTALL_OLDFP[$k]})") ;;
    esac
  done
  [[ -n $INSTALL_BACKUP ]] && INSTALL_OUT+=("backup: $INSTALL_BACKUP")
  [[ -n $INSTALL_FRESH_NOTE ]] && INSTALL_OUT+=("$INSTALL_FRESH_NOTE")
  return 0
}

# install_check_written
#   Verifies what landed on disk when install_write_keys wrote anything (when it wrote nothing,
#   install_compare has just read these bytes), then records which secret installed the keys.
install_check_written() {
  if [[ $INSTALL_CHANGED == true ]]; then
    aemkeys_key_files_hold "$INSTALL_KEYDIR" "${AEMKEYS_SHA[hmac]}" "${AEMKEYS_SHA[master]}" \
      || aemkeys_fail "$INSTALL_KEYDIR/$AEMKEYS_REPLY does not hold the secret's $AEMKEYS_REPLY after writing"
    aemkeys_storage_is_bundle "${INSTALL_FILE[storage]}" || aemkeys_fail "${INSTALL_FILE[storage]} does not hold Bundle after writing"
  fi
  [[ $INSTALL_RECORD_WAS == "${AEMKEYS_P[SecretId]}" ]] || aemkeys_record_write "$INSTALL_RECORD" "${AEMKEYS_P[SecretId]}"
}

# install_write_token
#   The token handler config (applied by the Sling installer; no restart needed for it): written
#   when it differs; the other files configuring its PID removed (backed up by install_prepare).
install_write_token() {
  local i fix=${INSTALL_FIX[token]:-} file=${INSTALL_FILE[token]}
  local -A said=([unmanaged]='not managed (EncapsulatedToken=false)' [absent]="written $file" [differs]="replaced $file"
    [same]="unchanged $file${fix:+ (owner/mode fixed, was $fix)}")
  if [[ ${INSTALL_ST[token]} != unmanaged ]]; then
    [[ ${INSTALL_ST[token]} == same ]] || aemkeys_ensure_dir "$INSTALL_TOKEN_DIR" 0755
    install_write token 0644 base64 "$INSTALL_TOKEN_B64"
  fi
  INSTALL_OUT+=("token config: ${said[${INSTALL_ST[token]}]}")
  for i in "${!AEMKEYS_OTHERS[@]}"; do
    aemkeys_user_out rm -f -- "${AEMKEYS_OTHERS[i]}"
    [[ $AEMKEYS_RC == 0 ]] || aemkeys_fail "cannot remove ${AEMKEYS_OTHERS_SHOW[i]} as ${AEMKEYS_P[AemUser]}"
    INSTALL_OUT+=("token config: removed ${AEMKEYS_OTHERS_SHOW[i]} (it configured the PID too; backed up)")
    INSTALL_CHANGED=true
  done
  (( INSTALL_CLEANED > 0 )) && INSTALL_OUT+=("cleanup: removed $INSTALL_CLEANED leftover(s) of an interrupted run")
  return 0
}

# install_restart
#   Restarts, refreshes or starts AEM only when needed, then prints the result.
install_restart() {
  local service=${AEMKEYS_P[ServiceName]} but='the keys were written, but'
  if [[ $INSTALL_KEY_CHANGE != true ]]; then
    aemkeys_log "restart: not needed (no key file changed)"
  elif [[ $INSTALL_RUNNING != true ]]; then
    aemkeys_log "restart: not needed (AEM is not running)"
  else
    case ${AEMKEYS_P[Restart]} in
      none) aemkeys_log "restart: none (Restart=none: the running AEM keeps the old keys until it restarts)" ;;
      service)
        systemctl restart -- "$service" || aemkeys_fail "$but systemctl restart $service failed"
        aemkeys_log "restart: service $service restarted"
        ;;
      bundles)
        aemkeys_refresh_bundles "${AEMKEYS_P[AemPort]}" "$INSTALL_AUTH" "$AEMKEYS_FILE_ID" "$AEMKEYS_CRYPTO_ID"
        INSTALL_AUTH=''
        aemkeys_log "restart: bundles $AEMKEYS_FILE_ID (com.adobe.granite.crypto.file) and $AEMKEYS_CRYPTO_ID" \
          "(com.adobe.granite.crypto) refreshed and active"
        ;;
    esac
    INSTALL_CHANGED=true
  fi
  if [[ ${AEMKEYS_P[StartAfterInstall]} == true && $INSTALL_RUNNING != true ]]; then
    systemctl start -- "$service" || aemkeys_fail "systemctl start $service failed (StartAfterInstall=true)"
    aemkeys_log "start: service $service started (StartAfterInstall=true)"
    INSTALL_CHANGED=true
  fi
  if [[ $INSTALL_CHANGED == true ]]; then
    aemkeys_log "result: changed"
  else
    aemkeys_log "result: unchanged (nothing to do)"
  fi
}

aemkeys_install_main "${BASH_SOURCE[0]:-$0}"
exit $?
