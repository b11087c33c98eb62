# shellcheck shell=bash
# aem-keys-secrets.sh: Secrets Manager, JSON and hashes: reading a secret, parsing its JSON object,
# decoding and checking keys. Part of the on-instance scripts (see aem-keys-common.sh): functions
# only. Key material stays in shell variables and in pipes from the printf builtin.

AEMKEYS_B64_RE='^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$'

# aemkeys_get_secret_string ARN REGION
#   AEMKEYS_SECRET = the secret's SecretString (aws secretsmanager get-secret-value). Fails with
#   the AWS CLI's own error line when it cannot be read. The value is never printed.
aemkeys_get_secret_string() {
  local arn=$1 region=$2
  AEMKEYS_SECRET=''
  command -v aws >/dev/null 2>&1 || aemkeys_fail "the AWS CLI (aws) is not on the PATH"
  AWS_PAGER='' aemkeys_capture aws secretsmanager get-secret-value --secret-id "$arn" --region "$region" \
    --query SecretString --output text
  if [[ $AEMKEYS_RC != 0 ]]; then
    AEMKEYS_OUT=''
    aemkeys_last_line "$AEMKEYS_ERR"
    aemkeys_fail "cannot read secret $arn: ${AEMKEYS_REPLY:-aws exited with status $AEMKEYS_RC}"
  fi
  AEMKEYS_SECRET=$AEMKEYS_OUT
  AEMKEYS_OUT=''
}

# aemkeys_secret_key JSON_FIELD EXPECTED_BYTES
#   Reads a base64 key from the parsed secret (aemkeys_json_object), checks it is valid base64
#   of exactly EXPECTED_BYTES bytes, and sets the global associative arrays AEMKEYS_KEY[FIELD]
#   (base64, JSON escapes decoded) and AEMKEYS_SHA[FIELD] (sha256 hex of the decoded bytes). Fails
#   naming the field, never showing the value.
aemkeys_secret_key() {
  local field=$1 want=$2 b64='' len
  [[ -n ${AEMKEYS_JSON[$field]+set} ]] || aemkeys_fail "the secret has no \"$field\" string field"
  aemkeys_json_unescape "${AEMKEYS_JSON[$field]}" && b64=$AEMKEYS_REPLY
  AEMKEYS_REPLY=''
  [[ -n $b64 && $b64 =~ $AEMKEYS_B64_RE ]] || aemkeys_fail "\"$field\" in the secret is not valid base64"
  len=$(printf '%s' "$b64" | base64 -d 2>/dev/null | wc -c) || aemkeys_fail "\"$field\" in the secret is not valid base64"
  [[ $len == "$want" ]] || aemkeys_fail "\"$field\" in the secret is $len bytes, expected $want"
  aemkeys_sha256_b64 "$b64"
  declare -gA AEMKEYS_KEY AEMKEYS_SHA
  # shellcheck disable=SC2034 # this function's reply, read by the scripts
  AEMKEYS_KEY[$field]=$b64
  # shellcheck disable=SC2034 # this function's reply, read by the scripts
  AEMKEYS_SHA[$field]=$AEMKEYS_REPLY
}

# aemkeys_admin_auth ARN REGION
#   AEMKEYS_REPLY = base64 of "username:password" from the secret ARN ({"username","password"},
#   JSON escapes decoded), for HTTP Basic auth. Fails naming AdminSecretId; never shows a value.
aemkeys_admin_auth() {
  local f
  local -a v=()
  aemkeys_get_secret_string "$1" "$2"
  if ! aemkeys_json_object "$AEMKEYS_SECRET" || [[ -z ${AEMKEYS_JSON[username]+set} || -z ${AEMKEYS_JSON[password]+set} ]]; then
    AEMKEYS_SECRET='' AEMKEYS_JSON=()
    aemkeys_fail "AdminSecretId: the secret must be a JSON object with \"username\" and \"password\" strings"
  fi
  AEMKEYS_SECRET=''
  for f in username password; do
    aemkeys_json_unescape "${AEMKEYS_JSON[$f]}" || { AEMKEYS_JSON=(); aemkeys_fail "AdminSecretId: bad escape in \"$f\""; }
    v+=("$AEMKEYS_REPLY")
  done
  AEMKEYS_JSON=()
  # base64 of "user:password", encoded in a pipe (never in argv).
  AEMKEYS_REPLY=$(printf '%s:%s' "${v[@]}" | base64 -w 0) || aemkeys_fail "cannot encode credentials"
  v=()
}

