# shellcheck shell=bash
# aem-keys-token.sh: the token handler's configuration (encapsulated tokens): other files that
# configure its PID, and what the running AEM applies. Part of the on-instance scripts (see
# aem-keys-common.sh): functions only.

# shellcheck disable=SC2034 # read by install-keys.sh
AEMKEYS_TOKEN_PID='com.day.crx.security.token.impl.impl.TokenAuthenticationHandler'
AEMKEYS_OTHERS_MAX=20     # other config files of the token PID one run handles (and prints)

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
  [[ $AEMKEYS_RC == 3 ]] && return 0
  [[ $AEMKEYS_RC == 0 ]] || aemkeys_fail "cannot list $dir as $AEMKEYS_USER within $AEMKEYS_IO_TIMEOUT s"
  while read -r kind hex; do
    [[ -z $kind ]] && continue
    rel=''
    [[ $hex =~ ^([A-Za-z0-9._/-]|\\x[0-9a-f]{2})+$ ]] && printf -v rel '%b' "$hex"
    [[ $kind == [fo] && $rel =~ ^([^/]+/)?[^/]+$ && /$rel/ != */../* && /$rel/ != */./* ]] \
      || aemkeys_fail "$dir: unexpected answer when listed as $AEMKEYS_USER"
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
  local shown=${winner:0:300} scheme=''
  [[ $shown =~ ^[a-z][a-z0-9]{0,63}:/ ]] && scheme=${shown%%:*}:
  aemkeys_name "${shown#"$scheme"}"
  shown=$scheme$AEMKEYS_REPLY
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
