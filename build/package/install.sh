#!/usr/bin/env bash
# Installs edged from this unpacked release as a systemd service:
#   /opt/edged/{bin,lib,models,configs}   the program, TFLite, the shapes demo models, the profiles
#   /etc/edged/edged.yaml, labels/       the config (a device profile, paths rewritten to the above)
#   /var/cache/edged                      the model cache
#   /etc/systemd/system/edged.service     the unit, enabled and (re)started
# and a system user edged in the video group. Safe to run again: the program is replaced, a
# config you changed is kept (the new one is written beside it as .new).
#
#   sudo ./install.sh [--profile auto|default|pi5|pi4|jetson] [--no-deps] [--no-start]
#   sudo ./install.sh --uninstall [--purge]
#   ./install.sh --prefix DIR ...      into a throw-away root (DIR/opt/edged, DIR/etc/edged, ...):
#                                      accounts only in DIR/etc/passwd (if there is one), no apt,
#                                      systemctl --root=DIR (enable, never start)
set -euo pipefail

say() { printf 'edged install: %s\n' "$*"; }
die() { printf 'edged install: error: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

SRC=$(cd "$(dirname "$0")" && pwd)
ROOT= PROFILE=auto UNINSTALL=0 PURGE=0 DEPS=1 START=1
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) [ $# -ge 2 ] || die "--prefix needs a folder"; ROOT=$2; shift ;;
    --prefix=*) ROOT=${1#*=} ;;
    --profile) [ $# -ge 2 ] || die "--profile needs a name"; PROFILE=$2; shift ;;
    --profile=*) PROFILE=${1#*=} ;;
    --uninstall) UNINSTALL=1 ;;
    --purge) PURGE=1 ;;
    --no-deps) DEPS=0 ;;
    --no-start) START=0 ;;
    -h|--help) usage 0 ;;
    *) printf 'edged install: unknown option %s\n\n' "$1" >&2; usage 2 ;;
  esac
  shift
done
[ $PURGE = 0 ] || [ $UNINSTALL = 1 ] || die "--purge goes with --uninstall"

if [ -n "$ROOT" ]; then
  mkdir -p "$ROOT" || die "cannot create $ROOT"
  ROOT=$(cd "$ROOT" && pwd)
  [ "$ROOT" != / ] || ROOT=
fi
if [ -z "$ROOT" ] && [ "$(id -u)" != 0 ]; then
  die "installing into the system needs root: sudo $0 $*  (or --prefix DIR for a throw-away root)"
fi

OPT=/opt/edged ETC=/etc/edged CACHE=/var/cache/edged UNITDIR=/etc/systemd/system
USER_NAME=edged
# systemd is running here (not a container or chroot without it), so units can be started.
live_systemd() { [ -z "$ROOT" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null; }

# ---- accounts, in ROOT's /etc (useradd --prefix) or the system's ------------------------------
acct() { local tool=$1; shift; if [ -n "$ROOT" ]; then "$tool" --prefix "$ROOT" "$@"; else "$tool" "$@"; fi; }
# entry passwd|group NAME: the account's line, from ROOT's files or (for the system) NSS.
entry() { if [ -z "$ROOT" ]; then getent "$1" "$2"; else grep "^$2:" "$ROOT/etc/$1" 2>/dev/null; fi; }
has_entry() { entry "$1" "$2" >/dev/null; }
numeric_id() { entry "$1" "$2" | cut -d: -f3; }
in_group() { entry group "$1" | cut -d: -f4 | tr ',' '\n' | grep -qx "$USER_NAME"; }
# A throw-away root has accounts when it has an etc/passwd (and we are root: useradd --prefix).
accounts_here() { [ -z "$ROOT" ] || { [ -f "$ROOT/etc/passwd" ] && [ "$(id -u)" = 0 ]; }; }

ensure_user() {
  if ! accounts_here; then
    say "skipping the system user: $ROOT has no etc/passwd, or we are not root"
    return
  fi
  has_entry group video || { acct groupadd --system video; say "created group video"; }
  if ! has_entry passwd "$USER_NAME"; then
    acct useradd --system --user-group --groups video --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin --comment "edged service" "$USER_NAME"
    say "created system user $USER_NAME (groups $USER_NAME, video)"
  elif ! in_group video; then
    acct usermod -a -G video "$USER_NAME"
    say "added $USER_NAME to group video"
  fi
  # Jetson's GPU device nodes belong to the render group (when it exists).
  if [ "$PROFILE" = jetson ] && has_entry group render && ! in_group render; then
    acct usermod -a -G render "$USER_NAME"
  fi
}

# chown_edged PATH...: root:edged (or edged:edged with --owner) when we are root and know the ids.
chown_edged() {
  local owner=0
  if [ "$1" = --owner ]; then owner=; shift; fi
  [ "$(id -u)" = 0 ] && accounts_here && has_entry group "$USER_NAME" || return 0
  local uid gid
  uid=$(numeric_id passwd "$USER_NAME") gid=$(numeric_id group "$USER_NAME")
  chown "${owner:-$uid}:$gid" "$@"
}

# ---- configs -------------------------------------------------------------------------------------
detect_profile() {
  local model
  model=$(tr -d '\0' </proc/device-tree/model 2>/dev/null || true)
  case "$model" in
    *"Raspberry Pi 5"*|*"Compute Module 5"*) echo pi5 ;;
    *"Raspberry Pi 4"*|*"Raspberry Pi 400"*|*"Compute Module 4"*) echo pi4 ;;
    *Jetson*|*NVIDIA*) echo jetson ;;
    *) echo default ;;
  esac
}

