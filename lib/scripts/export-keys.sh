#!/bin/bash
# export-keys.sh: copies a reference instance's AEM crypto keys (hmac, master) into the key set's
# secret. Run by the SSM Command document of lib/export-document.ts, which inlines
# aem-keys-common.sh between the markers below and appends the parameter data block after the
# final `exit` (bash never parses it). Needs bash, coreutils and the AWS CLI only.
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
# >>> aem-keys-common.sh
. "${BASH_SOURCE[0]%/*}/aem-keys-common.sh"
# <<< aem-keys-common.sh

# export_fail MESSAGE...: fails, saying the secret was not changed (AEMKEYS_FAIL_NOTE, also for
# the shared functions' errors).
export_fail() {
  aemkeys_fail "$*"
}

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
    export_fail "$storage does not say Bundle: this instance may still use keys stored in the JCR (/etc/key); run the JCR migration document first"
  fi
}

# export_read_key DIR NAME BYTES
#   Reads DIR/NAME as AemUser (a link can only lead to what that user may read anyway).
#   EXPORT_KEY_<NAME> = its base64 (in a shell variable only), EXPORT_SHA_<NAME> = its sha256.
#   Fails unless DIR/NAME is a regular file of exactly BYTES bytes.
export_read_key() {
  local dir=$1 name=$2 want=$3 f="$1/$2" b64
  aemkeys_probe "$f" "$(( want + 1 ))"
  [[ $AEMKEYS_PROBE == file ]] || export_fail "no $name file in $dir (has AEM been started once, so that it generated its keys?)"
  b64=$AEMKEYS_PROBE_B64 AEMKEYS_PROBE_B64=''
  aemkeys_b64_len "$b64"
  [[ $AEMKEYS_REPLY == "$want" ]] || export_fail "$f is $AEMKEYS_REPLY bytes, expected $want (parameter ${name^}Bytes)"
  aemkeys_sha256_b64 "$b64"
  printf -v "EXPORT_KEY_$name" '%s' "$b64"
  printf -v "EXPORT_SHA_$name" '%s' "$AEMKEYS_REPLY"
}

# export_secret_state ARN REGION
#   Reads the secret. EXPORT_STATE = empty (no value yet) | keys | other; for keys,
#   EXPORT_CUR_hmac / EXPORT_CUR_master = sha256 of the decoded keys. The value is never printed.
export_secret_state() {
  local arn=$1 region=$2 k b64
  EXPORT_STATE=other EXPORT_CUR_hmac='' EXPORT_CUR_master=''
  AWS_PAGER='' aemkeys_capture aws secretsmanager get-secret-value --secret-id "$arn" --region "$region" \
    --query SecretString --output text
  if [[ $AEMKEYS_RC != 0 ]]; then
    AEMKEYS_OUT=''
    if [[ $AEMKEYS_ERR == *ResourceNotFoundException* && $AEMKEYS_ERR == *AWSCURRENT* ]]; then
      EXPORT_STATE=empty
      return 0
    fi
    aemkeys_last_line "$AEMKEYS_ERR"
    export_fail "cannot read secret $arn: ${AEMKEYS_REPLY:-aws exited with status $AEMKEYS_RC}"
  fi
  if [[ -z $AEMKEYS_OUT ]]; then
    EXPORT_STATE=empty
    return 0
  fi
  if aemkeys_json_object "$AEMKEYS_OUT"; then
    EXPORT_STATE=keys
    for k in hmac master; do
      b64=''
      [[ ${AEMKEYS_JSON_TYPE[$k]:-} == string ]] && aemkeys_json_unescape "${AEMKEYS_JSON[$k]}" && b64=$AEMKEYS_REPLY
      if [[ -z $b64 || ! $b64 =~ $AEMKEYS_B64_RE ]]; then
        EXPORT_STATE=other
        break
      fi
      aemkeys_sha256_b64 "$b64"
      printf -v "EXPORT_CUR_$k" '%s' "$AEMKEYS_REPLY"
    done
  fi
  AEMKEYS_OUT='' AEMKEYS_REPLY='' b64=''
  AEMKEYS_JSON=()
}

# export_put_secret ARN REGION
#   PutSecretValue with {"hmac","master","format":1} from EXPORT_KEY_*, through stdin.
export_put_secret() {
  local arn=$1 region=$2
  printf '{"hmac":"%s","master":"%s","format":1}' "$EXPORT_KEY_hmac" "$EXPORT_KEY_master" \
    | AWS_PAGER='' aws secretsmanager put-secret-value --secret-id "$arn" --region "$region" \
      --secret-string file:///dev/stdin --query VersionId --output text
}

