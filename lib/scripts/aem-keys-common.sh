# shellcheck shell=bash
# aem-keys-common.sh: what every on-instance script shares: parameters, output, failing, and
# sending the output to a log group. Sourcing it loads the other modules too (next to it):
#   aem-keys-worker.sh     the AemUser worker (one process per run, the trust boundary)
#   aem-keys-user.sh       the steps that worker runs in the tree (aemkeys_u_*)
#   aem-keys-files.sh      reading and writing files in the tree (root's side of those steps)
#   aem-keys-bundles.sh    the Felix cache, the crypto bundles, keys AEM reads from elsewhere
#   aem-keys-manifests.sh  bundle names from the jars' manifests (fallback)
#   aem-keys-secrets.sh    Secrets Manager, JSON, keys and hashes
#   aem-keys-http.sh       HTTP to AEM on 127.0.0.1
#   aem-keys-token.sh      the token handler's configuration files, and what AEM applies
# In the SSM documents they are not sourced: lib/private/shell-script-document.ts inlines the
# functions a script uses (and the constants they name) between its `# >>> modules` markers.
#
# FUNCTIONS AND CONSTANTS ONLY: sourcing a module defines them (this one also sources the others)
# and runs nothing else.
# Needs bash 4.2+ (no namerefs), coreutils, the AWS CLI, util-linux (setpriv: the AemUser worker,
# when run as root; flock: one run at a time, aemkeys_lock) and gzip (only when no bundle location
# names a crypto bundle: the manifests); nothing else (no jq, python, grep, sed, awk, curl). Key
# material only ever lives in shell variables (never exported), in pipes from the `printf` builtin
# into coreutils, and in the destination files: never in an argument of a process, in the
# environment, on stdout/stderr or in /tmp.
#
# Conventions: a function returns values through globals it sets itself, named in its comment
# (AEMKEYS_REPLY unless said otherwise); no function writes its caller's local variables.
# `aemkeys_fail` exits the script, so call the functions that may fail from the main shell,
# never from inside $(...).
# Two opening braces in a row must never appear in the scripts: SSM would take them for a parameter.

# The other modules, sourced outside the documents (tests, a copy of lib/scripts on a host):
# >>> modules
# shellcheck source-path=SCRIPTDIR source=aem-keys-worker.sh
. "${BASH_SOURCE[0]%/*}/aem-keys-worker.sh"
# shellcheck source-path=SCRIPTDIR source=aem-keys-user.sh
. "${BASH_SOURCE[0]%/*}/aem-keys-user.sh"
# shellcheck source-path=SCRIPTDIR source=aem-keys-files.sh
. "${BASH_SOURCE[0]%/*}/aem-keys-files.sh"
# shellcheck source-path=SCRIPTDIR source=aem-keys-bundles.sh
. "${BASH_SOURCE[0]%/*}/aem-keys-bundles.sh"
# shellcheck source-path=SCRIPTDIR source=aem-keys-manifests.sh
. "${BASH_SOURCE[0]%/*}/aem-keys-manifests.sh"
# shellcheck source-path=SCRIPTDIR source=aem-keys-secrets.sh
. "${BASH_SOURCE[0]%/*}/aem-keys-secrets.sh"
# shellcheck source-path=SCRIPTDIR source=aem-keys-http.sh
. "${BASH_SOURCE[0]%/*}/aem-keys-http.sh"
# shellcheck source-path=SCRIPTDIR source=aem-keys-token.sh
. "${BASH_SOURCE[0]%/*}/aem-keys-token.sh"
# <<< modules

AEMKEYS_PROG='aem-crypto-keys'
# Parameter patterns: the same expressions as PARAMETER_PATTERNS (lib/private/parameter-patterns.ts).
AEMKEYS_ARN_RE='^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b):secretsmanager:([a-z]{2}(-[a-z]{1,10}){1,3}-[0-9]{1,2}):'
AEMKEYS_ARN_RE+='([0-9]{12}):secret:([A-Za-z0-9/_+=.@-]{1,512})$'
AEMKEYS_PATH_RE='^/[-A-Za-z0-9_./ @+,:=~]{0,255}$'
AEMKEYS_USER_RE='^[a-z_][a-z0-9_-]{0,31}$'
AEMKEYS_UNIT_RE='^[A-Za-z0-9_][A-Za-z0-9:_.@-]{0,254}$'

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

