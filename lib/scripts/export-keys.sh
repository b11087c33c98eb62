#!/bin/bash
# export-keys.sh: copies a reference instance's AEM crypto keys (hmac, master) into the key set's
# secret. Run by the SSM Command document of lib/export-document.ts, which inlines the modules'
# functions it uses between the markers below and appends the parameter data block after the
# final `exit` (bash never parses it). Needs what aem-keys-common.sh says.
#
#   1 validate parameters (nothing read yet)
#   2 locate the com.adobe.granite.crypto.file data folder (exact symbolic name, shared lookup);
#     refuse when com.adobe.granite.crypto's storage says the keys are still in the JCR
#   3 read hmac and master, check their sizes
#   4 read the secret: empty → fill; same keys → nothing to do; different keys or another value
#     → refuse unless Force=true
#   5 PutSecretValue: the JSON goes from shell variables through a pipe (printf is a builtin)
#     into `--secret-string file:///dev/stdin`: never in argv, the environment or a file
#   6 read the secret back and compare checksums; print fingerprints only
# Exit status: 0 success (also: the secret already held these keys), 1 error or refusal (the
# secret was not changed).
[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# >>> modules
# shellcheck source-path=SCRIPTDIR source=aem-keys-common.sh
. "${BASH_SOURCE[0]%/*}/aem-keys-common.sh"
# <<< modules

# export_check_storage CRYPTO_DATA_DIR
#   Refuses an instance whose storage file says anything but Bundle (keys still in the JCR).
#   Whether it exists is asked as AemUser, as everything in the tree.
export_check_storage() {
  local storage="$1/storage"
  if ! aemkeys_user_is exists "$storage"; then
    aemkeys_log "note: $storage does not exist; exporting the key files as they are"
    return 0
  fi
  if ! aemkeys_storage_is_bundle "$storage"; then
    aemkeys_fail "$storage does not say Bundle: this instance may still use keys stored in the JCR (/etc/key); run the JCR migration document first"
  fi
}

# export_read_key DIR NAME BYTES
#   Reads DIR/NAME as AemUser (a link can only lead to what that user may read anyway).
#   EXPORT_KEY[NAME] = its base64 (in a shell variable only), EXPORT_SHA[NAME] = its sha256
#   (global associative arrays).
#   Fails unless DIR/NAME is a regular file of exactly BYTES bytes.
export_read_key() {
  local dir=$1 name=$2 want=$3 f="$1/$2" b64
  aemkeys_probe "$f" "$(( want + 1 ))"
  [[ $AEMKEYS_PROBE == file ]] || aemkeys_fail "no $name file in $dir (has AEM been started once, so that it generated its keys?)"
  b64=$AEMKEYS_PROBE_B64 AEMKEYS_PROBE_B64=''
  aemkeys_b64_len "$b64"
  [[ $AEMKEYS_REPLY == "$want" ]] || aemkeys_fail "$f is $AEMKEYS_REPLY bytes, expected $want (parameter ${name^}Bytes)"
  aemkeys_sha256_b64 "$b64"
  declare -gA EXPORT_KEY EXPORT_SHA
  EXPORT_KEY[$name]=$b64
  EXPORT_SHA[$name]=$AEMKEYS_REPLY
}

# export_secret_state ARN REGION
#   Reads the secret. EXPORT_STATE = empty (no value yet) | keys | other; for keys,
#   EXPORT_CUR[hmac] / EXPORT_CUR[master] = sha256 of the decoded keys (a global associative
#   array). The value is never printed.
export_secret_state() {
  local arn=$1 region=$2 k b64
  EXPORT_STATE=other
  declare -gA EXPORT_CUR=([hmac]='' [master]='')
  AWS_PAGER='' aemkeys_capture aws secretsmanager get-secret-value --secret-id "$arn" --region "$region" \
    --query SecretString --output text
  if [[ $AEMKEYS_RC != 0 ]]; then
    AEMKEYS_OUT=''
    if [[ $AEMKEYS_ERR == *ResourceNotFoundException* && $AEMKEYS_ERR == *AWSCURRENT* ]]; then
      EXPORT_STATE=empty
      return 0
    fi
    aemkeys_last_line "$AEMKEYS_ERR"
    aemkeys_fail "cannot read secret $arn: ${AEMKEYS_REPLY:-aws exited with status $AEMKEYS_RC}"
  fi
  if [[ -z $AEMKEYS_OUT ]]; then
    EXPORT_STATE=empty
    return 0
  fi
  if aemkeys_json_object "$AEMKEYS_OUT"; then
    EXPORT_STATE=keys
    for k in hmac master; do
      b64=''
      [[ -n ${AEMKEYS_JSON[$k]+set} ]] && aemkeys_json_unescape "${AEMKEYS_JSON[$k]}" && b64=$AEMKEYS_REPLY
      if [[ -z $b64 || ! $b64 =~ $AEMKEYS_B64_RE ]]; then
        EXPORT_STATE=other
        break
      fi
      aemkeys_sha256_b64 "$b64"
      EXPORT_CUR[$k]=$AEMKEYS_REPLY
    done
  fi
  AEMKEYS_OUT='' AEMKEYS_REPLY='' b64=''
  AEMKEYS_JSON=()
}

# export_put_secret ARN REGION
#   PutSecretValue with {"hmac","master","format":1} from EXPORT_KEY, through stdin.
export_put_secret() {
  local arn=$1 region=$2
  printf '{"hmac":"%s","master":"%s","format":1}' "${EXPORT_KEY[hmac]}" "${EXPORT_KEY[master]}" \
    | AWS_PAGER='' aws secretsmanager put-secret-value --secret-id "$arn" --region "$region" \
      --secret-string file:///dev/stdin --query VersionId --output text
}

# The exporter's parameters, in the order of its data block, each with its check.
EXPORT_PARAMETERS=(
  'SecretId secret_arn'
  'QuickstartDir abs_path'
  'AemUser user'
  'Force enum true false'
  'HmacBytes uint 1 4096'
  'MasterBytes uint 1 4096'
)

# aemkeys_export_main SCRIPT_FILE: the exporter's steps.
aemkeys_export_main() {
  aemkeys_begin "$1" "${EXPORT_PARAMETERS[@]}"
  AEMKEYS_FAIL_NOTE=' (the secret was not changed)'
  aemkeys_check_parameters "${EXPORT_PARAMETERS[@]}"
  aemkeys_open_tree "${AEMKEYS_P[QuickstartDir]}" "${AEMKEYS_P[AemUser]}"
  command -v aws >/dev/null 2>&1 || aemkeys_fail "the AWS CLI (aws) is not on the PATH"
  aemkeys_locate_crypto_bundles "${AEMKEYS_P[QuickstartDir]}" '' 'the keys in the bundle folder are not the ones AEM uses'
  export_check_storage "$AEMKEYS_CRYPTO_DIR/data"
  export_read_key "$AEMKEYS_FILE_DIR/data" hmac "${AEMKEYS_P[HmacBytes]}"
  export_read_key "$AEMKEYS_FILE_DIR/data" master "${AEMKEYS_P[MasterBytes]}"
  EXPORT_FPS="hmac ${EXPORT_SHA[hmac]:0:12} master ${EXPORT_SHA[master]:0:12}"
  aemkeys_log "instance keys in $AEMKEYS_FILE_DIR/data: $EXPORT_FPS"
  export_compare || return 0
  export_write
  return 0
}

# export_compare
#   Compares the instance's keys with the secret's: returns 1 (after the result line) when the
#   secret already holds them; fails on other keys or another value unless Force=true.
export_compare() {
  local secret_id=${AEMKEYS_P[SecretId]} cur
  export_secret_state "$secret_id" "${AEMKEYS_REGION[SecretId]}"
  case $EXPORT_STATE in
    empty) aemkeys_log "secret $secret_id is empty: filling it" ;;
    keys)
      cur="hmac ${EXPORT_CUR[hmac]:0:12} master ${EXPORT_CUR[master]:0:12}"
      if [[ ${EXPORT_CUR[hmac]} == "${EXPORT_SHA[hmac]}" && ${EXPORT_CUR[master]} == "${EXPORT_SHA[master]}" ]]; then
        aemkeys_log "result: unchanged (secret $secret_id already holds these keys: $EXPORT_FPS)"
        return 1
      fi
      [[ ${AEMKEYS_P[Force]} == true ]] \
        || aemkeys_fail "secret $secret_id already holds different keys ($cur); run with Force=true to replace them"
      aemkeys_log "secret $secret_id holds different keys ($cur): replacing them (Force=true)"
      ;;
    other)
      [[ ${AEMKEYS_P[Force]} == true ]] \
        || aemkeys_fail "secret $secret_id holds a value that is not a key set; run with Force=true to replace it"
      aemkeys_log "secret $secret_id holds a value that is not a key set: replacing it (Force=true)"
      ;;
  esac
  return 0
}