aemkeys_export_main() {
  local self=$1
  set -o pipefail
  umask 077
  aemkeys_require_bash
  aemkeys_load_data_block "$self" SecretId QuickstartDir AemUser Force HmacBytes MasterBytes
  AEMKEYS_FAIL_NOTE=' (the secret was not changed)'

  # 1. Parameters.
  local secret_id=$AEMKEYS_P_SecretId region qs force=$AEMKEYS_P_Force
  aemkeys_check_secret_arn SecretId "$secret_id"
  region=$AEMKEYS_REPLY
  aemkeys_check_abs_path QuickstartDir "$AEMKEYS_P_QuickstartDir"
  qs=$AEMKEYS_REPLY
  aemkeys_check_enum Force "$force" true false
  aemkeys_check_uint HmacBytes "$AEMKEYS_P_HmacBytes" 1 4096
  aemkeys_check_uint MasterBytes "$AEMKEYS_P_MasterBytes" 1 4096
  aemkeys_check_user AemUser "$AEMKEYS_P_AemUser"
  aemkeys_user_init "$AEMKEYS_P_AemUser"
  aemkeys_as_user aemkeys_u_isdir "$qs" </dev/null 2>/dev/null || export_fail "QuickstartDir $qs is not a directory $AEMKEYS_P_AemUser can open"
  command -v aws >/dev/null 2>&1 || export_fail "the AWS CLI (aws) is not on the PATH"

  # 2. Locate the keys.
  local key_dir
  if aemkeys_keys_path_override "$qs" ""; then
    export_fail "AEM reads its keys from elsewhere: $AEMKEYS_REPLY; the keys in the bundle folder are not the ones AEM uses"
  fi
  aemkeys_felix_dir "$qs"
  aemkeys_scan_bundles "$AEMKEYS_REPLY"
  aemkeys_find_bundle com.adobe.granite.crypto.file
  key_dir=$AEMKEYS_BUNDLE_DIR/data
  aemkeys_find_bundle com.adobe.granite.crypto
  export_check_storage "$AEMKEYS_BUNDLE_DIR/data"

  # 3. Read them.
  export_read_key "$key_dir" hmac "$AEMKEYS_P_HmacBytes"
  export_read_key "$key_dir" master "$AEMKEYS_P_MasterBytes"
  local fps="hmac ${EXPORT_SHA_hmac:0:12} master ${EXPORT_SHA_master:0:12}"
  aemkeys_log "instance keys in $key_dir: $fps"

  # 4. Compare with the secret.
  export_secret_state "$secret_id" "$region"
  case $EXPORT_STATE in
    empty) aemkeys_log "secret $secret_id is empty: filling it" ;;
    keys)
      local cur="hmac ${EXPORT_CUR_hmac:0:12} master ${EXPORT_CUR_master:0:12}"
      if [[ $EXPORT_CUR_hmac == "$EXPORT_SHA_hmac" && $EXPORT_CUR_master == "$EXPORT_SHA_master" ]]; then
        aemkeys_log "result: unchanged (secret $secret_id already holds these keys: $fps)"
        return 0
      fi
      [[ $force == true ]] || export_fail "secret $secret_id already holds different keys ($cur); run with Force=true to replace them"
      aemkeys_log "secret $secret_id holds different keys ($cur): replacing them (Force=true)"
      ;;
    other)
      [[ $force == true ]] || export_fail "secret $secret_id holds a value that is not a key set; run with Force=true to replace it"
      aemkeys_log "secret $secret_id holds a value that is not a key set: replacing it (Force=true)"
      ;;
  esac

  # 5. Write.
  aemkeys_capture export_put_secret "$secret_id" "$region"
  EXPORT_KEY_hmac='' EXPORT_KEY_master=''
  if [[ $AEMKEYS_RC != 0 ]]; then
    aemkeys_last_line "$AEMKEYS_ERR"
    export_fail "PutSecretValue on $secret_id failed: ${AEMKEYS_REPLY:-aws exited with status $AEMKEYS_RC}"
  fi
  AEMKEYS_FAIL_NOTE=''
  aemkeys_log "wrote version ${AEMKEYS_OUT//[^A-Za-z0-9-]/} of $secret_id"

  # 6. Read back and compare.
  export_secret_state "$secret_id" "$region"
  [[ $EXPORT_STATE == keys && $EXPORT_CUR_hmac == "$EXPORT_SHA_hmac" && $EXPORT_CUR_master == "$EXPORT_SHA_master" ]] \
    || aemkeys_fail "the secret read back after PutSecretValue does not hold the exported keys"
  aemkeys_log "result: exported (secret $secret_id holds $fps)"
  return 0
}

aemkeys_export_main "${BASH_SOURCE[0]:-$0}"
exit $?
