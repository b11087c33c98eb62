# shellcheck shell=bash
# aem-keys-manifests.sh: bundle symbolic names from the jars' manifests, when the locations do not
# name a bundle. Part of the on-instance scripts (see aem-keys-common.sh): functions only. The
# jars are opened only by aemkeys_u_manifests, the AEM user's step in the worker.

AEMKEYS_MANIFEST_MAX=1048576       # bytes of one inflated manifest
AEMKEYS_MANIFEST_BATCH=8388608     # bytes inflated in one gzip step

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
    # {1,255} in the expression would cost glibc about a millisecond to compile, every line.
    # shellcheck disable=SC2034 # AEMKEYS_B_MNAME: this function's reply, read by aemkeys_find_bundle
    [[ $k =~ ^(0|[1-9][0-9]{0,5})$ && $name =~ ^[A-Za-z0-9_.-]+$ ]] && (( k < n && ${#name} <= 255 )) && AEMKEYS_B_MNAME[k]=$name
  done <<< "$AEMKEYS_OUT"
  AEMKEYS_OUT=''
}

# aemkeys_u_manifests DIR... (as AemUser)
#   For the k-th bundle folder DIR (from 0) whose newest version<N>.<M>/bundle.jar names itself,
#   prints "k Bundle-SymbolicName". Each step for all jars at once, in a few processes, not a few
#   per jar (aemkeys_u_windows): zip end record (no comment), the manifest's directory entry
#   (first 256 bytes of the directory, else 64 KiB), local header; gzip inflates each manifest
#   with a trailer of the directory's CRC-32 and size (stored: one stored block), so each is
#   checked, and never more than the sizes the directories declare (AEMKEYS_MANIFEST_MAX each,
#   compressed and not; AEMKEYS_MANIFEST_BATCH of both in one step) reach this shell. Runs in the worker
#   only, whose stderr is /dev/null for every request (aemkeys_w_serve): no 2>/dev/null needed.
aemkeys_u_manifests() {
  local i j x n e k p w f best bn cdoff cdsize method csize usize lho sum
  local LC_ALL=C
  local -a dirs=("$@") idx=() jars=() sizes=() todo=() next=() batch=() mf=() args=() hargs=()
  local -a cdr=() hds=() hdr=() dat=() csz=() usz=() mth=() crcs=()
  shopt -s nullglob
  for i in "${!dirs[@]}"; do
    best='' bn=-1
    # The newest version<N>.<M>: N and M of at most 9 digits each, compared as one number.
    for f in "${dirs[i]}"/version*.*/bundle.jar; do
      [[ ${f%/bundle.jar} =~ /version([0-9]{1,9})\.([0-9]{1,9})$ ]] || continue
      (( x = BASH_REMATCH[1] * 1000000000 + BASH_REMATCH[2], x > bn )) && bn=$x best=$f
    done
    [[ -n $best && -f $best && ! -L $best ]] && idx+=("$i") jars+=("$best")
  done
  (( ${#jars[@]} > 0 )) || return 0
  # META-INF/MANIFEST.MF, a number a byte
  mf=(77 69 84 65 45 73 78 70 47 77 65 78 73 70 69 83 84 46 77 70)
  mapfile -t sizes < <(stat -c %s -- "${jars[@]}")
  for x in "${sizes[@]}"; do [[ $x =~ ^[0-9]+$ ]] && (( x >= 22 )) || return 0; done
  (( ${#sizes[@]} == ${#jars[@]} )) || return 0
  # Each jar's end record: its last 22 bytes.
  for j in "${!jars[@]}"; do args+=("$j" $(( sizes[j] - 22 )) 22); done
  aemkeys_u_windows "${args[@]}"
  for j in "${!jars[@]}"; do
    # shellcheck disable=SC2206 # od's numbers: no glob characters
    AEMKEYS_U8=(${AEMKEYS_BYTES[j]})
    aemkeys_u8_le 12 4; cdsize=$AEMKEYS_N
    aemkeys_u8_le 16 4; cdoff=$AEMKEYS_N
    [[ ${AEMKEYS_U8[*]:0:4} == '80 75 5 6' ]] && (( cdoff + cdsize <= sizes[j] && cdsize >= 46 )) && todo+=("$j") dat[j]=$cdoff
  done
  for w in 256 65536; do
    (( ${#todo[@]} > 0 )) || break
    next=() batch=() args=() hargs=() sum=0
    # The directory's first w bytes of each jar, then each jar's first w bytes.
    for j in "${todo[@]}"; do
      cdr[j]=$(( sizes[j] - dat[j] < w ? sizes[j] - dat[j] : w ))
      hds[j]=$(( sizes[j] < w ? sizes[j] : w ))
      args+=("$j" "${dat[j]}" "${cdr[j]}")
      hargs+=("$j" 0 "${hds[j]}")
    done
    aemkeys_u_windows "${args[@]}" "${hargs[@]}"
    for x in "${!todo[@]}"; do
      j=${todo[x]}
      # shellcheck disable=SC2206 # od's numbers: no glob characters
      AEMKEYS_U8=(${AEMKEYS_BYTES[x]})
      p=0 method=''
      while (( p + 46 <= cdr[j] && AEMKEYS_U8[p] == 80 && AEMKEYS_U8[p+1] == 75 && AEMKEYS_U8[p+2] == 1 && AEMKEYS_U8[p+3] == 2 )); do
        n=$(( AEMKEYS_U8[p+28] + 256 * AEMKEYS_U8[p+29] ))
        e=$(( AEMKEYS_U8[p+30] + 256 * AEMKEYS_U8[p+31] ))
        k=$(( AEMKEYS_U8[p+32] + 256 * AEMKEYS_U8[p+33] ))
        if (( n == 20 && AEMKEYS_U8[p+46] == 77 )) && [[ ${AEMKEYS_U8[*]:p+46:20} == "${mf[*]}" ]]; then
          method=$(( AEMKEYS_U8[p+10] + 256 * AEMKEYS_U8[p+11] )); break; fi
        (( p += 46 + n + e + k ))
      done
      [[ -n $method ]] || { next+=("$j"); continue; }
      aemkeys_u8_le $(( p + 20 )) 4; csize=$AEMKEYS_N
      aemkeys_u8_le $(( p + 24 )) 4; usize=$AEMKEYS_N
      aemkeys_u8_le $(( p + 42 )) 4; lho=$AEMKEYS_N
      (( lho + 30 <= hds[j] )) || { next+=("$j"); continue; }
      # shellcheck disable=SC2206 # od's numbers: no glob characters
      hdr=(${AEMKEYS_BYTES[x+${#todo[@]}]:4*lho:120})
      [[ ${hdr[*]:0:4} == '80 75 3 4' ]] && (( usize <= AEMKEYS_MANIFEST_MAX && csize <= AEMKEYS_MANIFEST_MAX )) || continue
      [[ $method == 8 || ( $method == 0 && $csize == "$usize" && $csize -le 65535 ) ]] || continue
      dat[j]=$(( lho + 30 + hdr[26] + 256 * hdr[27] + hdr[28] + 256 * hdr[29] ))
      (( dat[j] + csize <= sizes[j] )) || continue
      printf -v 'crcs[j]' '\\x%02x' "${AEMKEYS_U8[@]:p+16:4}" "${AEMKEYS_U8[@]:p+24:4}"
      mth[j]=$method csz[j]=$csize usz[j]=$usize
      if (( sum + usize + csize > AEMKEYS_MANIFEST_BATCH )); then
        aemkeys_u_inflate_all "${batch[@]}"
        batch=() sum=0
      fi
      batch+=("$j")
      (( sum += usize + csize ))
    done
    aemkeys_u_inflate_all "${batch[@]}"
    todo=("${next[@]}")
  done
  return 0
}

# aemkeys_u_windows J OFFSET COUNT... (as AemUser; aemkeys_u_manifests' jars and sizes by
#   bash's dynamic scope)
#   AEMKEYS_BYTES[k] = the k-th window, COUNT bytes from OFFSET of jars[J] (within its size), as
#   od -tu1 text (a number a byte); empty when not read whole. A few processes for many jars:
#   each window is read with those as near to their jars' start (end) by one head (tail) -c SIZE
#   of all those jars (SIZE a power of 2 from 32 bytes, or a smaller jar's size; at most
#   AEMKEYS_MANIFEST_BATCH bytes in one step).
aemkeys_u_windows() {
  local -a w=("$@") lines
  local -A cls=() count=()
  local i k off s cmd b x IFS=$'\n'
  AEMKEYS_BYTES=()
  for (( k = 0; 3 * k < ${#w[@]}; k++ )); do
    off=${w[3*k+1]} s=${sizes[w[3*k]]} cmd=head x=$(( w[3*k+1] + w[3*k+2] ))
    (( s - off < x )) && cmd=tail x=$(( s - off ))
    for (( b = 32; b < x; b *= 2 )); do :; done
    (( b > s )) && b=$s; x="$cmd $b"
    cls[$x $(( count[$x]++ * b / AEMKEYS_MANIFEST_BATCH ))]+=$k$'\n'
  done
  for x in "${!cls[@]}"; do
    cmd=${x%% *} b=${x#* } b=${b% *} lines=() i=0
    # shellcheck disable=SC2086 # the window numbers, one a line (IFS is a newline)
    set -- ${cls[$x]}
    for k; do lines+=("${jars[w[3*k]]}"); done
    x=$(for f in "${lines[@]}"; do [[ -f $f && ! -L $f ]] || exit 4; done; "$cmd" -q -c "$b" -- "${lines[@]}" | od -An -v -tu1 -w"$b")
    # shellcheck disable=SC2206 # od's lines, one a jar (IFS is a newline): no glob characters
    lines=($x)
    (( ${#lines[@]} == $# )) || continue
    for k; do
      off=${w[3*k+1]} x=${lines[i++]}
      [[ $cmd == tail ]] && (( off -= sizes[w[3*k]] - b ))
      (( ${#x} == 4 * b )) && AEMKEYS_BYTES[k]=${x:4*off:4*w[3*k+2]}
    done
  done
}

# aemkeys_u_inflate_all J... (as AemUser)
#   aemkeys_u_inflate of J... in one step, else of each J alone (so one wrong jar names only itself).
aemkeys_u_inflate_all() {
  local j
  aemkeys_u_inflate "$@" || for j in "$@"; do aemkeys_u_inflate "$j"; done
}

# aemkeys_u_inflate J... (as AemUser)
#   aemkeys_u_manifests' gzip step (one member per jar; its jars, sizes, dat, csz, usz, mth, crcs
#   and idx by bash's dynamic scope): prints "INDEX NAME" for each J whose manifest names itself;
#   1, naming none, when one is wrong or the text is longer than the sizes declared (gzip's output
#   is cut there: a deflate bomb inflates no further).
aemkeys_u_inflate() {
  local j k=0 x s text want=0
  # Its own windows: aemkeys_u_manifests still reads the directories' windows after this step.
  local -a args=() AEMKEYS_BYTES=()
  (( $# > 0 )) || return 0
  for j in "$@"; do args+=("$j" "${dat[j]}" "${csz[j]}"); (( want += usz[j] )); done
  aemkeys_u_windows "${args[@]}"
  text=$(
    set -o pipefail
    for j in "$@"; do
      # shellcheck disable=SC2086 # one number a byte (od -tu1): no glob characters
      printf -v x '\\x%02x' ${AEMKEYS_BYTES[k++]}
      # A gzip header; a stored manifest as one stored block (final, LEN, NLEN); the data; CRC-32 and size.
      s=''
      [[ ${mth[j]} == 0 ]] && printf -v s '\\x01\\x%02x\\x%02x\\x%02x\\x%02x' \
        $(( csz[j] & 255 )) $(( csz[j] >> 8 )) $(( ~csz[j] & 255 )) $(( (~csz[j] >> 8) & 255 ))
      printf '%b' '\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff' "$s" "$x" "${crcs[j]}"
    done | gzip -dc | head -c $(( want + 1 )) && printf x
  ) && [[ $text == *x ]] && (( ${#text} == want + 1 )) || return 1
  # Split by the declared sizes in one pass: a substring of a long text costs its whole length.
  for j in "$@"; do
    IFS= read -r -N "${usz[j]}" x
    aemkeys_manifest_bsn "$x" && printf '%s %s\n' "${idx[j]}" "$AEMKEYS_REPLY"
  done <<< "$text"
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