# render FILE: a shipped config with its paths pointing at the installed models, labels and cache.
render() {
  sed -e "s#\.\./models/#$OPT/models/#g" \
      -e "/^[[:space:]]*\(sets:\|- \)/s#\([[:space:][,]\)labels/#\1$ETC/labels/#g" "$1" |
  awk -v cache="$CACHE" '
    /^cache_dir:/ { next }
    { print }
    !done && /^device:/ { print "cache_dir: " cache "          # written by install.sh"; done = 1 }
    END { if (!done) print "cache_dir: " cache "          # written by install.sh" }'
}

# put_config NEW DEST: install NEW as DEST unless DEST holds your changes; then it goes to DEST.new.
put_config() {
  local new=$1 dest=$2
  if [ ! -e "$dest" ]; then
    install -m 0640 "$new" "$dest"
    chown_edged "$dest"
    say "wrote ${dest#"$ROOT"}"
  elif cmp -s "$new" "$dest"; then
    rm -f "$dest.new"
  else
    install -m 0640 "$new" "$dest.new"
    chown_edged "$dest.new"
    say "kept your ${dest#"$ROOT"}; the one from this release is ${dest#"$ROOT"}.new"
  fi
}

# ---- dependencies ------------------------------------------------------------------------------
machine_arch() { case "$(uname -m)" in x86_64) echo amd64 ;; aarch64|arm64) echo arm64 ;; *) uname -m ;; esac; }
release_arch() { cat "$SRC/ARCH"; }

# missing_libs: the shared libraries the installed edged needs and this machine lacks.
missing_libs() { ldd "$ROOT$OPT/bin/edged" 2>/dev/null | awk '/not found/ { print $1 }' | sort -u; }

