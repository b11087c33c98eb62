# aem-keys-common.sh: shell functions shared by the AEM crypto keys installer and exporter.
#
# Inlined at synth time into the SSM documents (see lib/installer-document.ts, embedShellScript).
# FUNCTIONS AND CONSTANTS ONLY: inlining or sourcing this file runs nothing else.
#
# Needs bash 4.2+ (no namerefs), coreutils and the AWS CLI; nothing else (no jq, python, grep,
# sed, awk, curl). Key material only ever lives in shell variables (never exported), in pipes
# from the `printf` builtin into coreutils, and in the destination files: never in an argument
# of a process, in the environment, on stdout/stderr or in /tmp.
#
# Conventions: functions return values through globals (AEMKEYS_REPLY unless said otherwise);
# `aemkeys_fail` exits the script, so call the functions that may fail from the main shell,
# never from inside $(...).
# Two opening braces in a row must never appear in this file: SSM would take them for a parameter.

AEMKEYS_PROG='aem-crypto-keys'
AEMKEYS_ARN_RE='^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b):secretsmanager:([a-z]{2}(-[a-z]{1,10}){1,3}-[0-9]{1,2}):([0-9]{12}):secret:([A-Za-z0-9/_+=.@-]{1,512})$'
AEMKEYS_PATH_RE='^/[-A-Za-z0-9_./ @+,:=~]{0,1023}$'
AEMKEYS_USER_RE='^[a-z_][a-z0-9_-]{0,31}$'
AEMKEYS_UNIT_RE='^[A-Za-z0-9_][A-Za-z0-9:_.@-]{0,254}$'
AEMKEYS_B64_RE='^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$'
AEMKEYS_TMP_PREFIX='.aem-crypto-keys.'
AEMKEYS_TMP_SUFFIX='.tmp'
AEMKEYS_READ_MAX=65536    # bytes read from any one file in the tree
AEMKEYS_IO_TIMEOUT=60     # seconds for any one step run as AemUser (a FIFO, a hung file system)
AEMKEYS_HTTP_MAX=1048576  # bytes of one HTTP answer (headers and text body)
AEMKEYS_STREAM_MAX=67108864  # bytes of one binary answer of the AemUser worker (aemkeys_as_user)

