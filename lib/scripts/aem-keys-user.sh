# shellcheck shell=bash
# aem-keys-user.sh: the steps the AemUser worker runs in the tree (aemkeys_u_*), as that user.
# Part of the on-instance scripts (see aem-keys-common.sh and aem-keys-worker.sh): functions only.
# They run in the worker's bash (its stdin /dev/null, stderr dropped) and answer on stdout; their
# exit status: 0 ok, 3 absent, 4 not a regular file, 5 too large, anything else failed.

AEMKEYS_TMP_PREFIX='.aem-crypto-keys.'
AEMKEYS_TMP_SUFFIX='.tmp'

# aemkeys_u_is TEST PATH (as AemUser): 0 when PATH is a dir|realdir (a directory, not a link)|
#   open (a directory the user can reach)|exists (test -e).
aemkeys_u_is() {
  case $1 in
    dir) [[ -d $2 ]] ;;
    realdir) [[ -d $2 && ! -L $2 ]] ;;
    open) [[ -d $2 && -x $2 ]] ;;
    exists) [[ -e $2 ]] ;;
    *) return 2 ;;
  esac
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

# aemkeys_u_text FILE MAX_BYTES (as AemUser): FILE's first MAX_BYTES bytes, NULs dropped,
#   then "x" (so that trailing newlines survive); 3 when FILE does not exist, 4 when it is no
#   regular file (aemkeys_u_read).
aemkeys_u_text() {
  set -o pipefail
  aemkeys_u_read "$1" 0 "$2" | tr -d '\000' && printf x
}

# aemkeys_u_read FILE OFFSET COUNT (as AemUser): COUNT bytes of FILE from OFFSET; FILE must be a
#   regular file, not a link (3 when it does not exist).
aemkeys_u_read() {
  [[ -e $1 || -L $1 ]] || return 3
  [[ -f $1 && ! -L $1 ]] || return 4
  exec 3< "$1" || return 1
  [[ -f /dev/fd/3 ]] || return 4
  dd iflag=skip_bytes,count_bytes skip="$2" count="$3" bs=65536 status=none <&3
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
    [[ $c == [A-Za-z0-9._/-] ]] || printf -v c '\\x%02x' "'$c"
    out+=$c
  done
  AEMKEYS_REPLY=$out
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
