# shellcheck shell=bash
# aem-keys-bundles.sh: where AEM keeps its bundles and its keys: the Felix cache (conf/
# sling.properties), the two crypto bundles' folders (exact symbolic names), and settings that make
# AEM read its keys from elsewhere. Part of the on-instance scripts (see aem-keys-common.sh):
# functions only. Every read in the tree goes through the AemUser worker, bounded.

AEMKEYS_KEYS_PATH_RE='com[._]adobe[._]granite[._]crypto[._]keys[._]path'

# aemkeys_locate_crypto_bundles QUICKSTART_DIR SERVICE IF_ELSEWHERE
#   The one lookup of the three scripts. Fails when AEM reads its keys from elsewhere
#   (aemkeys_keys_path_override; SERVICE may be empty), with IF_ELSEWHERE saying what that means
#   for the script; else finds the Felix cache and, by exact symbolic name, the two bundles:
#   sets AEMKEYS_FILE_DIR and AEMKEYS_FILE_ID (com.adobe.granite.crypto.file, where hmac and master
#   are kept, in data/) and AEMKEYS_CRYPTO_DIR and AEMKEYS_CRYPTO_ID (com.adobe.granite.crypto,
#   whose data/storage says where the keys are).
aemkeys_locate_crypto_bundles() {
  aemkeys_keys_path_override "$1" "$2" && aemkeys_fail "AEM reads its keys from elsewhere: $AEMKEYS_REPLY; $3"
  aemkeys_felix_dir "$1"
  aemkeys_scan_bundles "$AEMKEYS_REPLY"
  aemkeys_find_bundle com.adobe.granite.crypto.file
  # shellcheck disable=SC2034 # this function's reply, read by the scripts
  AEMKEYS_FILE_DIR=$AEMKEYS_BUNDLE_DIR AEMKEYS_FILE_ID=$AEMKEYS_BUNDLE_ID
  aemkeys_find_bundle com.adobe.granite.crypto
  # shellcheck disable=SC2034 # this function's reply, read by the scripts
  AEMKEYS_CRYPTO_DIR=$AEMKEYS_BUNDLE_DIR AEMKEYS_CRYPTO_ID=$AEMKEYS_BUNDLE_ID
}

# aemkeys_props_get FILE KEY
#   AEMKEYS_REPLY = KEY's value in the Java properties FILE (1 MiB); 1 when absent or no FILE.
aemkeys_props_get() {
  local file=$1 want=$2 line full='' key rest
  AEMKEYS_REPLY=''
  aemkeys_tree_text "$file" || return 1
  while IFS= read -r line || [[ -n $line ]]; do
    line=${line%$'\r'}
    line=${line#"${line%%[![:space:]]*}"}
    # A comment is one line: java.util.Properties continues no comment, even one ending in \.
    [[ -z $full && ( $line == '#'* || $line == '!'* ) ]] && continue
    if [[ -n $full ]]; then full=${full%\\}$line; else full=$line; fi
    [[ $full =~ (^|[^\\])(\\\\)*\\$ ]] && continue
    line=$full full=''
    [[ -z $line ]] && continue
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
    [[ $dir == *'${'* || /$dir/ == */../* || /$dir/ == */./* || $dir != "$qs"/* ]] \
      && aemkeys_fail "org.osgi.framework.storage in $props ($dir) is not a folder inside QuickstartDir; refusing to use it"
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
  if aemkeys_tree_text "$f"; then
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

# aemkeys_scan_bundles FELIX_DIR
#   Reads line 1 (bundle id), 2 (location) and 3 (persistent state) of every
#   FELIX_DIR/bundle*/bundle.info (Apache Felix 4+ cache); folders of uninstalled bundles (state 1)
#   are left out. Never opens a jar. Fills the arrays
#   AEMKEYS_B_NAME (symbolic name guessed from the location's jar name: after the last '/' or
#   ':', without '.jar' and without a '-<digit>...' version suffix), AEMKEYS_B_ID,
#   AEMKEYS_B_STATE and AEMKEYS_B_DIR. Fails when FELIX_DIR is not a directory.
aemkeys_scan_bundles() {
  local felix=$1 id loc state name dir rec rest us=$'\x1f'
  # shellcheck disable=SC2034 # AEMKEYS_B_M*: aemkeys_manifest_names' cache (aem-keys-manifests.sh)
  AEMKEYS_B_NAME=() AEMKEYS_B_ID=() AEMKEYS_B_STATE=() AEMKEYS_B_DIR=() AEMKEYS_B_MNAME=() AEMKEYS_B_MREAD=''
  # Listed and read as AemUser (aemkeys_u_infos): one record per folder, control characters gone.
  aemkeys_user_out aemkeys_u_infos "$felix"
  case $AEMKEYS_RC in
    0) ;;
    3) aemkeys_fail "no Felix bundle cache at $felix (has AEM been started once on this instance?)" ;;
    *) aemkeys_fail "cannot read the Felix bundle cache at $felix as $AEMKEYS_USER within $AEMKEYS_IO_TIMEOUT s" ;;
  esac
  # Split in memory, globbing off: bash reads a pipe one byte per system call (656 bundles: 47 KB).
  local IFS=$'\n'
  set -f
  # shellcheck disable=SC2206 # splitting on newlines is the point; globbing is off
  local -a recs=($AEMKEYS_OUT)
  set +f
  IFS=$' \t\n'
  AEMKEYS_OUT=''
  for rec in "${recs[@]}"; do
    # Four fields: folder, id, location, state (read -r of IFS=US would give the same).
    [[ $rec == *"$us"*"$us"*"$us"* ]] || continue
    dir=${rec%%"$us"*} rest=${rec#*"$us"}
    id=${rest%%"$us"*} rest=${rest#*"$us"}
    loc=${rest%%"$us"*} state=${rest#*"$us"}
    # Felix names its folders bundle<id> (its BundleCache): no other name is taken, nor printed.
    # Patterns, not regular expressions, in this loop: glibc compiles a regular expression each
    # time bash tests one (656 bundles: about 30 ms more per run).
    [[ $dir == bundle[0-9]* && ${dir#bundle} != *[!0-9]* && ${#dir} -le 25 ]] || continue
    dir=$felix/$dir
    # Not a bundle, or uninstalled (state 1: Felix deletes the folder at its next start).
    [[ $id == [0-9]* && $id != *[!0-9]* && -n $loc && $state != 1 ]] || continue
    name=${loc##*/}
    name=${name##*:}
    name=${name%.jar}
    name=${name%%-[0-9]*}
    AEMKEYS_B_NAME+=("$name")
    AEMKEYS_B_ID+=("$id")
    AEMKEYS_B_STATE+=("$state")
    AEMKEYS_B_DIR+=("$dir")
  done
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