# aemkeys_fail MESSAGE...
#   Prints ONE line "aem-crypto-keys: error: MESSAGE" on stderr and exits 1. Control characters
#   in the message are replaced by '?' so the error stays one line. AEMKEYS_FAIL_NOTE, when set,
#   is appended (e.g. " (the secret was not changed)").
aemkeys_fail() {
  local msg="$*${AEMKEYS_FAIL_NOTE:-}" LC_ALL=C
  msg=${msg//[^ -~]/?}
  printf '%s: error: %s\n' "$AEMKEYS_PROG" "$msg" >&2
  exit 1
}

# aemkeys_name TEXT
#   AEMKEYS_REPLY = TEXT (a name from the tree, or text the AEM user wrote) as it may appear in
#   output: every byte but letters, digits, space and . _ / + @ , = ~ - as \xHH. The result is one
#   line of ASCII (valid UTF-8) with no ':' and no '\', so it cannot hold a second line, the
#   metric filters' phrases ("result: changed", "association run: changed", "aem-crypto-keys:
#   error:") or bytes CloudWatch Logs refuses. Names enter output through this function only.
aemkeys_name() {
  local LC_ALL=C s=$1 out='' c
  while [[ $s == *[!A-Za-z0-9\ ._/+@,=~-]* ]]; do
    c=${s%%[!A-Za-z0-9\ ._/+@,=~-]*}
    out+=$c
    s=${s:${#c}}
    printf -v c '\\x%02x' "'${s:0:1}"
    out+=$c
    s=${s:1}
  done
  AEMKEYS_REPLY=$out$s
}

# aemkeys_log MESSAGE...
#   One line of the summary on stdout (aemkeys_print_lines).
aemkeys_log() {
  aemkeys_print_lines "$*"
}

# aemkeys_print_lines LINE...
#   Lines of the summary on stdout, each one line of printable ASCII (anything else as '?'): the
#   last guard after aemkeys_name, which every name from the tree passes on its way here.
aemkeys_print_lines() {
  local LC_ALL=C
  (( $# > 0 )) && printf '%s\n' "${@//[^ -~]/?}"
}

# aemkeys_require_bash
#   Fails unless this is bash 4.2 or newer.
aemkeys_require_bash() {
  (( BASH_VERSINFO[0] * 100 + BASH_VERSINFO[1] >= 402 )) || aemkeys_fail "bash 4.2 or newer is required (this is $BASH_VERSION)"
}

# aemkeys_load_data_block SCRIPT_FILE PARAM_NAME...
#   Reads the script's own text (SCRIPT_FILE, or $BASH_EXECUTION_STRING when run by `bash -c`)
#   and parses the data block after the script's final `exit`. The block is never executed:
#     #@aem-crypto-keys-data 2
#     #@=VALUE              (one line per PARAM_NAME, in that exact order: SSM substitutes the
#                            parameter after the #@=; the document shows #@={{ NAME }})
#     #@static SECTION      (zero or more sections of static lines rendered at synth time)
#     #@|LINE
#     #@end
#   and nothing after #@end. Any extra or missing line (a value holding a newline) fails.
#   Sets AEMKEYS_P_<NAME> for each parameter and AEMKEYS_STATIC_<SECTION> (dashes as
#   underscores) to the section's lines, each followed by a newline.
aemkeys_load_data_block() {
  local file=$1 i n name section line var
  shift
  local -a lines
  if [[ -n ${BASH_EXECUTION_STRING:-} ]]; then
    mapfile -t lines < <(printf '%s\n' "$BASH_EXECUTION_STRING")
  elif [[ -f $file && -r $file ]]; then
    mapfile -t lines < "$file"
  else
    aemkeys_fail "cannot read the script's own text to find its parameters"
  fi
  n=${#lines[@]}
  local marker='#@aem-crypto-keys''-data 2'
  for (( i = 0; i < n; i++ )); do
    [[ ${lines[i]} == "$marker" ]] && break
  done
  (( i < n )) || aemkeys_fail "the script has no parameter block"
  (( i++ ))
  for name in "$@"; do
    [[ $i -lt $n && ${lines[i]} == '#@='* ]] || aemkeys_fail "parameter $name: contains a newline or the parameter block is malformed"
    printf -v "AEMKEYS_P_$name" '%s' "${lines[i]#'#@='}"
    (( i++ ))
  done
  section=''
  while (( i < n )); do
    line=${lines[i]}
    if [[ $line == '#@end' ]]; then
      break
    elif [[ $line =~ ^#@static\ ([a-z][a-z0-9-]{0,40})$ ]]; then
      section=${BASH_REMATCH[1]//-/_}
      printf -v "AEMKEYS_STATIC_$section" '%s' ''
    elif [[ -n $section && $line == '#@|'* ]]; then
      var="AEMKEYS_STATIC_$section"
      printf -v "$var" '%s%s\n' "${!var}" "${line#'#@|'}"
    else
      aemkeys_fail "the parameter block is malformed after the last parameter (a parameter value contains a newline?)"
    fi
    (( i++ ))
  done
  (( i < n )) || aemkeys_fail "the parameter block has no end marker (a parameter value contains a newline?)"
  (( i++ ))
  # Nothing may follow the end marker (an empty last line from the joining newline is fine).
  if (( i < n )) && ! { (( i == n - 1 )) && [[ -z ${lines[i]} ]]; }; then
    aemkeys_fail "the parameter block has lines after its end marker (a parameter value contains a newline?)"
  fi
}

# aemkeys_static SECTION
#   AEMKEYS_REPLY = the static lines of SECTION (from the data block), or empty.
aemkeys_static() {
  local v="AEMKEYS_STATIC_${1//-/_}"
  AEMKEYS_REPLY=${!v}
}

# aemkeys_check_enum NAME VALUE ALLOWED...
#   Fails unless VALUE is one of ALLOWED.
aemkeys_check_enum() {
  local name=$1 value=$2 a
  shift 2
  for a in "$@"; do
    [[ $value == "$a" ]] && return 0
  done
  aemkeys_fail "parameter $name: must be one of: $*"
}

# aemkeys_check_uint NAME VALUE MIN MAX
#   Fails unless VALUE is a decimal integer (no leading zero) in MIN..MAX.
aemkeys_check_uint() {
  [[ $2 =~ ^[1-9][0-9]{0,8}$|^0$ ]] && (( $2 >= $3 && $2 <= $4 )) || aemkeys_fail "parameter $1: must be an integer from $3 to $4"
}

# aemkeys_check_secret_arn NAME VALUE [optional]
#   Fails unless VALUE is a Secrets Manager secret ARN (aws, aws-cn, aws-us-gov, aws-iso*
#   partitions); with "optional", an empty VALUE is accepted. AEMKEYS_REPLY = the ARN's region
#   (empty for an empty VALUE).
aemkeys_check_secret_arn() {
  AEMKEYS_REPLY=''
  [[ -z $2 && ${3:-} == optional ]] && return 0
  [[ $2 =~ $AEMKEYS_ARN_RE ]] || aemkeys_fail "parameter $1: must be a Secrets Manager secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)"
  AEMKEYS_REPLY=${BASH_REMATCH[2]}
}

# aemkeys_check_abs_path NAME VALUE
#   Fails unless VALUE is an absolute path (at most 1024 characters) of letters, digits, spaces and - _ . / @ + , : = ~
#   with no '.' or '..' component. AEMKEYS_REPLY = VALUE without trailing slashes.
aemkeys_check_abs_path() {
  local name=$1 value=$2
  [[ $value =~ $AEMKEYS_PATH_RE ]] || aemkeys_fail "parameter $name: must be an absolute path of at most 1024 letters, digits, spaces and - _ . / @ + , : = ~"
  [[ /$value/ == */../* || /$value/ == */./* ]] && aemkeys_fail "parameter $name: must not contain '.' or '..' components"
  while [[ $value == */ && $value != / ]]; do
    value=${value%/}
  done
  AEMKEYS_REPLY=$value
}

# aemkeys_check_user NAME VALUE
#   Fails unless VALUE is a valid user name. Whether it exists on this host is checked by
#   aemkeys_user_init, which every script calls right after.
aemkeys_check_user() {
  [[ $2 =~ $AEMKEYS_USER_RE ]] || aemkeys_fail "parameter $1: must be a user name (lower case letters, digits, _ and -, at most 32)"
}

# aemkeys_check_unit NAME VALUE
#   Fails unless VALUE is a safe systemd unit name (no leading '-').
aemkeys_check_unit() {
  [[ $2 =~ $AEMKEYS_UNIT_RE ]] || aemkeys_fail "parameter $1: must be a systemd unit name (letters, digits and : _ . @ -)"
}

# aemkeys_capture COMMAND [ARG...]
#   Runs COMMAND, capturing its stdout in AEMKEYS_OUT (trailing newlines removed), its stderr in
#   AEMKEYS_ERR and its exit status in AEMKEYS_RC, without temporary files. Nothing is printed.
aemkeys_capture() {
  local m="@@aemkeys-${RANDOM}${RANDOM}${RANDOM}${RANDOM}@@" blob rest
  blob=$( { __o=$("$@" 2>&3); __r=$?; printf '%s%s%s%s' "$m" "$__r" "$m" "$__o"; } 3>&1 )
  AEMKEYS_ERR=${blob%%"$m"*}
  rest=${blob#*"$m"}
  AEMKEYS_RC=${rest%%"$m"*}
  AEMKEYS_OUT=${rest#*"$m"}
}

# aemkeys_last_line TEXT
#   AEMKEYS_REPLY = the last non-empty line of TEXT, control characters as '?', at most 300 chars.
aemkeys_last_line() {
  local text=$1 line last=''
  while IFS= read -r line || [[ -n $line ]]; do
    [[ -n ${line//[[:space:]]/} ]] && last=$line
  done < <(printf '%s\n' "$text")
  last=${last//[[:cntrl:]]/?}
  AEMKEYS_REPLY=${last:0:300}
}

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

# aemkeys_json_object TEXT
#   Parses TEXT as one JSON object. Returns 1 when it is not one. Otherwise fills the global
#   associative arrays AEMKEYS_JSON (top-level field -> raw, still escaped, string value) for
#   string fields and AEMKEYS_JSON_TYPE (field -> string|other). Unknown fields are allowed;
#   nested objects and arrays are skipped.
aemkeys_json_object() {
  local s=$1 i=0 n=${#1} key c depth instr ws='[[:space:]]*' str='"(([^"\\]|\\.)*)"'
  unset AEMKEYS_JSON AEMKEYS_JSON_TYPE
  declare -gA AEMKEYS_JSON=() AEMKEYS_JSON_TYPE=()
  aemkeys_json_eat "${ws}[{]$ws" || return 1
  if ! aemkeys_json_eat '[}]'; then
    while :; do
      aemkeys_json_eat "$str" || return 1
      key=${BASH_REMATCH[1]}
      aemkeys_json_eat "$ws:$ws" || return 1
      c=${s:i:1}
      if aemkeys_json_eat "$str"; then
        AEMKEYS_JSON[$key]=${BASH_REMATCH[1]}
        AEMKEYS_JSON_TYPE[$key]=string
      else
        if [[ $c == '{' || $c == '[' ]]; then
          depth=0 instr=0
          while (( i < n )); do
            c=${s:i:1}
            if (( instr )); then
              if [[ $c == '\' ]]; then (( i++ )); elif [[ $c == '"' ]]; then instr=0; fi
            elif [[ $c == '"' ]]; then instr=1
            elif [[ $c == '{' || $c == '[' ]]; then (( depth++ ))
            elif [[ $c == '}' || $c == ']' ]]; then (( depth-- )); (( depth == 0 )) && break
            fi
            (( i++ ))
          done
          (( i < n )) || return 1
          (( i++ ))
        else
          aemkeys_json_eat '(-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?|true|false|null)' || return 1
        fi
        unset 'AEMKEYS_JSON[$key]'
        AEMKEYS_JSON_TYPE[$key]=other
      fi
      aemkeys_json_eat "$ws"
      c=${s:i:1}
      (( i++ ))
      [[ $c == '}' ]] && break
      [[ $c == ',' ]] || return 1
      aemkeys_json_eat "$ws"
    done
  fi
  aemkeys_json_eat "$ws"
  (( i == n ))
}

# aemkeys_json_eat RE
#   For aemkeys_json_object (its s and i, by bash's dynamic scope): when the text at i starts
#   with a match of RE, moves i past it (BASH_REMATCH holds it) and returns 0; else returns 1.
aemkeys_json_eat() {
  [[ ${s:i} =~ ^$1 ]] && (( i += ${#BASH_REMATCH[0]}, 1 ))
}

# aemkeys_json_unescape RAW
#   AEMKEYS_REPLY = the JSON string escape sequences of RAW decoded (\" \\ \/ \b \f \n \r \t
#   \uXXXX). Returns 1 on an invalid escape.
aemkeys_json_unescape() {
  local rest=$1 out='' c ch cp n i
  while [[ $rest == *\\* ]]; do
    out+=${rest%%\\*}
    rest=${rest#*\\}
    c=${rest:0:1}
    case $c in
      '"' | '\' | '/') out+=$c; rest=${rest:1} ;;
      b) out+=$'\b'; rest=${rest:1} ;;
      f) out+=$'\f'; rest=${rest:1} ;;
      n) out+=$'\n'; rest=${rest:1} ;;
      r) out+=$'\r'; rest=${rest:1} ;;
      t) out+=$'\t'; rest=${rest:1} ;;
      u)
        [[ ${rest:1:4} =~ ^[0-9A-Fa-f]{4}$ ]] || return 1
        cp=$(( 16#${rest:1:4} ))
        rest=${rest:5}
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

# aemkeys_secret_key JSON_FIELD EXPECTED_BYTES
#   Reads a base64 key from the parsed secret (aemkeys_json_object), checks it is valid base64
#   of exactly EXPECTED_BYTES bytes, and sets AEMKEYS_KEY_<FIELD> (base64, JSON escapes decoded) and
#   AEMKEYS_SHA_<FIELD> (sha256 hex of the decoded bytes). Fails naming the field, never
#   showing the value.
aemkeys_secret_key() {
  local field=$1 want=$2 raw b64 len
  [[ ${AEMKEYS_JSON_TYPE[$field]:-} == string ]] || aemkeys_fail "the secret has no \"$field\" string field"
  raw=${AEMKEYS_JSON[$field]}
  b64=''
  aemkeys_json_unescape "$raw" && b64=$AEMKEYS_REPLY
  AEMKEYS_REPLY=''
  [[ -n $b64 && $b64 =~ $AEMKEYS_B64_RE ]] || aemkeys_fail "\"$field\" in the secret is not valid base64"
  len=$(printf '%s' "$b64" | base64 -d 2>/dev/null | wc -c) || aemkeys_fail "\"$field\" in the secret is not valid base64"
  [[ $len == "$want" ]] || aemkeys_fail "\"$field\" in the secret is $len bytes, expected $want"
  aemkeys_sha256_b64 "$b64"
  printf -v "AEMKEYS_KEY_$field" '%s' "$b64"
  printf -v "AEMKEYS_SHA_$field" '%s' "$AEMKEYS_REPLY"
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
  local want
  aemkeys_sha256_text Bundle
  want=$AEMKEYS_REPLY
  aemkeys_sha256_file "$1"
  [[ $AEMKEYS_REPLY == "$want" ]]
}

# aemkeys_key_files_hold DIR SHA_VAR_PREFIX
#   Returns 0 when DIR/hmac and DIR/master hash to the values of the variables
#   <SHA_VAR_PREFIX>hmac and <SHA_VAR_PREFIX>master; otherwise AEMKEYS_REPLY = the first key that
#   does not.
aemkeys_key_files_hold() {
  local dir=$1 prefix=$2 k want
  for k in hmac master; do
    want="$prefix$k"
    aemkeys_sha256_file "$dir/$k"
    if [[ $AEMKEYS_REPLY != "${!want}" ]]; then
      AEMKEYS_REPLY=$k
      return 1
    fi
  done
}

# aemkeys_scan_bundles FELIX_DIR
#   Reads line 1 (bundle id), 2 (location) and 3 (persistent state) of every
#   FELIX_DIR/bundle*/bundle.info (Apache Felix 4+ cache); folders of uninstalled bundles (state 1)
#   are left out. Never opens a jar. Fills the arrays
#   AEMKEYS_B_NAME (symbolic name guessed from the location's jar name: after the last '/' or
#   ':', without '.jar' and without a '-<digit>...' version suffix), AEMKEYS_B_ID,
#   AEMKEYS_B_STATE and AEMKEYS_B_DIR. Fails when FELIX_DIR is not a directory.
aemkeys_scan_bundles() {
  local felix=$1 id loc state name dir rec rest us=$'\x1f'
  AEMKEYS_B_NAME=() AEMKEYS_B_ID=() AEMKEYS_B_STATE=() AEMKEYS_B_DIR=() AEMKEYS_B_MNAME=() AEMKEYS_B_MREAD=''
  # Listed and read as AemUser (aemkeys_u_infos): one record per folder, control characters gone.
  aemkeys_user_out aemkeys_u_infos "$felix"
  case $AEMKEYS_RC in
    0) ;;
    3) aemkeys_fail "no Felix bundle cache at $felix (has AEM been started once on this instance?)" ;;
    *) aemkeys_fail "cannot read the Felix bundle cache at $felix as $AEMKEYS_USER within $AEMKEYS_IO_TIMEOUT s" ;;
  esac
  # Split in memory: bash reads a pipe one byte per system call (656 bundles: 47 KB).
  aemkeys_lines "$AEMKEYS_OUT"
  AEMKEYS_OUT=''
  for rec in "${AEMKEYS_LINES[@]}"; do
    # Four fields: folder, id, location, state (read -r of IFS=US would give the same).
    [[ $rec == *"$us"*"$us"*"$us"* ]] || continue
    dir=${rec%%"$us"*} rest=${rec#*"$us"}
    id=${rest%%"$us"*} rest=${rest#*"$us"}
    loc=${rest%%"$us"*} state=${rest#*"$us"}
    # Felix names its folders bundle<id> (its BundleCache): no other name is taken, nor printed.
    [[ $dir =~ ^bundle[0-9]{1,19}$ ]] || continue
    dir=$felix/$dir
    # Not a bundle, or uninstalled (state 1: Felix deletes the folder at its next start).
    [[ $id =~ ^[0-9]+$ && -n $loc && $state != 1 ]] || continue
    name=${loc##*/}
    name=${name##*:}
    name=${name%.jar}
    if [[ $name =~ -[0-9] ]]; then
      name=${name%%"${BASH_REMATCH[0]}"*}
    fi
    AEMKEYS_B_NAME+=("$name")
    AEMKEYS_B_ID+=("$id")
    AEMKEYS_B_STATE+=("$state")
    AEMKEYS_B_DIR+=("$dir")
  done
  AEMKEYS_LINES=()
}

# aemkeys_lines TEXT
#   AEMKEYS_LINES = the non-empty lines of TEXT (split in memory: no pipe, no glob).
aemkeys_lines() {
  local IFS=$'\n'
  set -f
  # shellcheck disable=SC2206 # splitting on newlines is the point; globbing is off
  AEMKEYS_LINES=($1)
  set +f
}

# aemkeys_find_bundle SYMBOLIC_NAME
#   After aemkeys_scan_bundles: AEMKEYS_BUNDLE_DIR and AEMKEYS_BUNDLE_ID of the one bundle whose
#   symbolic name is exactly SYMBOLIC_NAME (location's jar name, else aemkeys_manifest_names).
#   Several folders: the single active one (state 32) wins; otherwise fails as ambiguous.
aemkeys_find_bundle() {
  local want=$1 i by ref
  local -a all=() active=()
  # By location first; when no location names it, by the manifests.
  for by in NAME MNAME; do
    [[ $by == MNAME ]] && { (( ${#all[@]} == 0 )) || break; aemkeys_manifest_names; }
    for i in "${!AEMKEYS_B_DIR[@]}"; do
      ref="AEMKEYS_B_${by}[$i]"
      [[ ${!ref:-} == "$want" ]] || continue
      all+=("$i")
      [[ ${AEMKEYS_B_STATE[i]} == 32 ]] && active+=("$i")
    done
  done
  (( ${#all[@]} == 0 )) && aemkeys_fail "no bundle $want in the Felix bundle cache (is this an AEM 6.3+ instance that was started once?)"
  if (( ${#all[@]} > 1 )); then
    if (( ${#active[@]} != 1 )); then
      local names='' j
      # At most 10 names: what one run prints about planted folders stays small.
      for j in "${all[@]:0:10}"; do names+=" ${AEMKEYS_B_DIR[j]##*/}"; done
      (( ${#all[@]} > 10 )) && names+=" and $(( ${#all[@]} - 10 )) more"
      aemkeys_fail "ambiguous: ${#all[@]} bundle folders claim $want (${names# }) and ${#active[@]} of them are active; refusing to guess"
    fi
    all=("${active[0]}")
  fi
  AEMKEYS_BUNDLE_DIR=${AEMKEYS_B_DIR[all[0]]}
  AEMKEYS_BUNDLE_ID=${AEMKEYS_B_ID[all[0]]}
}

# What AEM really reads (README). Tree reads below: aemkeys_u_read, bounded, in the AemUser worker;
# the jars only in aemkeys_u_manifests, the AEM user's step.

AEMKEYS_KEYS_PATH_RE='com[._]adobe[._]granite[._]crypto[._]keys[._]path'
AEMKEYS_MANIFEST_MAX=1048576       # bytes of one inflated manifest
AEMKEYS_MANIFEST_BATCH=8388608     # bytes inflated in one gzip step

# aemkeys_u_read FILE OFFSET COUNT [WIDTH] (as AemUser): FILE must be a regular file, not a
#   link (3 when it does not exist); with WIDTH (COUNT at most), what is read is padded with NULs
#   to WIDTH bytes.
aemkeys_u_read() {
  [[ -e $1 || -L $1 ]] || return 3
  [[ -f $1 && ! -L $1 ]] || return 4
  exec 3< "$1" || return 1
  [[ -f /dev/fd/3 ]] || return 4
  dd iflag=skip_bytes,count_bytes skip="$2" count="$3" bs="${4:-65536}" ${4:+conv=sync} status=none <&3
}

# aemkeys_u_reads WIDTH FILE OFFSET COUNT... (as AemUser): aemkeys_u_read of each piece.
aemkeys_u_reads() {
  local w=$1 wide=()
  shift
  (( w > 0 )) && wide=("$w")
  while (( $# > 2 )); do
    aemkeys_u_read "$1" "$2" "$3" "${wide[@]}" || printf '%*s' "$w" ''
    shift 3
  done
}

# aemkeys_tree_text FILE MAX_BYTES
#   AEMKEYS_REPLY = FILE's first MAX_BYTES bytes (NULs dropped), read as AemUser (aemkeys_u_text);
#   3 when FILE does not exist, 1 when it is unreadable or no regular file.
aemkeys_tree_text() {
  AEMKEYS_REPLY=''
  aemkeys_worker_call t $(( $2 + 1 )) aemkeys_u_text "$1" "$2"
  case $AEMKEYS_RC in
    0) [[ $AEMKEYS_OUT == *x ]] || return 1 ;;
    3) return 3 ;;
    *) return 1 ;;
  esac
  AEMKEYS_REPLY=${AEMKEYS_OUT%x}
  AEMKEYS_OUT=''
}

# aemkeys_u_tails COUNT FILE... (as AemUser): every FILE a regular file, not a link.
aemkeys_u_tails() {
  local count=$1 f
  shift
  for f in "$@"; do [[ -f $f && ! -L $f ]] || return 4; done
  tail -q -c "$count" -- "$@"
}

# aemkeys_u8_le POS N
#   AEMKEYS_N = the little-endian number in AEMKEYS_U8[POS..POS+N).
aemkeys_u8_le() {
  local i
  AEMKEYS_N=0
  for (( i = $1 + $2 - 1; i >= $1; i-- )); do
    AEMKEYS_N=$(( AEMKEYS_N * 256 + ${AEMKEYS_U8[i]:-0} ))
  done
}

# aemkeys_u8_is POS BYTE...
#   0 when AEMKEYS_U8 holds BYTE... from POS on. Element by element: a slice of a long bash array
#   walks it from its start (a directory of thousands of tiny entries made that quadratic).
aemkeys_u8_is() {
  local p=$1
  shift
  while (( $# > 0 )); do
    [[ ${AEMKEYS_U8[p]:-} == "$1" ]] || return 1
    (( p++ ))
    shift
  done
}

# aemkeys_u8_esc POS N
#   AEMKEYS_REPLY = those bytes as printf %b escapes.
aemkeys_u8_esc() {
  local i
  AEMKEYS_REPLY=''
  for (( i = $1; i < $1 + $2; i++ )); do
    printf -v AEMKEYS_REPLY '%s\\x%02x' "$AEMKEYS_REPLY" "${AEMKEYS_U8[i]:-0}"
  done
}

# aemkeys_manifest_bsn TEXT
#   AEMKEYS_REPLY = Bundle-SymbolicName of manifest TEXT (lines unfolded, attributes dropped).
aemkeys_manifest_bsn() {
  local text line key value
  local LC_ALL=C
  text=${1//$'\r\n'/$'\n'}
  text=${text//$'\r'/$'\n'}
  text=${text//$'\n '/}
  AEMKEYS_REPLY=''
  while IFS= read -r line; do
    [[ -z $line ]] && break
    key=${line%%:*}
    [[ ${key,,} == bundle-symbolicname && $line == *:* ]] || continue
    value=${line#*:}
    value=${value%%;*}
    value=${value#"${value%%[![:space:]]*}"}
    value=${value%"${value##*[![:space:]]}"}
    [[ $value =~ ^[A-Za-z0-9_.-]+$ ]] || return 1
    AEMKEYS_REPLY=$value
    return 0
  done <<< "$text"
  return 1
}

# aemkeys_manifest_names
#   AEMKEYS_B_MNAME[i] = Bundle-SymbolicName in bundle i's newest version<N>.<M>/bundle.jar, or
#   empty; once per scan. The jars are opened, parsed and inflated by the AEM user's step
#   (aemkeys_u_manifests, within its time limit and memory): root reads one bounded answer, a
#   line "INDEX NAME" per bundle at most, and believes a NAME only as a symbolic name.
aemkeys_manifest_names() {
  local i n=${#AEMKEYS_B_DIR[@]} k name
  [[ ${AEMKEYS_B_MREAD:-} == "$n" ]] && return 0
  AEMKEYS_B_MNAME=()
  AEMKEYS_B_MREAD=$n
  for i in "${!AEMKEYS_B_DIR[@]}"; do AEMKEYS_B_MNAME[i]=''; done
  (( n > 0 )) || return 0
  aemkeys_user_out aemkeys_u_manifests "${AEMKEYS_B_DIR[@]}"
  [[ $AEMKEYS_RC == 0 ]] || { AEMKEYS_OUT=''; return 0; }
  while read -r k name; do
    [[ $k =~ ^(0|[1-9][0-9]{0,5})$ && $name =~ ^[A-Za-z0-9_.-]{1,255}$ ]] && (( k < n )) && AEMKEYS_B_MNAME[k]=$name
  done <<< "$AEMKEYS_OUT"
  AEMKEYS_OUT=''
}

# aemkeys_u_manifests DIR... (as AemUser)
#   For the k-th bundle folder DIR (from 0) whose newest version<N>.<M>/bundle.jar names itself,
#   prints "k Bundle-SymbolicName". In batches: zip end record (no comment), the manifest's
#   directory entry (first 256 bytes of the directory, else 64 KiB), local header; gzip inflates
#   each manifest with a trailer of the directory's CRC-32 and size (stored: one stored block), so
#   each is checked, and never more than the sizes the directories declare (AEMKEYS_MANIFEST_MAX
#   each, AEMKEYS_MANIFEST_BATCH in one step) reach this shell. Runs in the worker only, whose
#   stderr is /dev/null for every request (aemkeys_w_serve): no 2>/dev/null needed here.
aemkeys_u_manifests() {
  local i j x n e k p q w f best bn bm cdoff cdsize method csize usize lho sum
  local LC_ALL=C
  local -a dirs=("$@") idx=() jars=() sizes=() tails=() todo=() next=() rows=() heads=() batch=() mf=() args=() hargs=()
  local -a cdr=() hds=() dat=() csz=() usz=() mth=() crcs=()
  shopt -s nullglob
  for i in "${!dirs[@]}"; do
    best='' bn=-1 bm=-1
    for f in "${dirs[i]}"/version*.*/bundle.jar; do
      [[ ${f%/bundle.jar} =~ /version([0-9]{1,9})\.([0-9]{1,9})$ ]] || continue
      if (( BASH_REMATCH[1] > bn || (BASH_REMATCH[1] == bn && BASH_REMATCH[2] > bm) )); then
        bn=${BASH_REMATCH[1]} bm=${BASH_REMATCH[2]} best=$f
      fi
    done
    [[ -n $best && -f $best && ! -L $best ]] && idx+=("$i") jars+=("$best")
  done
  (( ${#jars[@]} > 0 )) || return 0
  x='META-INF/MANIFEST.MF'
  for (( i = 0; i < 20; i++ )); do printf -v "mf[i]" '%d' "'${x:i:1}"; done
  mapfile -t sizes < <(stat -c %s -- "${jars[@]}")
  for x in "${sizes[@]}"; do [[ $x =~ ^[0-9]+$ ]] && (( x >= 22 )) || return 0; done
  (( ${#sizes[@]} == ${#jars[@]} )) || return 0
  mapfile -t tails < <(aemkeys_u_tails 22 "${jars[@]}" | od -An -v -tu1 -w22)
  (( ${#tails[@]} == ${#jars[@]} )) || return 0
  for j in "${!jars[@]}"; do
    read -r -a AEMKEYS_U8 <<< "${tails[j]}"
    aemkeys_u8_le 12 4; cdsize=$AEMKEYS_N
    aemkeys_u8_le 16 4; cdoff=$AEMKEYS_N
    aemkeys_u8_is 0 80 75 5 6 && (( cdoff + cdsize <= sizes[j] && cdsize >= 46 )) && todo+=("$j") dat[j]=$cdoff
  done
  for w in 256 65536; do
    (( ${#todo[@]} > 0 )) || break
    next=() batch=() args=() hargs=() sum=0
    for j in "${todo[@]}"; do
      cdr[j]=$(( sizes[j] - dat[j] < w ? sizes[j] - dat[j] : w ))
      hds[j]=$(( sizes[j] < w ? sizes[j] : w ))
      args+=("${jars[j]}" "${dat[j]}" "${cdr[j]}")
      hargs+=("${jars[j]}" 0 "${hds[j]}")
    done
    mapfile -t rows < <(aemkeys_u_reads "$w" "${args[@]}" | od -An -v -tu1 -w"$w")
    mapfile -t heads < <(aemkeys_u_reads "$w" "${hargs[@]}" | od -An -v -tu1 -w"$w")
    (( ${#rows[@]} == ${#todo[@]} && ${#heads[@]} == ${#todo[@]} )) || break
    for x in "${!todo[@]}"; do
      j=${todo[x]}
      read -r -a AEMKEYS_U8 <<< "${rows[x]} ${heads[x]}"
      p=0 method=''
      while (( p + 46 <= cdr[j] && AEMKEYS_U8[p] == 80 && AEMKEYS_U8[p+1] == 75 && AEMKEYS_U8[p+2] == 1 && AEMKEYS_U8[p+3] == 2 )); do
        n=$(( AEMKEYS_U8[p+28] + 256 * AEMKEYS_U8[p+29] ))
        e=$(( AEMKEYS_U8[p+30] + 256 * AEMKEYS_U8[p+31] ))
        k=$(( AEMKEYS_U8[p+32] + 256 * AEMKEYS_U8[p+33] ))
        if (( n == 20 && AEMKEYS_U8[p+46] == 77 )) && aemkeys_u8_is $(( p + 46 )) "${mf[@]}"; then method=$(( AEMKEYS_U8[p+10] + 256 * AEMKEYS_U8[p+11] )); break; fi
        (( p += 46 + n + e + k ))
      done
      [[ -n $method ]] || { next+=("$j"); continue; }
      aemkeys_u8_le $(( p + 20 )) 4; csize=$AEMKEYS_N
      aemkeys_u8_le $(( p + 24 )) 4; usize=$AEMKEYS_N
      aemkeys_u8_le $(( p + 42 )) 4; lho=$AEMKEYS_N
      q=$(( w + lho ))
      (( lho + 30 <= hds[j] )) || { next+=("$j"); continue; }
      aemkeys_u8_is "$q" 80 75 3 4 && (( usize <= AEMKEYS_MANIFEST_MAX )) || continue
      [[ $method == 8 || ( $method == 0 && $csize == "$usize" && $csize -le 65535 ) ]] || continue
      dat[j]=$(( lho + 30 + AEMKEYS_U8[q+26] + 256 * AEMKEYS_U8[q+27] + AEMKEYS_U8[q+28] + 256 * AEMKEYS_U8[q+29] ))
      (( dat[j] + csize <= sizes[j] )) || continue
      aemkeys_u8_esc $(( p + 16 )) 4; crcs[j]=$AEMKEYS_REPLY
      aemkeys_u8_esc $(( p + 24 )) 4; crcs[j]+=$AEMKEYS_REPLY
      mth[j]=$method csz[j]=$csize usz[j]=$usize
      if (( sum + usize > AEMKEYS_MANIFEST_BATCH )); then
        aemkeys_u_inflate_all "${batch[@]}"
        batch=() sum=0
      fi
      batch+=("$j")
      (( sum += usize ))
    done
    aemkeys_u_inflate_all "${batch[@]}"
    todo=("${next[@]}")
  done
  return 0
}

# aemkeys_u_inflate_all J... (as AemUser)
#   aemkeys_u_inflate of J... in one step, else of each J alone (so one wrong jar names only itself).
aemkeys_u_inflate_all() {
  aemkeys_u_inflate "$@" || for j in "$@"; do aemkeys_u_inflate "$j"; done
}

# aemkeys_u_inflate J... (as AemUser)
#   aemkeys_u_manifests' gzip step (one member per jar; its jars, dat, csz, usz, mth, crcs and idx
#   by bash's dynamic scope): prints "INDEX NAME" for each J whose manifest names itself; 1,
#   naming none, when one is wrong or the text is longer than the sizes declared (gzip's output
#   is cut there: a deflate bomb inflates no further).
aemkeys_u_inflate() {
  local j pos=0 text want=0
  local -a args=()
  (( $# > 0 )) || return 0
  for j in "$@"; do args+=("${jars[j]}" "${dat[j]}" "${csz[j]}"); (( want += usz[j] )); done
  text=$(
    set -o pipefail
    exec 3< <(aemkeys_u_reads 0 "${args[@]}")
    for j in "$@"; do
      printf '%b' '\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff'
      if [[ ${mth[j]} == 0 ]]; then
        printf '%b' "$(printf '\\x01\\x%02x\\x%02x\\x%02x\\x%02x' $(( csz[j] & 255 )) $(( csz[j] >> 8 )) $(( ~csz[j] & 255 )) $(( (~csz[j] >> 8) & 255 )))"
      fi
      head -c "${csz[j]}" <&3
      printf '%b' "${crcs[j]}"
    done | gzip -dc | head -c $(( want + 1 )) && printf x
  ) && [[ $text == *x ]] && (( ${#text} == want + 1 )) || return 1
  for j in "$@"; do
    aemkeys_manifest_bsn "${text:pos:usz[j]}" && printf '%s %s\n' "${idx[j]}" "$AEMKEYS_REPLY"
    (( pos += usz[j] ))
  done
}

# aemkeys_props_get FILE KEY
#   AEMKEYS_REPLY = KEY's value in the Java properties FILE (1 MiB); 1 when absent or no FILE.
aemkeys_props_get() {
  local file=$1 want=$2 line full='' key rest
  AEMKEYS_REPLY=''
  aemkeys_tree_text "$file" 1048576
  case $? in
    0) ;;
    3) return 1 ;;
    *) aemkeys_fail "cannot read $file (not a regular file?)" ;;
  esac
  while IFS= read -r line || [[ -n $line ]]; do
    line=${line%$'\r'}
    line=${line#"${line%%[![:space:]]*}"}
    if [[ -n $full ]]; then full=${full%\\}$line; else full=$line; fi
    [[ $full =~ (^|[^\\])(\\\\)*\\$ ]] && continue
    line=$full full=''
    [[ -z $line || $line == '#'* || $line == '!'* ]] && continue
    [[ $line =~ ^([^=:[:space:]]+)[[:space:]]*[=:]?[[:space:]]*(.*)$ ]] || continue
    key=${BASH_REMATCH[1]} rest=${BASH_REMATCH[2]}
    if [[ $key == "$want" ]]; then
      AEMKEYS_REPLY=$rest
      return 0
    fi
  done <<< "$AEMKEYS_REPLY"
  return 1
}

# aemkeys_felix_dir QUICKSTART_DIR
#   AEMKEYS_REPLY = the Felix cache: org.osgi.framework.storage of conf/sling.properties (inside
#   QUICKSTART_DIR only), else launchpad/felix; names crx-repository/ (AEM Forms on JEE) if there.
aemkeys_felix_dir() {
  local qs=$1 props="$1/conf/sling.properties" dir launchpad="$1/launchpad"
  if aemkeys_props_get "$props" sling.launchpad; then
    launchpad=${AEMKEYS_REPLY//'${sling.home}'/$qs}
    [[ $launchpad == /* ]] || launchpad=$qs/$launchpad
  fi
  if aemkeys_props_get "$props" org.osgi.framework.storage; then
    dir=${AEMKEYS_REPLY//'${sling.home}'/$qs}
    dir=${dir//'${sling.launchpad}'/$launchpad}
    [[ $dir == /* ]] || dir=$qs/$dir
    while [[ $dir == */ && $dir != / ]]; do dir=${dir%/}; done
    # The folder's name is in every path printed later: it must print as it is.
    aemkeys_name "$dir"
    [[ $AEMKEYS_REPLY == "$dir" ]] || aemkeys_fail "org.osgi.framework.storage in $props ($AEMKEYS_REPLY) holds characters" \
      "other than letters, digits, space and . _ / + @ , = ~ -; refusing to use it"
    [[ $dir == *'${'* || /$dir/ == */../* || /$dir/ == */./* || $dir != "$qs"/* ]] && aemkeys_fail "org.osgi.framework.storage in $props ($dir) is not a folder inside QuickstartDir; refusing to use it"
    aemkeys_user_is realdir "$dir" || aemkeys_fail "no Felix bundle cache at $dir (org.osgi.framework.storage in $props)"
    AEMKEYS_REPLY=$dir
    return 0
  fi
  dir=$qs/launchpad/felix
  if ! aemkeys_user_is dir "$dir" && aemkeys_user_is dir "$qs/crx-repository/launchpad/felix"; then
    aemkeys_fail "no Felix bundle cache at $dir, but $qs/crx-repository has one (AEM Forms on JEE): pass QuickstartDir=$qs/crx-repository"
  fi
  AEMKEYS_REPLY=$dir
}

# aemkeys_keys_path_override QUICKSTART_DIR SERVICE
#   0 and AEMKEYS_REPLY = where, when com.adobe.granite.crypto.keys.path is set in conf/
#   sling.properties, bin/start (uncommented) or the unit SERVICE's Environment/ExecStart.
aemkeys_keys_path_override() {
  local qs=$1 service=$2 line f="$1/bin/start"
  AEMKEYS_REPLY=''
  if aemkeys_props_get "$qs/conf/sling.properties" com.adobe.granite.crypto.keys.path && [[ -n $AEMKEYS_REPLY ]]; then
    aemkeys_name "$AEMKEYS_REPLY"
    AEMKEYS_REPLY="$qs/conf/sling.properties sets com.adobe.granite.crypto.keys.path=$AEMKEYS_REPLY"
    return 0
  fi
  aemkeys_tree_text "$f" 1048576
  case $? in
    0) ;;
    3) AEMKEYS_REPLY='' ;;
    *) aemkeys_fail "cannot read $f (not a regular file?)" ;;
  esac
  if [[ -n $AEMKEYS_REPLY ]]; then
    while IFS= read -r line || [[ -n $line ]]; do
      line=${line#"${line%%[![:space:]]*}"}
      [[ $line == '#'* ]] && continue
      if [[ ${line,,} =~ $AEMKEYS_KEYS_PATH_RE ]]; then
        AEMKEYS_REPLY="$f sets com.adobe.granite.crypto.keys.path"
        return 0
      fi
    done <<< "$AEMKEYS_REPLY"
  fi
  if [[ -n $service ]] && command -v systemctl >/dev/null 2>&1; then
    aemkeys_capture systemctl show -p Environment -p ExecStart -- "$service"
    if [[ $AEMKEYS_RC == 0 && ${AEMKEYS_OUT,,} =~ $AEMKEYS_KEYS_PATH_RE ]]; then
      AEMKEYS_REPLY="the systemd unit $service sets com.adobe.granite.crypto.keys.path (Environment or ExecStart)"
      return 0
    fi
  fi
  AEMKEYS_REPLY=''
  return 1
}

# --- Steps run as AemUser -------------------------------------------------------------------
# Every file operation inside QuickstartDir (list, test, read, stage, rename, mkdir, backup,
# cleanup) runs as AemUser: root only decides, reads secrets and talks to systemctl and to
# 127.0.0.1, and never looks at a path of the tree itself. A link or a race planted by that user
# can therefore only lead where the user could write or read anyway. One AemUser process per run
# does those steps (the worker, a coprocess started by aemkeys_user_init): the aemkeys_u_*
# functions are its side, shipped as text (declare -f) to `bash -c`. It gets paths and bytes in
# requests (never key material in argv or the environment), answers text only, and its
# functions exit with 0 ok, 3 absent, 4 not a regular file, 5 too large, anything else failed.
# The worker holds its two pipes and /dev/null, nothing of root's: the AEM user can inspect its
# own processes (pidfd_getfd(2), ptrace) and take copies of whatever they hold open. Root reads
# its answers bounded in size and time and checks them, as any other input from the tree.

# aemkeys_user_init USER
#   Starts the worker as USER: setpriv (util-linux; no PAM, no session, no log line) when this
#   script runs as root, a plain bash when it already runs as USER. Fails otherwise. Call it from
#   the main shell (the worker lives as long as that shell).
aemkeys_user_init() {
  local uid gid
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
  AEMKEYS_USER_CODE="$(declare -p AEMKEYS_TMP_PREFIX AEMKEYS_TMP_SUFFIX)
$(declare -f aemkeys_u_isdir aemkeys_u_writable aemkeys_u_infos aemkeys_u_probe aemkeys_u_write aemkeys_u_mkdir aemkeys_u_clean aemkeys_u_backup aemkeys_u_read aemkeys_u_reads aemkeys_u_tails)
$(declare -p AEMKEYS_MANIFEST_MAX AEMKEYS_MANIFEST_BATCH)
$(declare -f aemkeys_u_manifests aemkeys_u_inflate_all aemkeys_u_inflate aemkeys_u8_le aemkeys_u8_is aemkeys_u8_esc aemkeys_manifest_bsn)
$(declare -f aemkeys_w_serve aemkeys_w_pieces aemkeys_u_is aemkeys_u_text aemkeys_u_configs aemkeys_u_hex)
aemkeys_w_serve"
  aemkeys_worker_start || aemkeys_fail "cannot start a process as $1 (setpriv)"
}

# aemkeys_worker_start
#   Starts the worker (coprocess AEMKEYS_W) and keeps plain copies of its pipes in AEMKEYS_WQ
#   (requests) and AEMKEYS_WR (answers): bash closes a coprocess's own descriptors in pipeline
#   subshells, and the tree helpers are used in pipelines. Returns 1 unless it answers a first request.
aemkeys_worker_start() {
  coproc AEMKEYS_W { aemkeys_worker_exec; }
  AEMKEYS_WPID=$AEMKEYS_W_PID
  exec {AEMKEYS_WQ}>&"${AEMKEYS_W[1]}" {AEMKEYS_WR}<&"${AEMKEYS_W[0]}"
  aemkeys_worker_call t 16 aemkeys_u_is dir /
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

# aemkeys_worker_call KIND MAX FUNCTION [ARG...]
#   Runs FUNCTION ARG... in the worker (stdin /dev/null, stderr dropped) and reads its answer,
#   all of it within AEMKEYS_IO_TIMEOUT s. KIND t: "NONCE STATUS LENGTH" then LENGTH bytes;
#   AEMKEYS_OUT = the output as text (NULs and trailing newlines dropped), at most MAX bytes.
#   KIND b: the output's bytes, as they come (aemkeys_worker_stream), at most MAX, go to stdout.
#   AEMKEYS_RC (also the return status) = FUNCTION's status, 5 when the answer is larger than
#   MAX, 1 when the worker did not answer well (it is then stopped). The request is written by
#   a background subshell: a worker that stops reading cannot block root either.
aemkeys_worker_call() {
  local kind=$1 max=$2 nonce req hdr writer rc len deadline LC_ALL=C
  shift 2
  AEMKEYS_OUT='' AEMKEYS_RC=1
  [[ -n ${AEMKEYS_WQ:-} ]] || return 1
  nonce=$RANDOM$RANDOM$RANDOM
  printf -v req ' %q' "$@"
  # The writer keeps no output of root's (stdout, stderr, aemkeys_capture's fd 3) and is killed
  # once the answer is in: a worker that answers without reading all cannot leave it blocked.
  # Disowned: bash reports no job killed on stderr.
  { printf '%s %s %s\n%s' "$nonce" "$kind" "${#req}" "$req" >&"$AEMKEYS_WQ"; } >/dev/null 2>&1 3>&- &
  writer=$!
  disown "$writer"
  req=''
  if [[ $kind == b ]]; then
    aemkeys_worker_stream "$nonce" $(( (max + 2) / 3 * 4 )) "$writer" | base64 -d
    local -a st=("${PIPESTATUS[@]}")
    AEMKEYS_RC=${st[0]}
    # Bytes that are no base64: a failure even when the command succeeded.
    (( st[1] == 0 || st[0] != 0 )) || AEMKEYS_RC=1
    return "$AEMKEYS_RC"
  fi
  hdr='' deadline=$(( SECONDS + AEMKEYS_IO_TIMEOUT ))
  IFS= read -r -n 48 -t "$AEMKEYS_IO_TIMEOUT" hdr <&"$AEMKEYS_WR"
  kill -KILL "$writer" 2>/dev/null
  if [[ ! $hdr =~ ^$nonce\ ([0-9]{1,3})\ ([0-9]{1,12})$ ]] || (( BASH_REMATCH[2] > max )); then
    [[ -n ${BASH_REMATCH[2]:-} ]] && AEMKEYS_RC=5
    aemkeys_worker_stop
    return "$AEMKEYS_RC"
  fi
  rc=${BASH_REMATCH[1]} len=${BASH_REMATCH[2]}
  if (( len > 0 )) && ! { (( SECONDS < deadline )) && IFS= read -r -N "$len" -t $(( deadline - SECONDS )) AEMKEYS_OUT <&"$AEMKEYS_WR" \
    && (( ${#AEMKEYS_OUT} == len )); }; then
    AEMKEYS_OUT=''
    aemkeys_worker_stop
    return 1
  fi
  AEMKEYS_RC=$rc
  return "$rc"
}

# aemkeys_worker_stream NONCE MAX WRITER
#   For aemkeys_worker_call b: reads "NONCE C LENGTH" pieces (LENGTH at most 65536 bytes of
#   base64, MAX in all) and copies each to stdout, up to "NONCE E STATUS", all within
#   AEMKEYS_IO_TIMEOUT s; returns STATUS, 5 when over MAX, 1 (worker stopped) on anything else
#   (also a drip of pieces that outlasts the time). Kills WRITER once the first piece is in.
aemkeys_worker_stream() {
  local nonce=$1 max=$2 writer=$3 hdr total=0 deadline=$(( SECONDS + AEMKEYS_IO_TIMEOUT ))
  while (( SECONDS < deadline )); do
    hdr=''
    IFS= read -r -n 48 -t $(( deadline - SECONDS )) hdr <&"$AEMKEYS_WR"
    [[ -n $writer ]] && kill -KILL "$writer" 2>/dev/null
    writer=''
    if [[ $hdr =~ ^$nonce\ E\ ([0-9]{1,3})$ ]]; then
      return "${BASH_REMATCH[1]}"
    fi
    [[ $hdr =~ ^$nonce\ C\ ([0-9]{1,5})$ ]] && (( BASH_REMATCH[1] <= 65536 )) || break
    (( total += BASH_REMATCH[1] ))
    (( total <= max )) || { aemkeys_worker_stop; return 5; }
    (( SECONDS < deadline )) && timeout --foreground -k 1 $(( deadline - SECONDS )) head -c "${BASH_REMATCH[1]}" <&"$AEMKEYS_WR" || break
  done
  aemkeys_worker_stop
  return 1
}

# aemkeys_user_is TEST PATH: aemkeys_u_is as AemUser (dir, realdir or exists); 1 also when the
#   worker does not answer.
aemkeys_user_is() {
  aemkeys_worker_call t 16 aemkeys_u_is "$@"
}

# aemkeys_as_user FUNCTION [ARG...]
#   Runs aemkeys_u_FUNCTION (or a command) as AemUser in the worker: stdout = its output (bytes,
#   at most AEMKEYS_STREAM_MAX), status = its status. Its stdin is /dev/null, its stderr dropped.
aemkeys_as_user() {
  aemkeys_worker_call b "$AEMKEYS_STREAM_MAX" "$@"
}

# aemkeys_user_out FUNCTION [ARG...]
#   Runs FUNCTION as AemUser in the worker; AEMKEYS_OUT = its output as text (at most
#   4 * AEMKEYS_READ_MAX bytes: more is status 5), AEMKEYS_RC = its exit status.
aemkeys_user_out() {
  aemkeys_worker_call t $(( 4 * AEMKEYS_READ_MAX )) "$@"
  return 0
}

# aemkeys_w_serve (the worker, as AemUser)
#   Answers requests from root, one at a time: "NONCE KIND LENGTH" and LENGTH bytes of
#   %q-quoted words (a command); the answer is "NONCE STATUS LENGTH" and LENGTH bytes of the
#   command's output (KIND t), or its output as base64 in pieces (KIND b, aemkeys_w_pieces).
#   Each command runs in a subshell of its own.
aemkeys_w_serve() {
  local nonce kind len req out rc
  local -a cmd
  while IFS=' ' read -r nonce kind len && [[ $len =~ ^[0-9]+$ ]] && IFS= read -r -N "$len" req; do
    eval "cmd=($req)"
    if [[ $kind == b ]]; then
      { (set -o pipefail; "${cmd[@]}" </dev/null 2>/dev/null | base64 -w 0); printf ' %s' "$?"; } | aemkeys_w_pieces "$nonce"
      continue
    fi
    out=$("${cmd[@]}" </dev/null 2>/dev/null)
    rc=$?
    printf '%s %s %s\n%s' "$nonce" "$rc" "${#out}" "$out"
  done
}

# aemkeys_w_pieces NONCE (the worker, as AemUser)
#   Sends stdin, base64 text then " STATUS", as "NONCE C LENGTH" pieces of at most 65536 bytes as
#   they come (root consumes while the command still runs), then "NONCE E STATUS".
aemkeys_w_pieces() {
  local buf='' chunk n
  while IFS= read -r -N 65536 chunk || [[ -n $chunk ]]; do
    buf+=$chunk
    chunk=''
    # Hold back the last 8 bytes: " STATUS" must not go out as base64.
    n=$(( ${#buf} - 8 ))
    (( n >= 65536 )) || continue
    printf '%s C %s\n%s' "$1" 65536 "${buf:0:65536}"
    buf=${buf:65536}
  done
  n=${buf% *}
  [[ -n $n ]] && printf '%s C %s\n%s' "$1" "${#n}" "$n"
  printf '%s E %s\n' "$1" "${buf##* }"
}

# aemkeys_u_is TEST PATH (as AemUser): 0 when PATH is a dir|realdir (a directory, not a link)|
#   exists (test -e).
aemkeys_u_is() {
  case $1 in
    dir) [[ -d $2 ]] ;;
    realdir) [[ -d $2 && ! -L $2 ]] ;;
    exists) [[ -e $2 ]] ;;
    *) return 2 ;;
  esac
}

# aemkeys_u_text FILE MAX_BYTES (as AemUser): FILE's first MAX_BYTES bytes, NULs dropped,
#   then "x" (so that trailing newlines survive); 3 when FILE does not exist, 4 when it is no
#   regular file (aemkeys_u_read).
aemkeys_u_text() {
  set -o pipefail
  aemkeys_u_read "$1" 0 "$2" | tr -d '\000' && printf x
}

# aemkeys_u_configs DIR PID KEEP MAX (as AemUser)
#   One line per config file name of PID (PID[-~]*.config|cfg|cfg.json|json|properties|xml) in
#   DIR and its subfolders, but KEEP: "f NAME" for a regular file in a folder that is no link,
#   "o NAME" for anything else; at most MAX + 1 lines (root refuses more than MAX, and the answer
#   stays small however many are planted). NAME is the path below DIR, aemkeys_u_hex-encoded.
#   Exit 3 when DIR is no directory.
aemkeys_u_configs() {
  local f kind base n=0
  [[ -d $1 ]] || return 3
  shopt -s nullglob
  for f in "$1/$2"* "$1"/*/"$2"*; do
    base=${f##*/}
    [[ ${base#"$2"} =~ ^([-~][^/]*)?\.(config|cfg|cfg\.json|json|properties|xml)$ && $f != "$3" ]] || continue
    kind=o
    [[ -f $f && ! -L $f && ! -L ${f%/*} ]] && kind=f
    aemkeys_u_hex "${f#"$1"/}"
    printf '%s %s\n' "$kind" "$AEMKEYS_REPLY"
    (( ++n <= $4 )) || break
  done
}

# aemkeys_u_hex TEXT: AEMKEYS_REPLY = TEXT with each byte but letters, digits and . _ - / as \xHH.
aemkeys_u_hex() {
  local s=$1 i c out=''
  for (( i = 0; i < ${#s}; i++ )); do
    c=${s:i:1}
    if [[ $c == [A-Za-z0-9._/-] ]]; then out+=$c; else printf -v c '\\x%02x' "'$c"; out+=$c; fi
  done
  AEMKEYS_REPLY=$out
}

# aemkeys_u_isdir DIR (as AemUser): 0 when DIR is a directory the user can reach.
aemkeys_u_isdir() {
  [[ -d $1 && -x $1 ]]
}

# aemkeys_u_writable DIR... (as AemUser): 0 when each DIR is a folder the user can write, or
#   does not exist and its parent is one; otherwise prints the first that is not.
aemkeys_u_writable() {
  local d p
  for d in "$@"; do
    p=$d
    [[ -e $d || -L $d ]] || p=${d%/*}
    [[ -d $p && -w $p && -x $p ]] || { printf '%s\n' "$d"; return 1; }
  done
}

# aemkeys_u_infos FELIX_DIR (as AemUser)
#   One line per FELIX_DIR/bundle*/bundle.info that is a regular file: folder name, lines 1-3
#   (at most 1024 characters each, CR and control characters removed), separated by \x1f.
#   Folder names holding control characters are left out. Exit 3 when FELIX_DIR is no directory.
aemkeys_u_infos() {
  local info dir l1 l2 l3 us=$'\x1f'
  [[ -d $1 ]] || return 3
  shopt -s nullglob
  for info in "$1"/bundle*/bundle.info; do
    dir=${info%/bundle.info}
    dir=${dir##*/}
    [[ $dir == *[[:cntrl:]]* || ! -f $info ]] && continue
    l1='' l2='' l3=''
    { [[ -f /dev/stdin ]] && IFS= read -r -n 1024 l1 && IFS= read -r -n 1024 l2 && IFS= read -r -n 1024 l3; } < "$info" 2>/dev/null
    l1=${l1%$'\r'} l2=${l2%$'\r'} l3=${l3%$'\r'}
    printf '%s\n' "$dir$us${l1//[[:cntrl:]]/}$us${l2//[[:cntrl:]]/}$us${l3//[[:cntrl:]]/}"
  done
}

# aemkeys_u_probe FILE MAX_BYTES (as AemUser)
#   Prints "OWNER MODE MTIME BASE64" of FILE (owner and mode of the name itself, stat without
#   -L; the content read through one open file that must be a regular file).
aemkeys_u_probe() {
  local f=$1 max=$2 meta b64 n
  [[ -e $f || -L $f ]] || return 3
  [[ -f $f ]] || return 4
  exec 3< "$f" || return 1
  [[ -f /dev/fd/3 ]] || return 4
  meta=$(stat -c '%U %a %Y' -- "$f") || return 1
  b64=$(head -c "$(( max + 1 ))" <&3 | base64 -w 0) || return 1
  n=${b64%%=*}
  (( ${#b64} / 4 * 3 - (${#b64} - ${#n}) <= max )) || return 5
  printf '%s %s\n' "$meta" "$b64"
}

# aemkeys_u_write DEST MODE MAX_BYTES BASE64 (as AemUser)
#   Writes the bytes of BASE64 (at most MAX_BYTES; decoded in a pipe from the printf builtin) to
#   DEST atomically: a new private file from mktemp in DEST's folder, chmod MODE, fsync, rename
#   over DEST, fsync the folder.
aemkeys_u_write() {
  local dest=$1 tmp
  tmp=$(mktemp -p "${dest%/*}" --suffix="$AEMKEYS_TMP_SUFFIX" "${AEMKEYS_TMP_PREFIX}XXXXXXXXXX") || return 1
  if ! { printf '%s' "$4" | base64 -d | head -c "$3" > "$tmp" && chmod "$2" -- "$tmp" && sync -- "$tmp" && mv -fT -- "$tmp" "$dest"; }; then
    rm -f -- "$tmp"
    return 1
  fi
  sync -- "${dest%/*}" 2>/dev/null
  return 0
}

# aemkeys_u_mkdir DIR MODE (as AemUser): prints created|exists.
aemkeys_u_mkdir() {
  if [[ -d $1 ]]; then echo exists; return 0; fi
  mkdir -m "$2" -- "$1" && echo created
}

# aemkeys_u_clean BACKUPS_DIR DIR... (as AemUser)
#   Removes staging files of an interrupted run from each DIR and unfinished backups from
#   BACKUPS_DIR; prints how many.
aemkeys_u_clean() {
  local d f n=0 backups=$1
  shift
  shopt -s nullglob
  for d in "$@"; do
    for f in "$d/$AEMKEYS_TMP_PREFIX"*"$AEMKEYS_TMP_SUFFIX"; do
      rm -f -- "$f" && (( n++ ))
    done
  done
  for f in "$backups/.incomplete-"*; do
    rm -rf -- "$f" && (( n++ ))
  done
  echo "$n"
}

# aemkeys_u_backup BACKUPS_DIR STAMP FILE... (as AemUser)
#   Copies FILEs into BACKUPS_DIR/STAMP[-n]/ (0700): staged in a mktemp folder, fsynced, renamed
#   when complete. Prints the backup folder.
aemkeys_u_backup() {
  local root=$1 stamp=$2 name n=1 staging
  shift 2
  [[ -d $root ]] || mkdir -m 0700 -- "$root" || return 1
  staging=$(mktemp -d -p "$root" .incomplete-XXXXXXXX) || return 1
  name=$stamp
  while [[ -e $root/$name ]]; do
    (( n++ ))
    name=$stamp-$n
  done
  cp --preserve=mode,timestamps -- "$@" "$staging/" && sync -- "$staging" "$staging"/* \
    && mv -T -- "$staging" "$root/$name" || { rm -rf -- "$staging"; return 1; }
  sync -- "$root" 2>/dev/null
  printf '%s\n' "$root/$name"
}

# aemkeys_probe FILE [MAX_BYTES]
#   Reads FILE as AemUser. AEMKEYS_PROBE = absent|file; for a file AEMKEYS_PROBE_OM ("aem 600"),
#   AEMKEYS_PROBE_MTIME (epoch s) and AEMKEYS_PROBE_B64 (base64 of the content). Fails with one
#   line when FILE is not a regular file, is larger than MAX_BYTES (default AEMKEYS_READ_MAX)
#   or cannot be read by AemUser within AEMKEYS_IO_TIMEOUT s.
aemkeys_probe() {
  local f=$1 out rest
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
  AEMKEYS_PROBE=file AEMKEYS_PROBE_OM=${BASH_REMATCH[1]} AEMKEYS_PROBE_MTIME=${BASH_REMATCH[2]}
  AEMKEYS_PROBE_B64=${BASH_REMATCH[3]}
  rest='' out=''
}

# aemkeys_b64_len BASE64 → AEMKEYS_REPLY = how many bytes BASE64 decodes to.
aemkeys_b64_len() {
  local b=$1 pad=0
  [[ $b == *= ]] && pad=1
  [[ $b == *== ]] && pad=2
  AEMKEYS_REPLY=$(( ${#b} / 4 * 3 - pad ))
}

# aemkeys_check_writable DIR...
#   Before anything is changed: fails (nothing changed) unless AemUser can write each DIR (or
#   create it). A later swap by that user can still make a write fail, never leave the tree.
aemkeys_check_writable() {
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
#   As AemUser: creates DIR (one level) with MODE when it does not exist. AEMKEYS_REPLY =
#   created|exists.
aemkeys_ensure_dir() {
  aemkeys_user_out aemkeys_u_mkdir "$1" "$2"
  [[ $AEMKEYS_RC == 0 && ( $AEMKEYS_OUT == created || $AEMKEYS_OUT == exists ) ]] || aemkeys_fail "cannot create $1 as $AEMKEYS_USER"
  AEMKEYS_REPLY=$AEMKEYS_OUT
}

# aemkeys_http_open METHOD PORT PATH BASIC_AUTH TIMEOUT [FORM_BODY]
#   Sends one HTTP/1.0 request to 127.0.0.1:PORT over bash's /dev/tcp (credentials go through the
#   socket, never argv; BASIC_AUTH is the base64 "user:password") and reads the status line.
#   The whole exchange gets TIMEOUT s: AEMKEYS_HTTP_DEADLINE (in SECONDS) bounds every later
#   read (aemkeys_http_line). Sets AEMKEYS_HTTP_STATUS (e.g. 200) and AEMKEYS_HTTP_FD, the open
#   socket positioned at the headers: the caller reads the rest and closes it
#   (exec {AEMKEYS_HTTP_FD}>&-). Returns 1, socket closed, when the connection or the status line fails.
aemkeys_http_open() {
  local method=$1 port=$2 path=$3 auth=$4 body=${6:-} fd
  AEMKEYS_HTTP_STATUS='' AEMKEYS_HTTP_DEADLINE=$(( SECONDS + $5 ))
  # Braces: a redirection on a bare `exec` would stay in force and silence stderr for good.
  { exec {fd}<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || return 1
  {
    printf '%s %s HTTP/1.0\r\nHost: 127.0.0.1:%s\r\nAuthorization: Basic %s\r\nConnection: close\r\n' \
      "$method" "$path" "$port" "$auth"
    if [[ $method == POST ]]; then
      printf 'Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %s\r\n\r\n%s' "${#body}" "$body"
    else
      printf '\r\n'
    fi
  } 1>&"$fd" 2>/dev/null || { exec {fd}>&-; return 1; }
  AEMKEYS_HTTP_FD=$fd
  if ! aemkeys_http_line || [[ ! $AEMKEYS_HTTP_LINE =~ ^HTTP/[0-9.]+\ ([0-9]{3}) ]]; then
    exec {fd}>&-
    return 1
  fi
  AEMKEYS_HTTP_STATUS=${BASH_REMATCH[1]}
}

# aemkeys_http_line
#   AEMKEYS_HTTP_LINE = the next line from AEMKEYS_HTTP_FD (CR removed, at most 8192
#   characters: a longer line comes in pieces), read before AEMKEYS_HTTP_DEADLINE. Returns 1 at
#   the end of the answer or when time is up.
aemkeys_http_line() {
  local left=$(( AEMKEYS_HTTP_DEADLINE - SECONDS ))
  AEMKEYS_HTTP_LINE=''
  (( left > 0 )) || return 1
  IFS= read -r -n 8192 -t "$left" AEMKEYS_HTTP_LINE <&"$AEMKEYS_HTTP_FD" || [[ -n $AEMKEYS_HTTP_LINE && $? -lt 128 ]] || return 1
  AEMKEYS_HTTP_LINE=${AEMKEYS_HTTP_LINE%$'\r'}
}

# aemkeys_http METHOD PORT PATH BASIC_AUTH [FORM_BODY]
#   One request (aemkeys_http_open, 30 s in all) for a text answer of at most AEMKEYS_HTTP_MAX
#   bytes. Sets AEMKEYS_HTTP_STATUS (empty when the connection failed) and AEMKEYS_HTTP_BODY
#   (headers and body). Returns 1 when the answer is cut, too large (also: a Content-Length
#   above the limit, however few bytes follow) or too slow.
aemkeys_http() {
  local resp='' ok=1 head=1 big=0
  AEMKEYS_HTTP_BODY=''
  aemkeys_http_open "$1" "$2" "$3" "$4" 30 "${5:-}" || return 1
  while aemkeys_http_line; do
    resp+=$AEMKEYS_HTTP_LINE$'\n'
    (( ${#resp} <= AEMKEYS_HTTP_MAX )) || break
    [[ -z $AEMKEYS_HTTP_LINE ]] && head=0
    if (( head )) && [[ ${AEMKEYS_HTTP_LINE,,} =~ ^content-length:[[:space:]]*([0-9]+)[[:space:]]*$ ]] \
      && (( ${#BASH_REMATCH[1]} > 9 || 10#${BASH_REMATCH[1]} > AEMKEYS_HTTP_MAX )); then
      big=1
      break
    fi
  done
  # The answer ended (not the clock, not the size limit).
  (( !big && SECONDS < AEMKEYS_HTTP_DEADLINE && ${#resp} <= AEMKEYS_HTTP_MAX )) && ok=0
  exec {AEMKEYS_HTTP_FD}>&-
  AEMKEYS_HTTP_BODY=$resp
  return $ok
}

# aemkeys_admin_auth ARN REGION
#   AEMKEYS_REPLY = base64 of "username:password" from the secret ARN ({"username","password"},
#   JSON escapes decoded), for HTTP Basic auth. Fails naming AdminSecretId; never shows a value.
aemkeys_admin_auth() {
  local user
  aemkeys_get_secret_string "$1" "$2"
  if ! aemkeys_json_object "$AEMKEYS_SECRET" || [[ ${AEMKEYS_JSON_TYPE[username]:-} != string || ${AEMKEYS_JSON_TYPE[password]:-} != string ]]; then
    AEMKEYS_SECRET='' AEMKEYS_JSON=()
    aemkeys_fail "AdminSecretId: the secret must be a JSON object with \"username\" and \"password\" strings"
  fi
  AEMKEYS_SECRET=''
  aemkeys_json_unescape "${AEMKEYS_JSON[username]}" || { AEMKEYS_JSON=(); aemkeys_fail "AdminSecretId: bad escape in \"username\""; }
  user=$AEMKEYS_REPLY
  aemkeys_json_unescape "${AEMKEYS_JSON[password]}" || { AEMKEYS_JSON=(); aemkeys_fail "AdminSecretId: bad escape in \"password\""; }
  AEMKEYS_JSON=()
  aemkeys_basic_auth "$user" "$AEMKEYS_REPLY"
}

# aemkeys_basic_auth USER PASSWORD
#   AEMKEYS_REPLY = base64 of "USER:PASSWORD" (encoded in a pipe, never in argv).
aemkeys_basic_auth() {
  AEMKEYS_REPLY=$(printf '%s:%s' "$1" "$2" | base64 -w 0) || aemkeys_fail "cannot encode credentials"
}

# --- CloudWatch Logs (root side: AWS calls only, no tree operation) ---------------------------
# Run Command and the lifecycle Automation stream output with CloudWatchOutputConfig; a State
# Manager association cannot (AWS::SSM::Association has an S3 output location only), so the
# installer sends its own output when the document's LogGroupName is set.

# PutLogEvents' documented limits (CloudWatch Logs API reference, PutLogEvents): a batch holds at
# most 10,000 events and 1,048,576 bytes, counted as the events' UTF-8 bytes plus 26 per event;
# one event at most 256 KB. Lines are cut at AEMKEYS_LOG_LINE bytes, and one run sends at most
# AEMKEYS_LOG_LINES lines of output (then one line saying how many more there were).
AEMKEYS_LOG_BATCH_BYTES=1048576
AEMKEYS_LOG_BATCH_EVENTS=10000
AEMKEYS_LOG_LINE=8192
AEMKEYS_LOG_LINES=1000
# Valid UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF), byte by byte.
AEMKEYS_UTF8_RE=$'^([\x01-\x7f]|[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf][\x80-\xbf]'
AEMKEYS_UTF8_RE+=$'|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf][\x80-\xbf]|[\xf1-\xf3][\x80-\xbf][\x80-\xbf][\x80-\xbf]'
AEMKEYS_UTF8_RE+=$'|\xf4[\x80-\x8f][\x80-\xbf][\x80-\xbf])*$'

# aemkeys_logged GROUP REGION COMMAND [ARG...]
#   Runs COMMAND (in a subshell, output captured by aemkeys_capture), prints its stdout and
#   stderr, then puts them into the stream association/ID of the CloudWatch Logs group GROUP in
#   REGION (ID: the SSM agent's AWS_SSM_INSTANCE_ID, else the host name): one stream per instance,
#   created by its first run only (CreateLogStream allows 50 calls a second per account and region;
#   a burst of new instances makes one call each, retried by the AWS CLI when throttled). One event
#   per non-empty line, stdout first (JSON: \ and " escaped, tab as \t, other control characters
#   as '?', a line that is not valid UTF-8 with its other bytes as '?'), then "association run:
#   WORD (exit STATUS)", WORD from the last "result: WORD ..." line, or "failed" unless STATUS is
#   0 or 3; in batches within PutLogEvents' limits. The events travel on stdin (file:///dev/stdin),
#   never in an argument. Returns COMMAND's status: a failure to send is one warning line on
#   stderr. Fails only for a bad GROUP.
aemkeys_logged() {
  local re='^[-._/#A-Za-z0-9]{0,512}$' t line ev='' result=failed rc n=0 more=0 bytes=0 count=0
  [[ $1 =~ $re ]] || aemkeys_fail "parameter LogGroupName: not a log group name"
  t=$(date +%s%3N)
  aemkeys_capture "${@:3}"
  rc=$AEMKEYS_RC
  [[ -n $AEMKEYS_OUT ]] && printf '%s\n' "$AEMKEYS_OUT"
  printf '%s' "$AEMKEYS_ERR" >&2
  local -a batches=()
  while IFS= read -r line; do
    [[ $line =~ ^result:\ ([a-z]+) ]] && result=${BASH_REMATCH[1]}
    [[ -n $line ]] || continue
    (( n++ < AEMKEYS_LOG_LINES )) || { (( more++ )); continue; }
    aemkeys_log_event "${line:0:AEMKEYS_LOG_LINE}"
  done <<< "$AEMKEYS_OUT"$'\n'"$AEMKEYS_ERR"
  (( more > 0 )) && aemkeys_log_event "$AEMKEYS_PROG: $more more output lines not sent (at most $AEMKEYS_LOG_LINES a run)"
  [[ $rc == [03] ]] || result=failed
  aemkeys_log_event "association run: $result (exit $rc)"
  batches+=("[${ev%,}]")
  local -a aws=(timeout --foreground 60 aws logs)
  local -a a=(--region "$2" --log-group-name "$1" --log-stream-name "association/${AWS_SSM_INSTANCE_ID:-$HOSTNAME}")
  local b
  for b in "${batches[@]}"; do
    AWS_RETRY_MODE=${AWS_RETRY_MODE:-adaptive} AWS_MAX_ATTEMPTS=${AWS_MAX_ATTEMPTS:-8} \
      aemkeys_capture "${aws[@]}" put-log-events "${a[@]}" --log-events file:///dev/stdin <<< "$b"
    # The instance's first run: its stream does not exist yet. A burst of new instances spreads
    # its CreateLogStream calls over AEMKEYS_LOG_SPREAD_SECONDS (default 10 s: 200 instances make
    # 20 calls a second on average, under the quota of 50; the CLI retries a throttled call).
    if [[ $AEMKEYS_RC != 0 && $AEMKEYS_ERR == *ResourceNotFoundException* ]]; then
      aemkeys_log_spread
      AWS_RETRY_MODE=${AWS_RETRY_MODE:-adaptive} AWS_MAX_ATTEMPTS=${AWS_MAX_ATTEMPTS:-8} aemkeys_capture "${aws[@]}" create-log-stream "${a[@]}"
      [[ $AEMKEYS_RC == 0 ]] && AWS_RETRY_MODE=${AWS_RETRY_MODE:-adaptive} AWS_MAX_ATTEMPTS=${AWS_MAX_ATTEMPTS:-8} \
        aemkeys_capture "${aws[@]}" put-log-events "${a[@]}" --log-events file:///dev/stdin <<< "$b"
    fi
    [[ $AEMKEYS_RC == 0 ]] || break
  done
  if [[ $AEMKEYS_RC != 0 ]]; then
    aemkeys_last_line "$AEMKEYS_ERR"
    printf '%s: warning: output not sent to log group %s: %s\n' "$AEMKEYS_PROG" "$1" "${AEMKEYS_REPLY:-status $AEMKEYS_RC}" >&2
  fi
  return "$rc"
}

# aemkeys_log_spread
#   Sleeps a random time from 0 to AEMKEYS_LOG_SPREAD_SECONDS (an integer up to 60, else 10), in tenths.
aemkeys_log_spread() {
  local spread=${AEMKEYS_LOG_SPREAD_SECONDS:-10} tenths
  [[ $spread =~ ^[0-9]$|^[1-5][0-9]$|^60$ ]] || spread=10
  tenths=$(( RANDOM % (spread * 10 + 1) ))
  (( tenths > 0 )) && sleep "$(( tenths / 10 )).$(( tenths % 10 ))"
  return 0
}

# aemkeys_log_event LINE
#   For aemkeys_logged (its ev, t, bytes, count and batches, by bash's dynamic scope): adds LINE
#   as one event, first closing the batch when LINE would take it past PutLogEvents' limits.
aemkeys_log_event() {
  local line=$1 size LC_ALL=C
  [[ $line =~ $AEMKEYS_UTF8_RE ]] || line=${line//[^ -~]/?}
  line=${line//\\/\\\\}
  line=${line//\"/\\\"}
  line=${line//$'\t'/\\t}
  line=${line//[[:cntrl:]]/?}
  size=$(( ${#1} + 26 ))
  if (( count + 1 > AEMKEYS_LOG_BATCH_EVENTS || bytes + size > AEMKEYS_LOG_BATCH_BYTES )); then
    batches+=("[${ev%,}]")
    ev='' bytes=0 count=0
  fi
  ev+="{\"timestamp\":$(( t++ )),\"message\":\"$line\"},"
  (( bytes += size, count += 1 ))
}