# aemkeys_json_object TEXT
#   Parses TEXT as one JSON object. Returns 1 when it is not one. Otherwise fills the global
#   associative array AEMKEYS_JSON: top-level field -> raw (still escaped) value, for the fields
#   whose value is a string. Unknown fields are allowed; nested objects and arrays are skipped.
#   The parser's cursor: the globals AEMKEYS_JSON_TEXT (TEXT, emptied on the way out: it may be a
#   secret) and AEMKEYS_JSON_AT (the position).
aemkeys_json_object() {
  local rc
  unset AEMKEYS_JSON
  declare -gA AEMKEYS_JSON=()
  AEMKEYS_JSON_TEXT=$1 AEMKEYS_JSON_AT=0
  aemkeys_json_fields
  rc=$?
  AEMKEYS_JSON_TEXT=''
  return "$rc"
}

# aemkeys_json_fields
#   For aemkeys_json_object: parses AEMKEYS_JSON_TEXT from AEMKEYS_JSON_AT to its end as one object.
aemkeys_json_fields() {
  local key c ws='[[:space:]]*' str='"(([^"\\]|\\.)*)"'
  aemkeys_json_eat "${ws}[{]$ws" || return 1
  if ! aemkeys_json_eat '[}]'; then
    while :; do
      aemkeys_json_eat "$str" || return 1
      key=${BASH_REMATCH[1]}
      aemkeys_json_eat "$ws:$ws" || return 1
      unset 'AEMKEYS_JSON[$key]'
      if aemkeys_json_eat "$str"; then
        AEMKEYS_JSON[$key]=${BASH_REMATCH[1]}
      elif [[ ${AEMKEYS_JSON_TEXT:AEMKEYS_JSON_AT:1} == ['{['] ]]; then
        aemkeys_json_skip || return 1
      else
        aemkeys_json_eat '(-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?|true|false|null)' || return 1
      fi
      aemkeys_json_eat "$ws"
      c=${AEMKEYS_JSON_TEXT:AEMKEYS_JSON_AT:1}
      (( AEMKEYS_JSON_AT++ ))
      [[ $c == '}' ]] && break
      [[ $c == ',' ]] || return 1
      aemkeys_json_eat "$ws"
    done
  fi
  aemkeys_json_eat "$ws"
  (( AEMKEYS_JSON_AT == ${#AEMKEYS_JSON_TEXT} ))
}

# aemkeys_json_skip
#   For aemkeys_json_object: moves AEMKEYS_JSON_AT past the object or array that starts there
#   (strings inside it skipped as strings). Returns 1 when the text ends first.
aemkeys_json_skip() {
  local c depth=0 instr=0 n=${#AEMKEYS_JSON_TEXT}
  while (( AEMKEYS_JSON_AT < n )); do
    c=${AEMKEYS_JSON_TEXT:AEMKEYS_JSON_AT:1}
    if (( instr )); then
      if [[ $c == '\' ]]; then (( AEMKEYS_JSON_AT++ )); elif [[ $c == '"' ]]; then instr=0; fi
    elif [[ $c == '"' ]]; then instr=1
    elif [[ $c == '{' || $c == '[' ]]; then (( depth++ ))
    elif [[ $c == '}' || $c == ']' ]]; then (( depth-- )); (( depth == 0 )) && break
    fi
    (( AEMKEYS_JSON_AT++ ))
  done
  (( AEMKEYS_JSON_AT < n )) || return 1
  (( AEMKEYS_JSON_AT++ ))
}

# aemkeys_json_eat RE
#   For aemkeys_json_object: when AEMKEYS_JSON_TEXT at AEMKEYS_JSON_AT starts with a match of RE,
#   moves AEMKEYS_JSON_AT past it (BASH_REMATCH holds it) and returns 0; else returns 1.
aemkeys_json_eat() {
  [[ ${AEMKEYS_JSON_TEXT:AEMKEYS_JSON_AT} =~ ^$1 ]] && (( AEMKEYS_JSON_AT += ${#BASH_REMATCH[0]}, 1 ))
}

# aemkeys_json_unescape RAW
#   AEMKEYS_REPLY = the JSON string escape sequences of RAW decoded (\" \\ \/ \b \f \n \r \t
#   \uXXXX). Returns 1 on an invalid escape.
aemkeys_json_unescape() {
  local rest=$1 out='' c ch cp n i
  while [[ $rest == *\\* ]]; do
    out+=${rest%%\\*}
    rest=${rest#*\\}
    c=${rest:0:1} rest=${rest:1}
    case $c in
      '"' | '\' | '/') out+=$c ;;
      b) out+=$'\b' ;;
      f) out+=$'\f' ;;
      n) out+=$'\n' ;;
      r) out+=$'\r' ;;
      t) out+=$'\t' ;;
      u)
        [[ ${rest:0:4} =~ ^[0-9A-Fa-f]{4}$ ]] || return 1
        cp=$(( 16#${rest:0:4} ))
        rest=${rest:4}
        if (( cp >= 0xD800 && cp <= 0xDBFF )); then
          [[ ${rest:0:2} == '\u' && ${rest:2:4} =~ ^[dD][c-fC-F][0-9A-Fa-f]{2}$ ]] || return 1
          cp=$(( 0x10000 + ((cp - 0xD800) << 10) + (16#${rest:2:4} - 0xDC00) ))
          rest=${rest:6}
        elif (( cp >= 0xDC00 && cp <= 0xDFFF )); then
          return 1
        fi
        # UTF-8 bytes through \x escapes: independent of the locale (SSM runs with none). First
        # the n continuation bytes (10xxxxxx, last first), then the lead byte: the bits left,
        # after 0 (ASCII), 110, 1110 or 11110 for 1, 2 or 3 continuation bytes.
        n=$(( cp < 0x80 ? 0 : cp < 0x800 ? 1 : cp < 0x10000 ? 2 : 3 ))
        ch=''
        for (( i = 0; i < n; i++ )); do
          printf -v ch '\\x%02x%s' $(( 0x80 | (cp & 0x3F) )) "$ch"
          cp=$(( cp >> 6 ))
        done
        printf -v ch '\\x%02x%s' $(( cp | (n ? 0xFF << (7 - n) & 0xFF : 0) )) "$ch"
        printf -v ch "$ch"
        out+=$ch
        ;;
      *) return 1 ;;
    esac
  done
  AEMKEYS_REPLY=$out$rest
}

# aemkeys_sha256_b64 BASE64
#   AEMKEYS_REPLY = sha256 hex of the decoded bytes (decoded in a pipe, never in argv).
aemkeys_sha256_b64() {
  local h
  h=$(printf '%s' "$1" | base64 -d | sha256sum) || aemkeys_fail "cannot hash a key"
  AEMKEYS_REPLY=${h:0:64}
}

# aemkeys_sha256_text TEXT
#   AEMKEYS_REPLY = sha256 hex of TEXT's bytes.
aemkeys_sha256_text() {
  local h
  h=$(printf '%s' "$1" | sha256sum) || aemkeys_fail "cannot hash text"
  AEMKEYS_REPLY=${h:0:64}
}

# aemkeys_b64_len BASE64 → AEMKEYS_REPLY = how many bytes BASE64 decodes to.
aemkeys_b64_len() {
  local b=$1 pad=0
  [[ $b == *= ]] && pad=1
  [[ $b == *== ]] && pad=2
  AEMKEYS_REPLY=$(( ${#b} / 4 * 3 - pad ))
}