# Debian / Raspberry Pi OS / Ubuntu packages for missing OpenCV libraries
# (libopencv_imgcodecs.so.406 -> libopencv-imgcodecs406, or ...406t64 on newer Ubuntu).
install_deps() {
  local libs pkgs=() other=() l p
  libs=$(missing_libs)
  [ -n "$libs" ] || return 0
  for l in $libs; do
    case "$l" in
      libopencv_*.so.*)
        p=$(printf '%s' "$l" | sed -E 's/^lib(opencv)_([a-z0-9_]+)\.so\.([0-9]+)$/lib\1-\2\3/; s/_/-/g')
        if ! apt-cache show "$p" >/dev/null 2>&1 && apt-cache show "${p}t64" >/dev/null 2>&1; then p=${p}t64; fi
        pkgs+=("$p") ;;
      *) other+=("$l") ;;
    esac
  done
  if [ ${#pkgs[@]} -gt 0 ]; then
    say "installing the OpenCV libraries edged links: ${pkgs[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}"; } ||
      die "apt-get could not install ${pkgs[*]}; this release needs OpenCV 4.6 (Debian / Raspberry Pi OS bookworm)"
  fi
  [ ${#other[@]} -eq 0 ] || say "also missing, not from OpenCV: ${other[*]}"
}

check_binary() {
  if [ "$(release_arch)" != "$(machine_arch)" ]; then
    say "not running edged: it is built for $(release_arch), this machine is $(machine_arch)"
    return 0
  fi
  local libs
  libs=$(missing_libs)
  if [ -n "$libs" ]; then
    die "$OPT/bin/edged cannot start, this machine lacks: $(echo $libs). This release is built on Debian bookworm (glibc 2.36, OpenCV 4.6); run without --no-deps on Debian / Raspberry Pi OS, or see README.md"
  fi
  local out
  out=$("$ROOT$OPT/bin/edged" version 2>&1) || die "$OPT/bin/edged version failed: $out"
  printf '%s\n' "$out" | sed 's/^/  /'
}

# ---- systemd -----------------------------------------------------------------------------------
sysctl_offline() { if command -v systemctl >/dev/null; then systemctl --root="${ROOT:-/}" --quiet "$@"; else return 1; fi; }

enable_unit() {
  if live_systemd; then
    systemctl daemon-reload
    systemctl --quiet enable edged.service
    if [ $START = 1 ]; then
      systemctl restart edged.service
      say "edged is running: journalctl -u edged -f   (MQTT: mosquitto_sub -t 'edged/#' -v)"
    else
      say "enabled; start it with: systemctl start edged"
    fi
  elif sysctl_offline enable edged.service; then
    say "enabled edged.service${ROOT:+ in $ROOT} (systemd is not running here: nothing started)"
  else
    # No systemctl at all: make the link systemctl would make.
    mkdir -p "$ROOT$UNITDIR/multi-user.target.wants"
    ln -sfn "$UNITDIR/edged.service" "$ROOT$UNITDIR/multi-user.target.wants/edged.service"
    say "enabled edged.service (link in multi-user.target.wants)"
  fi
}

# ---- uninstall ---------------------------------------------------------------------------------
if [ $UNINSTALL = 1 ]; then
  if [ -e "$ROOT$UNITDIR/edged.service" ]; then
    if live_systemd; then
      systemctl --quiet disable --now edged.service || true
    else
      sysctl_offline disable edged.service || rm -f "$ROOT$UNITDIR/multi-user.target.wants/edged.service"
    fi
  fi
  rm -f "$ROOT$UNITDIR/edged.service" "$ROOT$UNITDIR/multi-user.target.wants/edged.service"
  rm -rf "$ROOT$UNITDIR/edged.service.d" "$ROOT$OPT" "$ROOT$OPT.new" "$ROOT$OPT.old" "$ROOT$CACHE"
  ! live_systemd || systemctl daemon-reload
  say "removed $OPT, $CACHE and the service"
  if [ $PURGE = 1 ]; then
    rm -rf "$ROOT$ETC"
    if accounts_here && has_entry passwd "$USER_NAME"; then
      acct userdel "$USER_NAME"
      ! has_entry group "$USER_NAME" || acct groupdel "$USER_NAME"
    fi
    say "purged $ETC and the user $USER_NAME"
  else
    say "kept $ETC and the user $USER_NAME (--purge removes them)"
  fi
  exit 0
fi

# ---- install -----------------------------------------------------------------------------------
for f in bin/edged lib/libtensorflowlite_c.so systemd/edged.service configs/edged.yaml configs/labels models ARCH VERSION; do
  [ -e "$SRC/$f" ] || die "$SRC is not an unpacked edged release: $f is missing"
done
if [ -z "$ROOT" ] && [ "$(release_arch)" != "$(machine_arch)" ]; then
  die "this is the linux-$(release_arch) release and this machine is $(machine_arch): download edged-$(cat "$SRC/VERSION")-linux-$(machine_arch).tar.gz"
fi
if [ "$PROFILE" = auto ]; then
  if [ -n "$ROOT" ]; then PROFILE=default; else PROFILE=$(detect_profile); fi
fi
case "$PROFILE" in
  default) PROFILE_FILE=edged.yaml ;;
  pi5|pi4|jetson) PROFILE_FILE=$PROFILE.yaml ;;
  *) die "unknown profile $PROFILE (auto, default, pi5, pi4 or jetson)" ;;