# aemkeys_begin SCRIPT_FILE PARAMETER...
#   What every script does first: pipefail, umask 077, bash 4.2 or newer, and its parameters read
#   from its data block (aemkeys_load_data_block: AEMKEYS_P, AEMKEYS_STATIC). Each PARAMETER is
#   "NAME [CHECK ARG...]" (see aemkeys_check_parameters), in the order of the data block.
aemkeys_begin() {
  set -o pipefail
  umask 077
  aemkeys_require_bash
  local file=$1
  shift
  aemkeys_load_data_block "$file" "${@%% *}"
}

# aemkeys_check_parameters PARAMETER...
#   Checks each parameter, "NAME CHECK [ARG...]", in order: aemkeys_check_CHECK NAME VALUE ARG...
#   (a PARAMETER with no CHECK is checked where it is used). An abs_path is kept without its
#   trailing slashes (AEMKEYS_P[NAME]); the region of a secret_arn goes to AEMKEYS_REGION[NAME]
#   (a global associative array; empty for an optional ARN not given). The call by a built name
#   makes the documents carry every aemkeys_check_* function: only parameter checks take that name.
aemkeys_check_parameters() {
  local name check
  local -a args
  declare -gA AEMKEYS_REGION=()
  for name in "$@"; do
    read -r -a args <<< "$name"
    name=${args[0]} check=${args[1]:-}
    [[ -n $check ]] || continue
    "aemkeys_check_$check" "$name" "${AEMKEYS_P[$name]}" "${args[@]:2}"
    if [[ $check == abs_path ]]; then
      AEMKEYS_P[$name]=$AEMKEYS_REPLY
    elif [[ $check == secret_arn ]]; then
      # shellcheck disable=SC2034 # AEMKEYS_REGION: this function's reply, read by the scripts
      AEMKEYS_REGION[$name]=$AEMKEYS_REPLY
    fi
  done
}

