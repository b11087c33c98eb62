#!/bin/bash
# install-keys.sh: puts the AEM crypto keys (hmac, master), `storage` and the token handler
# config in place on one instance. Run by the SSM Command document of lib/installer-document.ts,
# which inlines aem-keys-common.sh between the markers below and appends the data block holding
# the parameters after the final `exit` (bash never parses it). Docs: README, "Installer document".
# Exit status: 0 success, 1 error (nothing changed when the input was bad), 3 Mode=verify found
# a mismatch.
[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# >>> aem-keys-common.sh
. "${BASH_SOURCE[0]%/*}/aem-keys-common.sh"
# <<< aem-keys-common.sh

AEMKEYS_TOKEN_PID='com.day.crx.security.token.impl.impl.TokenAuthenticationHandler'
AEMKEYS_REFRESH_TIMEOUT=300
AEMKEYS_OTHERS_MAX=20     # other config files of the token PID one run handles (and prints)

# aemkeys_file_state FILE WANT_SHA
#   Reads FILE as AemUser. AEMKEYS_REPLY = absent|same|differs; AEMKEYS_OLD_SHA = the file's
#   sha256 (or empty); AEMKEYS_PROBE_* as set by aemkeys_probe.
aemkeys_file_state() {
  aemkeys_sha256_file "$1"
  AEMKEYS_OLD_SHA=$AEMKEYS_REPLY
  if [[ -z $AEMKEYS_OLD_SHA ]]; then
    AEMKEYS_REPLY=absent
  elif [[ $AEMKEYS_OLD_SHA == "$2" ]]; then
    AEMKEYS_REPLY=same
  else
    AEMKEYS_REPLY=differs
  fi
}

# aemkeys_storage_label BASE64
#   AEMKEYS_REPLY = the storage file's content (BASE64, as read by aemkeys_probe) when it is a
#   short word (e.g. JCR), else "other content".
aemkeys_storage_label() {
  local word=''
  (( ${#1} <= 24 )) && word=$(printf '%s' "$1" | base64 -d | tr -c 'A-Za-z' '?')
  if [[ $word =~ ^[A-Za-z]{1,16}$ ]]; then
    AEMKEYS_REPLY=$word
  else
    AEMKEYS_REPLY='other content'
  fi
}

# aemkeys_refresh_bundles PORT AUTH ID...
#   POSTs action=refresh for each bundle id to the Web Console on 127.0.0.1:PORT, then polls
#   /system/console/bundles/ID.json until each is Active (at most AEMKEYS_REFRESH_TIMEOUT s).
aemkeys_refresh_bundles() {
  local port=$1 auth=$2 id deadline
  shift 2
  for id in "$@"; do
    aemkeys_http POST "$port" "/system/console/bundles/$id" "$auth" 'action=refresh' \
      || aemkeys_fail "the keys were written, but the Web Console on 127.0.0.1:$port did not answer the refresh of bundle $id"
    [[ $AEMKEYS_HTTP_STATUS == [23]?? ]] \
      || aemkeys_fail "the keys were written, but the Web Console refused the refresh of bundle $id: HTTP $AEMKEYS_HTTP_STATUS"
  done
  deadline=$(( SECONDS + AEMKEYS_REFRESH_TIMEOUT ))
  for id in "$@"; do
    while :; do
      if aemkeys_http GET "$port" "/system/console/bundles/$id.json" "$auth" \
        && [[ $AEMKEYS_HTTP_STATUS == 200 && $AEMKEYS_HTTP_BODY =~ \"state\"[[:space:]]*:[[:space:]]*\"Active\" ]]; then
        break
      fi
      (( SECONDS < deadline )) \
        || aemkeys_fail "the keys were written, but bundle $id was not Active within $AEMKEYS_REFRESH_TIMEOUT s after the refresh"
      sleep 1
    done
  done
}

# aemkeys_token_others INSTALL_DIR PID KEEP
#   AEMKEYS_OTHERS = other config files for PID (PID[-~]*.config|cfg|cfg.json|json|properties|xml)
#   in INSTALL_DIR and its subfolders, but KEEP: listed as AemUser (aemkeys_u_configs, at most
#   AEMKEYS_OTHERS_MAX + 1 of them), each name checked here; AEMKEYS_OTHERS_SHOW = the same names
#   as they are printed (aemkeys_name). Fails on a non-regular file, a repeated name, or more than
#   AEMKEYS_OTHERS_MAX files (what one run prints about planted names stays small).
aemkeys_token_others() {
  local dir=$1 pid=$2 keep=$3 kind hex rel f base show
  local -A seen=()
  AEMKEYS_OTHERS=() AEMKEYS_OTHERS_SHOW=()
  aemkeys_user_out aemkeys_u_configs "$dir" "$pid" "$keep" "$AEMKEYS_OTHERS_MAX"
  case $AEMKEYS_RC in
    0) ;;
    3) return 0 ;;
    *) aemkeys_fail "cannot list $dir as $AEMKEYS_USER within $AEMKEYS_IO_TIMEOUT s" ;;
  esac
  while read -r kind hex; do
    [[ -z $kind ]] && continue
    [[ $kind == [fo] && $hex =~ ^([A-Za-z0-9._/-]|\\x[0-9a-f]{2})+$ ]] || aemkeys_fail "$dir: unexpected answer when listed as $AEMKEYS_USER"
    printf -v rel '%b' "$hex"
    [[ $rel =~ ^([^/]+/)?[^/]+$ && /$rel/ != */../* && /$rel/ != */./* ]] || aemkeys_fail "$dir: unexpected answer when listed as $AEMKEYS_USER"
    f=$dir/$rel
    base=${f##*/}
    [[ $base == "$pid"* && ${base#"$pid"} =~ ^([-~][^/]*)?\.(config|cfg|cfg\.json|json|properties|xml)$ && $f != "$keep" ]] || continue
    aemkeys_name "$f"
    show=$AEMKEYS_REPLY
    (( ${#AEMKEYS_OTHERS[@]} < AEMKEYS_OTHERS_MAX )) \
      || aemkeys_fail "more than $AEMKEYS_OTHERS_MAX files in $dir and its subfolders configure $pid; remove them by hand: nothing changed"
    [[ $kind == f ]] || aemkeys_fail "$show configures $pid too but is (in) a symlink or not a regular file; remove it by hand"
    [[ -z ${seen[$base]:-} ]] || aemkeys_fail "$show and ${seen[$base]} both configure $pid; remove one by hand"
    seen[$base]=$show
    AEMKEYS_OTHERS+=("$f")
    AEMKEYS_OTHERS_SHOW+=("$show")
  done <<< "$AEMKEYS_OUT"
  AEMKEYS_OUT=''
}

# aemkeys_token_effective PORT AUTH PID FILE
#   AEMKEYS_REPLY = whether FILE is what AEM applies for PID (Web Console: configMgr/PID.json's
#   token.encapsulated, and the OSGi installer's first "* PID:" artifact).
aemkeys_token_effective() {
  local port=$1 auth=$2 pid=$3 file=$4 value='' winner='' line body
  local re='"token\.encapsulated"[[:space:]]*:[[:space:]]*\{[^}]*"value"[[:space:]]*:[[:space:]]*"?(true|false)'
  if ! aemkeys_http GET "$port" "/system/console/configMgr/$pid.json" "$auth" || [[ $AEMKEYS_HTTP_STATUS != 200 ]]; then
    AEMKEYS_REPLY="not checked (the Web Console on 127.0.0.1:$port answered ${AEMKEYS_HTTP_STATUS:-nothing})"
    return 0
  fi
  body=$AEMKEYS_HTTP_BODY
  [[ $body =~ $re ]] && value=${BASH_REMATCH[1]}
  if aemkeys_http GET "$port" /system/console/status-osgi-installer.txt "$auth" && [[ $AEMKEYS_HTTP_STATUS == 200 ]]; then
    while IFS= read -r line; do
      line=${line%$'\r'}
      if [[ $line == "* $pid: "*', '*', '* ]]; then
        line=${line#*, }
        winner=${line%, *}
        break
      fi
    done <<< "$AEMKEYS_HTTP_BODY"
  fi
  # AEM's text, printed escaped (aemkeys_name); a URL-like "scheme:/path" keeps its one ':'.
  local shown=${winner:0:300}
  if [[ $shown =~ ^([a-z][a-z0-9]{0,63}):(/.*)$ ]]; then
    aemkeys_name "${BASH_REMATCH[2]}"
    shown=${BASH_REMATCH[1]}:$AEMKEYS_REPLY
  else
    aemkeys_name "$shown"
    shown=$AEMKEYS_REPLY
  fi
  if [[ -n $winner && $winner != *":$file" ]]; then
    AEMKEYS_REPLY="overridden by $shown (token.encapsulated=${value:-unset})"
  elif [[ $value == true ]]; then
    AEMKEYS_REPLY="effective (token.encapsulated=true${winner:+ from $shown})"
  elif [[ -n $winner ]]; then
    AEMKEYS_REPLY="not applied yet (token.encapsulated=${value:-unset}; the Sling installer has not applied $file)"
  elif [[ $body != *'"bundle_location"'* ]]; then
    AEMKEYS_REPLY="not applied (the running AEM has no configuration for the PID)"
  else
    AEMKEYS_REPLY="overridden by an unknown source (token.encapsulated=${value:-unset})"
  fi
}

# Which secret installed the keys (issue 19): its ARN, never key material, in a root-only folder
# outside the AEM tree (the AEM user can neither forge nor remove it), one file per QuickstartDir.
AEMKEYS_RECORD_DIR=/var/lib/aem-crypto-keys

# aemkeys_record_file QUICKSTART_DIR: AEMKEYS_REPLY = its record file (named by the path's sha256).
aemkeys_record_file() {
  aemkeys_sha256_text "$1"
  AEMKEYS_REPLY=$AEMKEYS_RECORD_DIR/$AEMKEYS_REPLY
}

# aemkeys_record_read FILE: AEMKEYS_REPLY = the secret ARN recorded in FILE, or empty. Fails on a
# record that is not a root-owned regular file in a root-owned folder holding one ARN.
aemkeys_record_read() {
  local d=${1%/*} arn=''
  AEMKEYS_REPLY=''
  [[ -e $d || -L $d ]] || return 0
  [[ -d $d && ! -L $d && -O $d ]] || aemkeys_fail "$d is not a folder owned by root: remove it"
  [[ -e $1 || -L $1 ]] || return 0
  if ! [[ -f $1 && ! -L $1 && -O $1 ]] || ! read -r -n 600 arn < "$1" || ! [[ $arn =~ $AEMKEYS_ARN_RE ]]; then
    aemkeys_fail "$1 (which secret installed the keys) is unreadable: remove it"
  fi
  AEMKEYS_REPLY=$arn
}

# aemkeys_record_write FILE ARN: writes ARN to FILE (root only, 0600) through a temp file and rename.
aemkeys_record_write() {
  local d=${1%/*}
  [[ -d $d ]] || mkdir -m 0700 -- "$d" || aemkeys_fail "cannot create $d"
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

aemkeys_install_main() {
  local self=$1
  set -o pipefail
  umask 077
  aemkeys_require_bash
  aemkeys_load_data_block "$self" SecretId QuickstartDir AemUser EncapsulatedToken Mode OnKeyMismatch \
    Restart ServiceName StartAfterInstall AdminSecretId AemPort FreshKeyMinutes HmacBytes MasterBytes LogGroupName

  # 1. Validate every parameter: nothing is touched yet.
  local secret_id=$AEMKEYS_P_SecretId region qs user=$AEMKEYS_P_AemUser
  local encapsulated=$AEMKEYS_P_EncapsulatedToken mode=$AEMKEYS_P_Mode on_mismatch=$AEMKEYS_P_OnKeyMismatch
  local restart=$AEMKEYS_P_Restart service=$AEMKEYS_P_ServiceName start_after=$AEMKEYS_P_StartAfterInstall
  local admin_id=$AEMKEYS_P_AdminSecretId admin_region port=$AEMKEYS_P_AemPort
  aemkeys_check_secret_arn SecretId "$secret_id"
  region=$AEMKEYS_REPLY
  # LogGroupName (tag associations): the run happens in a subshell (BASH_SUBSHELL > 0 there),
  # whose output is then sent to the group. The region is the SSM agent's (the association's).
  if [[ -n $AEMKEYS_P_LogGroupName && $BASH_SUBSHELL == 0 ]]; then
    aemkeys_logged "$AEMKEYS_P_LogGroupName" "${AWS_SSM_REGION_NAME:-$region}" aemkeys_install_main "$self"
    return
  fi
  aemkeys_check_abs_path QuickstartDir "$AEMKEYS_P_QuickstartDir"
  qs=$AEMKEYS_REPLY
  aemkeys_check_enum EncapsulatedToken "$encapsulated" true false
  aemkeys_check_enum Mode "$mode" install verify
  aemkeys_check_enum OnKeyMismatch "$on_mismatch" replace fail replace-fresh
  aemkeys_check_uint FreshKeyMinutes "$AEMKEYS_P_FreshKeyMinutes" 1 5256000
  aemkeys_check_enum Restart "$restart" none service bundles
  aemkeys_check_unit ServiceName "$service"
  aemkeys_check_enum StartAfterInstall "$start_after" true false
  aemkeys_check_secret_arn AdminSecretId "$admin_id" optional
  admin_region=$AEMKEYS_REPLY
  aemkeys_check_uint AemPort "$port" 1 65535
  aemkeys_check_uint HmacBytes "$AEMKEYS_P_HmacBytes" 1 4096
  aemkeys_check_uint MasterBytes "$AEMKEYS_P_MasterBytes" 1 4096
  aemkeys_check_user AemUser "$user"
  aemkeys_user_init "$user"
  [[ $restart == bundles && -z $admin_id ]] && aemkeys_fail "Restart=bundles needs AdminSecretId (a secret holding an AEM admin's {\"username\",\"password\"})"
  aemkeys_as_user aemkeys_u_isdir "$qs" </dev/null 2>/dev/null || aemkeys_fail "QuickstartDir $qs is not a directory $user can open"
  local running=false
  if [[ $mode == install ]]; then
    if command -v systemctl >/dev/null 2>&1; then
      systemctl is-active --quiet -- "$service" && running=true
    elif [[ $restart != none || $start_after == true ]]; then
      aemkeys_fail "systemctl not found: use Restart=none and StartAfterInstall=false on hosts without systemd"
    fi
  fi
  # AEM told to read its keys from elsewhere would ignore the keys written here.
  aemkeys_keys_path_override "$qs" "$service" \
    && aemkeys_fail "AEM reads its keys from elsewhere: $AEMKEYS_REPLY; the keys in the bundle folder would be ignored (remove that setting, or put the keys there yourself)"

  # 2. Read, decode and check the keys: still nothing touched.
  aemkeys_get_secret_string "$secret_id" "$region"
  if ! aemkeys_json_object "$AEMKEYS_SECRET"; then
    AEMKEYS_SECRET=''
    aemkeys_fail "the secret $secret_id is not a JSON object"
  fi
  AEMKEYS_SECRET=''
  aemkeys_secret_key hmac "$AEMKEYS_P_HmacBytes"
  aemkeys_secret_key master "$AEMKEYS_P_MasterBytes"
  AEMKEYS_JSON=()

  # 3. Find the bundle folders through bundle.info (exact symbolic name; the active one wins).
  local file_dir file_id crypto_dir crypto_id
  aemkeys_felix_dir "$qs"
  aemkeys_scan_bundles "$AEMKEYS_REPLY"
  aemkeys_find_bundle com.adobe.granite.crypto.file
  file_dir=$AEMKEYS_BUNDLE_DIR file_id=$AEMKEYS_BUNDLE_ID
  aemkeys_find_bundle com.adobe.granite.crypto
  crypto_dir=$AEMKEYS_BUNDLE_DIR crypto_id=$AEMKEYS_BUNDLE_ID
  local keydir="$file_dir/data" storedir="$crypto_dir/data"
  local storage_file="$storedir/storage" token_dir="$qs/install"
  local token_file="$token_dir/$AEMKEYS_TOKEN_PID.config"

  # 4. Compare.
  # Every file is read as AemUser; a wrong owner or mode is fixed by rewriting the same bytes.
  local k sha fp f i
  local -A st=() oldfp=() fix=() mtime=()
  for k in hmac master; do
    sha="AEMKEYS_SHA_$k"
    aemkeys_file_state "$keydir/$k" "${!sha}"
    st[$k]=$AEMKEYS_REPLY
    oldfp[$k]=${AEMKEYS_OLD_SHA:0:12}
    mtime[$k]=$AEMKEYS_PROBE_MTIME
    [[ $AEMKEYS_REPLY == same && $AEMKEYS_PROBE_OM != "$user 600" ]] && fix[$k]=$AEMKEYS_PROBE_OM
  done
  aemkeys_sha256_text Bundle
  aemkeys_file_state "$storage_file" "$AEMKEYS_REPLY"
  st[storage]=$AEMKEYS_REPLY
  [[ $AEMKEYS_REPLY == same && $AEMKEYS_PROBE_OM != "$user 600" ]] && fix[storage]=$AEMKEYS_PROBE_OM
  local storage_was=''
  if [[ ${st[storage]} == differs ]]; then
    aemkeys_storage_label "$AEMKEYS_PROBE_B64"
    storage_was=$AEMKEYS_REPLY
  fi
  AEMKEYS_PROBE_B64=''
  local token_text=''
  st[token]=unmanaged
  if [[ $encapsulated == true ]]; then
    aemkeys_static token-config
    token_text=$AEMKEYS_REPLY
    [[ -n $token_text ]] || aemkeys_fail "the document carries no token handler config"
    aemkeys_sha256_text "$token_text"
    aemkeys_file_state "$token_file" "$AEMKEYS_REPLY"
    st[token]=$AEMKEYS_REPLY
    [[ $AEMKEYS_REPLY == same && $AEMKEYS_PROBE_OM != "$user 644" ]] && fix[token]=$AEMKEYS_PROBE_OM
    aemkeys_token_others "$token_dir" "$AEMKEYS_TOKEN_PID" "$token_file"
  fi
  local -a token_others=("${AEMKEYS_OTHERS[@]}") others_shown=("${AEMKEYS_OTHERS_SHOW[@]}")

  local -a out=()
  out+=("bundles: com.adobe.granite.crypto.file=${file_dir##*/} com.adobe.granite.crypto=${crypto_dir##*/}")

  local record recorded record_was
  aemkeys_record_file "$qs"
  record=$AEMKEYS_REPLY
  aemkeys_record_read "$record"
  recorded=$AEMKEYS_REPLY record_was=$AEMKEYS_REPLY
  aemkeys_same_secret "$recorded" "$secret_id" && recorded=''
  [[ -n $recorded ]] && out+=("key set: the instance's keys were installed from $recorded")

  if [[ $mode == verify ]]; then
    local ok=true
    for k in hmac master; do
      sha="AEMKEYS_SHA_$k"
      fp=${!sha:0:12}
      case ${st[$k]} in
        same) out+=("$k: $fp ok") ;;
        differs) out+=("$k: $fp differs (instance has ${oldfp[$k]})"); ok=false ;;
        absent) out+=("$k: $fp missing on the instance"); ok=false ;;
      esac
    done
    case ${st[storage]} in
      same) out+=("storage: Bundle ok") ;;
      differs) out+=("storage: differs (instance has $storage_was)"); ok=false ;;
      absent) out+=("storage: missing on the instance"); ok=false ;;
    esac
    case ${st[token]} in
      same) out+=("token config: ok") ;;
      differs) out+=("token config: differs") ;;
      absent) out+=("token config: missing") ;;
      unmanaged) out+=("token config: not managed (EncapsulatedToken=false)") ;;
    esac
    for f in "${others_shown[@]}"; do
      out+=("token config: $f also configures the PID (install mode backs it up and removes it)")
    done
    if [[ $encapsulated == true && -z $admin_id ]]; then
      out+=("token in AEM: not checked (no AdminSecretId)")
    elif [[ $encapsulated == true ]]; then
      aemkeys_admin_auth "$admin_id" "$admin_region"
      aemkeys_token_effective "$port" "$AEMKEYS_REPLY" "$AEMKEYS_TOKEN_PID" "$token_file"
      out+=("token in AEM: $AEMKEYS_REPLY")
    fi
    aemkeys_print_lines "${out[@]}"
    if [[ $ok == true ]]; then
      aemkeys_log "result: verified (the instance has the secret's keys; Mode=verify changed nothing)"
      return 0
    fi
    aemkeys_log "result: mismatch (Mode=verify changed nothing)"
    return 3
  fi

  # OnKeyMismatch matters only when a key on the instance differs from the secret's. With fail,
  # other keys are refused before anything is touched.
  local other="the instance has other keys (hmac ${oldfp[hmac]:-missing}, master ${oldfp[master]:-missing})"
  [[ ${st[hmac]} == differs || ${st[master]} == differs ]] || on_mismatch=none
  # Keys another key set installed are never replaced silently (two stacks tagging the same instances).
  [[ -n $recorded && $on_mismatch != none ]] \
    && aemkeys_fail "$other, installed from secret $recorded, not from $secret_id: nothing changed. To replace them deliberately, remove $record first"
  [[ $on_mismatch == fail ]] && aemkeys_fail "$other and OnKeyMismatch=fail: nothing changed"
  # OnKeyMismatch=replace-fresh: only AEM's own first-start keys (every key file on the instance
  # modified less than FreshKeyMinutes ago) are replaced; older keys may protect encrypted data.
  local fresh_note=''
  if [[ $on_mismatch == replace-fresh ]]; then
    local now age=0
    now=$(date +%s) || aemkeys_fail "date failed"
    for k in hmac master; do
      [[ ${st[$k]} != absent ]] && (( now - mtime[$k] > age )) && age=$(( now - mtime[$k] ))
    done
    (( age >= AEMKEYS_P_FreshKeyMinutes * 60 )) && aemkeys_fail "$other, last changed $(( age / 60 )) minutes ago: not AEM's first-start keys (OnKeyMismatch=replace-fresh, FreshKeyMinutes=$AEMKEYS_P_FreshKeyMinutes), they may protect this instance's encrypted data; nothing changed. To replace them after a backup, run with OnKeyMismatch=replace (construct option onKeyMismatch: OnKeyMismatch.REPLACE)"
    fresh_note="keys: the replaced keys were $(( age / 60 )) minutes old, AEM's first-start keys (OnKeyMismatch=replace-fresh, FreshKeyMinutes=$AEMKEYS_P_FreshKeyMinutes)"
  fi
  local key_change=false
  [[ ${st[hmac]} != same || ${st[master]} != same || ${st[storage]} != same ]] && key_change=true

  # Credentials for Restart=bundles are read before anything is touched.
  local auth=''
  if [[ $key_change == true && $running == true && $restart == bundles ]]; then
    aemkeys_admin_auth "$admin_id" "$admin_region"
    auth=$AEMKEYS_REPLY
    AEMKEYS_REPLY=''
  fi

  # 5. Every folder written must be one AemUser can write (checked as that user); then clean up
  # after an interrupted run, back up what is replaced, write atomically.
  local -a dirs=("$keydir" "$storedir" "$qs/crypto-key-backups")
  [[ ${st[token]} == absent || ${st[token]} == differs || -n ${fix[token]:-} ]] && dirs+=("$token_dir")
  for f in "${token_others[@]}"; do dirs+=("${f%/*}"); done
  aemkeys_check_writable "${dirs[@]}"
  local cleaned
  aemkeys_clean_stale_tmp "$qs/crypto-key-backups" "$keydir" "$storedir" "$token_dir"
  cleaned=$AEMKEYS_REPLY

  local -a to_backup=()
  [[ ${st[hmac]} == differs ]] && to_backup+=("$keydir/hmac")
  [[ ${st[master]} == differs ]] && to_backup+=("$keydir/master")
  [[ ${st[storage]} == differs ]] && to_backup+=("$storage_file")
  (( ${#token_others[@]} > 0 )) && to_backup+=("${token_others[@]}")
  local backup=''
  if (( ${#to_backup[@]} > 0 )); then
    aemkeys_backup "$qs" "${to_backup[@]}"
    backup=$AEMKEYS_REPLY
  fi

  aemkeys_ensure_dir "$keydir" 0700
  aemkeys_ensure_dir "$storedir" 0700
  local changed=false
  for k in hmac master; do
    sha="AEMKEYS_SHA_$k"
    fp=${!sha:0:12}
    if [[ ${st[$k]} != same || -n ${fix[$k]:-} ]]; then
      local key="AEMKEYS_KEY_$k"
      aemkeys_write_atomic "$keydir/$k" 0600 base64 "${!key}"
      changed=true
    fi
    case ${st[$k]} in
      same) out+=("$k: $fp unchanged${fix[$k]:+ (owner/mode fixed, was ${fix[$k]})}") ;;
      absent) out+=("$k: $fp written") ;;
      differs) out+=("$k: $fp replaced (was ${oldfp[$k]})") ;;
    esac
  done
  if [[ ${st[storage]} != same || -n ${fix[storage]:-} ]]; then
    aemkeys_write_atomic "$storage_file" 0600 text Bundle
    changed=true
  fi
  case ${st[storage]} in
    same) out+=("storage: Bundle unchanged${fix[storage]:+ (owner/mode fixed, was ${fix[storage]})}") ;;
    absent) out+=("storage: Bundle written") ;;
    differs) out+=("storage: Bundle replaced (was $storage_was)") ;;
  esac
  [[ -n $backup ]] && out+=("backup: $backup")
  [[ -n $fresh_note ]] && out+=("$fresh_note")

  # 6. Verify what landed on disk.
  aemkeys_key_files_hold "$keydir" AEMKEYS_SHA_ \
    || aemkeys_fail "$keydir/$AEMKEYS_REPLY does not hold the secret's $AEMKEYS_REPLY after writing"
  aemkeys_storage_is_bundle "$storage_file" || aemkeys_fail "$storage_file does not hold Bundle after writing"
  [[ $record_was == "$secret_id" ]] || aemkeys_record_write "$record" "$secret_id"

  # Token handler config (applied by the Sling installer; no restart needed for it).
  case ${st[token]} in
    unmanaged) out+=("token config: not managed (EncapsulatedToken=false)") ;;
    same)
      if [[ -n ${fix[token]:-} ]]; then
        aemkeys_write_atomic "$token_file" 0644 text "$token_text"
        changed=true
      fi
      out+=("token config: unchanged $token_file${fix[token]:+ (owner/mode fixed, was ${fix[token]})}")
      ;;
    *)
      aemkeys_ensure_dir "$token_dir" 0755
      aemkeys_write_atomic "$token_file" 0644 text "$token_text"
      changed=true
      if [[ ${st[token]} == absent ]]; then out+=("token config: written $token_file"); else out+=("token config: replaced $token_file"); fi
      ;;
  esac
  for i in "${!token_others[@]}"; do
    f=${token_others[i]}
    aemkeys_as_user rm -f -- "$f" </dev/null 2>/dev/null || aemkeys_fail "cannot remove ${others_shown[i]} as $user"
    out+=("token config: removed ${others_shown[i]} (it configured the PID too; backed up)")
    changed=true
  done
  (( cleaned > 0 )) && out+=("cleanup: removed $cleaned leftover(s) of an interrupted run")
  aemkeys_print_lines "${out[@]}"

  # 7. Restart, refresh or start only when needed.
  if [[ $key_change != true ]]; then
    aemkeys_log "restart: not needed (no key file changed)"
  elif [[ $running != true ]]; then
    aemkeys_log "restart: not needed (AEM is not running)"
  else
    case $restart in
      none) aemkeys_log "restart: none (Restart=none: the running AEM keeps the old keys until it restarts)" ;;
      service)
        systemctl restart -- "$service" || aemkeys_fail "the keys were written, but systemctl restart $service failed"
        aemkeys_log "restart: service $service restarted"
        ;;
      bundles)
        aemkeys_refresh_bundles "$port" "$auth" "$file_id" "$crypto_id"
        auth=''
        aemkeys_log "restart: bundles $file_id (com.adobe.granite.crypto.file) and $crypto_id (com.adobe.granite.crypto) refreshed and active"
        ;;
    esac
    changed=true
  fi
  if [[ $start_after == true && $running != true ]]; then
    systemctl start -- "$service" || aemkeys_fail "the keys were written, but systemctl start $service failed"
    aemkeys_log "start: service $service started (StartAfterInstall=true)"
    changed=true
  fi
  if [[ $changed == true ]]; then
    aemkeys_log "result: changed"
  else
    aemkeys_log "result: unchanged (nothing to do)"
  fi
  return 0
}

aemkeys_install_main "${BASH_SOURCE[0]:-$0}"
exit $?
