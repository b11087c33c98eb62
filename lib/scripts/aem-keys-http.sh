# shellcheck shell=bash
# aem-keys-http.sh: HTTP/1.0 to AEM on 127.0.0.1 over bash's /dev/tcp, bounded in size and time.
# Part of the on-instance scripts (see aem-keys-common.sh): functions only. Credentials go through
# the socket, never argv.

AEMKEYS_HTTP_MAX=1048576  # bytes of one HTTP answer (headers and text body)

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
  # shellcheck disable=SC2034 # this function's reply, read by its callers
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
  # shellcheck disable=SC2034 # this function's reply, read by its callers
  AEMKEYS_HTTP_BODY=$resp
  return $ok
}