esac
[ -f "$SRC/configs/$PROFILE_FILE" ] || die "$SRC/configs/$PROFILE_FILE is missing"
say "installing edged $(cat "$SRC/VERSION") (linux-$(release_arch)) into ${ROOT:-/} with the $PROFILE profile"

ensure_user

# The program: staged beside the old one, then swapped, so a failed copy leaves the old one.
stage="$ROOT$OPT.new"
rm -rf "$stage" "$ROOT$OPT.old"
mkdir -p "$stage/configs/labels" "$(dirname "$ROOT$OPT")"
cp -R "$SRC/bin" "$SRC/lib" "$SRC/models" "$SRC/systemd" "$stage/"
cp "$SRC/install.sh" "$SRC/VERSION" "$SRC/ARCH" "$stage/"
[ ! -f "$SRC/README.md" ] || cp "$SRC/README.md" "$stage/"
for f in "$SRC"/configs/*.yaml; do render "$f" >"$stage/configs/$(basename "$f")"; done
cp "$SRC"/configs/labels/*.yaml "$stage/configs/labels/"
chmod -R u=rwX,go=rX "$stage"
[ "$(id -u)" != 0 ] || chown -R 0:0 "$stage"
if [ -e "$ROOT$OPT" ]; then mv "$ROOT$OPT" "$ROOT$OPT.old"; fi
mv "$stage" "$ROOT$OPT"
rm -rf "$ROOT$OPT.old"
say "installed ${OPT} ($(du -sh "$ROOT$OPT" | cut -f1))"

# The config and label sets.
install -d -m 0750 "$ROOT$ETC" "$ROOT$ETC/labels"
chown_edged "$ROOT$ETC" "$ROOT$ETC/labels"
put_config "$ROOT$OPT/configs/$PROFILE_FILE" "$ROOT$ETC/edged.yaml"
for f in "$ROOT$OPT"/configs/labels/*.yaml; do put_config "$f" "$ROOT$ETC/labels/$(basename "$f")"; done

# The cache.
install -d -m 0750 "$ROOT$CACHE"
chown_edged --owner "$ROOT$CACHE"

# The unit (and, on a Jetson, access to the GPU's device nodes).
install -d "$ROOT$UNITDIR"
install -m 0644 "$SRC/systemd/edged.service" "$ROOT$UNITDIR/edged.service"
if [ "$PROFILE" = jetson ]; then
  install -d "$ROOT$UNITDIR/edged.service.d"
  groups=video
  ! has_entry group render || groups="video render"
  cat >"$ROOT$UNITDIR/edged.service.d/jetson.conf" <<EOF
# Written by install.sh for the jetson profile: the GPU delegate opens /dev/nvhost-*, /dev/nvmap,
# /dev/nvgpu/* and /dev/dri/*, so the device allow-list of edged.service is lifted (the empty
# DeviceAllow= clears it; DevicePolicy=auto then allows every device the user may open).
[Service]
DeviceAllow=
DevicePolicy=auto
SupplementaryGroups=$groups
EOF
else
  rm -rf "$ROOT$UNITDIR/edged.service.d/jetson.conf"
  rmdir "$ROOT$UNITDIR/edged.service.d" 2>/dev/null || true
fi

if [ -z "$ROOT" ] && [ $DEPS = 1 ] && command -v apt-get >/dev/null; then install_deps; fi
check_binary
enable_unit
say "done: config ${ETC}/edged.yaml, models ${OPT}/models, cache ${CACHE}"