# export_write
#   PutSecretValue, then reads the secret back and compares.
export_write() {
  local secret_id=${AEMKEYS_P[SecretId]}
  aemkeys_capture export_put_secret "$secret_id" "${AEMKEYS_REGION[SecretId]}"
  EXPORT_KEY=()
  if [[ $AEMKEYS_RC != 0 ]]; then
    aemkeys_last_line "$AEMKEYS_ERR"
    aemkeys_fail "PutSecretValue on $secret_id failed: ${AEMKEYS_REPLY:-aws exited with status $AEMKEYS_RC}"
  fi
  AEMKEYS_FAIL_NOTE=''
  aemkeys_log "wrote version ${AEMKEYS_OUT//[^A-Za-z0-9-]/} of $secret_id"
  export_secret_state "$secret_id" "${AEMKEYS_REGION[SecretId]}"
  [[ $EXPORT_STATE == keys && ${EXPORT_CUR[hmac]} == "${EXPORT_SHA[hmac]}" && ${EXPORT_CUR[master]} == "${EXPORT_SHA[master]}" ]] \
    || aemkeys_fail "the secret read back after PutSecretValue does not hold the exported keys"
  aemkeys_log "result: exported (secret $secret_id holds $EXPORT_FPS)"
}

aemkeys_export_main "${BASH_SOURCE[0]:-$0}"
exit $?