# aemkeys_require_bash
#   Fails unless this is bash 4.2 or newer.
aemkeys_require_bash() {
  (( BASH_VERSINFO[0] * 100 + BASH_VERSINFO[1] >= 402 )) || aemkeys_fail "bash 4.2 or newer is required (this is $BASH_VERSION)"
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

# --- Parameters ------------------------------------------------------------------------------

# aemkeys_load_data_block SCRIPT_FILE PARAM_NAME...
#   Reads the script's own text (SCRIPT_FILE, or $BASH_EXECUTION_STRING when run by `bash -c`)
#   and parses the data block after the script's final `exit`. The block is never executed:
#     #@aem-crypto-keys-data 3
#     #@NAME=VALUE          (one line per PARAM_NAME, in that order: SSM substitutes the value
#                            after the =; the document shows #@NAME={{ NAME }})
#     #@static SECTION      (zero or more sections of static lines rendered at synth time)
#     #@|LINE
#     #@end
#   and nothing after #@end. Any extra or missing line (a value holding a newline) fails.
#   Sets the global associative arrays AEMKEYS_P (NAME -> value, as given: each script checks
#   them next) and AEMKEYS_STATIC (SECTION -> its lines, each followed by a newline).
aemkeys_load_data_block() {
  local file=$1 i=0 name section='' line
  shift
  local -a lines
  declare -gA AEMKEYS_P=() AEMKEYS_STATIC=()
  if [[ -n ${BASH_EXECUTION_STRING:-} ]]; then
    mapfile -t lines < <(printf '%s\n' "$BASH_EXECUTION_STRING")
  elif [[ -f $file && -r $file ]]; then
    mapfile -t lines < "$file"
  else
    aemkeys_fail "cannot read the script's own text to find its parameters"
  fi
  # An empty last line (from the joining newline) is no line of the block.
  (( ${#lines[@]} > 0 )) && [[ -z ${lines[${#lines[@]} - 1]} ]] && unset "lines[${#lines[@]} - 1]"
  while [[ $i -lt ${#lines[@]} && ${lines[i]} != '#@aem-crypto-keys''-data 3' ]]; do (( i++ )); done
  (( i++ < ${#lines[@]} )) || aemkeys_fail "the script has no parameter block"
  for name in "$@"; do
    [[ ${lines[i]:-} == "#@$name="* ]] || aemkeys_fail "parameter $name: contains a newline or the parameter block is malformed"
    AEMKEYS_P[$name]=${lines[i++]#"#@$name="}
  done
  for line in "${lines[@]:i}"; do
    (( i++ ))
    if [[ $line == '#@end' ]]; then
      (( i == ${#lines[@]} )) && return 0
      aemkeys_fail "the parameter block has lines after its end marker (a parameter value contains a newline?)"
    elif [[ $line =~ ^#@static\ ([a-z][a-z0-9-]{0,40})$ ]]; then
      section=${BASH_REMATCH[1]}
      AEMKEYS_STATIC[$section]=''
    elif [[ -n $section && $line == '#@|'* ]]; then
      AEMKEYS_STATIC[$section]+=${line#'#@|'}$'\n'
    else
      aemkeys_fail "the parameter block is malformed after the last parameter (a parameter value contains a newline?)"
    fi
  done
  aemkeys_fail "the parameter block has no end marker (a parameter value contains a newline?)"
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
#   Fails unless VALUE is an absolute path (at most 256 characters) of letters, digits, spaces and - _ . / @ + , : = ~
#   with no '.' or '..' component. AEMKEYS_REPLY = VALUE without trailing slashes.
aemkeys_check_abs_path() {
  local name=$1 value=$2
  [[ $value =~ $AEMKEYS_PATH_RE ]] \
    || aemkeys_fail "parameter $name: must be an absolute path of at most 256 letters, digits, spaces and - _ . / @ + , : = ~"
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

# aemkeys_logged GROUP REGION COMMAND [ARG...]
#   Runs COMMAND (in a subshell, output captured by aemkeys_capture), prints its stdout and
#   stderr, then puts them into the stream association/ID of the CloudWatch Logs group GROUP in
#   REGION (ID: the SSM agent's AWS_SSM_INSTANCE_ID, else the host name): one stream per instance,
#   created by its first run only (CreateLogStream allows 50 calls a second per account and region;
#   a burst of new instances makes one call each, retried by the AWS CLI when throttled). One event
#   per non-empty line, stdout first (printable ASCII: any other byte as '?', as the scripts print;
#   JSON: \ and " escaped), then "association run:
#   WORD (exit STATUS)", WORD from the last "result: WORD ..." line, or "failed" unless STATUS is
#   0 or 3; in batches within PutLogEvents' limits. The events travel on stdin (file:///dev/stdin),
#   never in an argument. Returns COMMAND's status: a failure to send is one warning line on
#   stderr. Fails only for a bad GROUP.
aemkeys_logged() {
  local re='^[-._/#A-Za-z0-9]{0,512}$' t line result=failed rc n=0 more=0 b
  local -a lines=()
  [[ $1 =~ $re ]] || aemkeys_fail "parameter LogGroupName: not a log group name"
  t=$(date +%s%3N)
  aemkeys_capture "${@:3}"
  rc=$AEMKEYS_RC
  [[ -n $AEMKEYS_OUT ]] && printf '%s\n' "$AEMKEYS_OUT"
  printf '%s' "$AEMKEYS_ERR" >&2
  while IFS= read -r line; do
    [[ $line =~ ^result:\ ([a-z]+) ]] && result=${BASH_REMATCH[1]}
    [[ -n $line ]] || continue
    (( n++ < AEMKEYS_LOG_LINES )) || { (( more++ )); continue; }
    lines+=("${line:0:AEMKEYS_LOG_LINE}")
  done <<< "$AEMKEYS_OUT"$'\n'"$AEMKEYS_ERR"
  (( more > 0 )) && lines+=("$AEMKEYS_PROG: $more more output lines not sent (at most $AEMKEYS_LOG_LINES a run)")
  [[ $rc == [03] ]] || result=failed
  lines+=("association run: $result (exit $rc)")
  aemkeys_log_batches "$t" "${lines[@]}"
  for b in "${AEMKEYS_LOG_BATCHES[@]}"; do
    aemkeys_logs_call "$1" "$2" put-log-events --log-events file:///dev/stdin <<< "$b"
    # The instance's first run: its stream does not exist yet. A burst of new instances spreads
    # its CreateLogStream calls over AEMKEYS_LOG_SPREAD_SECONDS (default 10 s: 200 instances make
    # 20 calls a second on average, under the quota of 50; the CLI retries a throttled call).
    if [[ $AEMKEYS_RC != 0 && $AEMKEYS_ERR == *ResourceNotFoundException* ]]; then
      aemkeys_log_spread
      aemkeys_logs_call "$1" "$2" create-log-stream
      [[ $AEMKEYS_RC == 0 ]] && aemkeys_logs_call "$1" "$2" put-log-events --log-events file:///dev/stdin <<< "$b"
    fi
    [[ $AEMKEYS_RC == 0 ]] || break
  done
  if [[ $AEMKEYS_RC != 0 ]]; then
    aemkeys_last_line "$AEMKEYS_ERR"
    printf '%s: warning: output not sent to log group %s: %s\n' "$AEMKEYS_PROG" "$1" "${AEMKEYS_REPLY:-status $AEMKEYS_RC}" >&2
  fi
  return "$rc"
}

# aemkeys_log_batches TIME LINE...
#   AEMKEYS_LOG_BATCHES = the LINEs as events in batches (each a JSON array) within PutLogEvents'
#   limits; time stamps from TIME (ms), one more per event. Each message is printable ASCII, as
#   the scripts print their lines (aemkeys_print_lines): any other byte is '?' (so CloudWatch Logs
#   never gets invalid UTF-8); \ and " are escaped.
aemkeys_log_batches() {
  local t=$1 line size ev='' bytes=0 count=0 LC_ALL=C
  shift
  AEMKEYS_LOG_BATCHES=()
  for line in "$@"; do
    size=$(( ${#line} + 26 ))
    line=${line//[^ -~]/?}
    line=${line//\\/\\\\}
    line=${line//\"/\\\"}
    if (( count + 1 > AEMKEYS_LOG_BATCH_EVENTS || bytes + size > AEMKEYS_LOG_BATCH_BYTES )); then
      AEMKEYS_LOG_BATCHES+=("[${ev%,}]")
      ev='' bytes=0 count=0
    fi
    ev+="{\"timestamp\":$(( t++ )),\"message\":\"$line\"},"
    (( bytes += size, count += 1 ))
  done
  AEMKEYS_LOG_BATCHES+=("[${ev%,}]")
}

# aemkeys_logs_call GROUP REGION ACTION [ARG...]
#   aws logs ACTION on this instance's stream of GROUP (aemkeys_capture: AEMKEYS_RC, AEMKEYS_ERR),
#   within 60 s, retried by the AWS CLI (adaptive, 8 attempts, unless the environment says otherwise).
aemkeys_logs_call() {
  local stream="association/${AWS_SSM_INSTANCE_ID:-$HOSTNAME}"
  AWS_RETRY_MODE=${AWS_RETRY_MODE:-adaptive} AWS_MAX_ATTEMPTS=${AWS_MAX_ATTEMPTS:-8} aemkeys_capture \
    timeout --foreground 60 aws logs "$3" --region "$2" --log-group-name "$1" --log-stream-name "$stream" "${@:4}"
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
