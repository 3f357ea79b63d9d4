#!/bin/bash
# Build the pyser2net Debian package from this source tree.
#
#   packaging/build-deb.sh                  (or: make deb)
#   packaging/build-deb.sh --install-deps   first install missing build
#                                           dependencies with apt-get (through
#                                           sudo when not run as root)
#   packaging/build-deb.sh --check-deps     only check them: exit 0 when all
#                                           are installed, else name them, exit 1
#
# The tree (committed and uncommitted files, minus what .gitignore excludes)
# is copied to a temporary directory, packaging/debian becomes debian/ there,
# and dpkg-buildpackage builds the binary package. The .deb lands in dist/
# (or in $DIST_DIR) and is checked with lintian, which fails the build on
# errors and shows warnings.
#
# Without --install-deps the script never installs anything: when a build
# dependency (Build-Depends in packaging/debian/control, and lintian) is
# missing, it says which and how to install them, and stops.
#
# Environment:
#   DIST_DIR       where to put the .deb (default: dist/ in the tree)
#   KEEP_BUILD=1   keep the temporary build directory and print its path
#   NO_LINTIAN=1   skip the lintian check (lintian is then not needed)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
dist_dir=${DIST_DIR:-$root/dist}
control="$here/debian/control"

say() { printf 'build-deb: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

install_deps=
check_only=
for arg in "$@"; do
    case $arg in
        --install-deps) install_deps=1 ;;
        --check-deps) check_only=1 ;;
        -h|--help) sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) die "unknown argument: $arg (see --help)" ;;
    esac
done

command -v dpkg-checkbuilddeps >/dev/null \
    || die "dpkg-checkbuilddeps not found: this script needs a Debian-based system with dpkg-dev (sudo apt-get install dpkg-dev)"

# The packages to install for what is missing. dpkg-checkbuilddeps reads
# Build-Depends; its "name (>= 1) | other [arch] <profile>" becomes the first
# alternative's name, and debhelper-compat is provided by debhelper.
status=0
unmet=$(LC_ALL=C dpkg-checkbuilddeps "$control" 2>&1) || status=$?
case $status:$unmet in
    0:*) unmet= ;;
    *"Unmet build dependencies: "*) unmet=${unmet##*Unmet build dependencies: } ;;
    *) die "dpkg-checkbuilddeps failed: $unmet" ;;
esac
missing=()
read -r -a missing <<<"$(printf '%s\n' "$unmet" \
    | sed -e 's/([^)]*)//g; s/\[[^]]*\]//g; s/<[^>]*>//g' \
          -e 's/|[[:space:]]*[^[:space:]]*//g; s/:[a-z]*//g' \
          -e 's/\(^\|[[:space:]]\)debhelper-compat\($\|[[:space:]]\)/\1debhelper\2/g' \
    | tr -s '[:space:]' ' ')"
if [ -z "${NO_LINTIAN:-}" ] && ! command -v lintian >/dev/null; then
    missing+=(lintian)
fi

if [ "${#missing[@]}" -gt 0 ]; then
    if [ -n "$install_deps" ]; then
        apt=(apt-get)
        if [ "$(id -u)" -ne 0 ]; then
            command -v sudo >/dev/null || die "not root and no sudo: install as root: apt-get install --no-install-recommends ${missing[*]}"
            apt=(sudo apt-get)
        fi
        say "installing build dependencies: ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y --no-install-recommends "${missing[@]}"
    else
        say "missing build dependencies: ${missing[*]}"
        say "install them with: sudo apt-get install --no-install-recommends ${missing[*]}"
        say "(or run: packaging/build-deb.sh --install-deps)"
        exit 1
    fi
fi
[ -z "$check_only" ] || exit 0

# The package version must follow the program's version.
py_version=$(sed -n 's/^__version__ *= *["'\'']\([^"'\'']*\)["'\''].*/\1/p' "$root/pyser2net/__init__.py")
deb_version=$(dpkg-parsechangelog -l "$here/debian/changelog" -S Version)
[ -n "$py_version" ] || die "no __version__ in pyser2net/__init__.py"
if [ "${deb_version%%-*}" != "$py_version" ]; then
    die "packaging/debian/changelog has version $deb_version but pyser2net/__init__.py has $py_version; add a changelog entry (dch -v $py_version)"
fi

workdir=$(mktemp -d "${TMPDIR:-/tmp}/pyser2net-deb.XXXXXX")
cleanup() {
    if [ -n "${KEEP_BUILD:-}" ]; then
        say "build directory kept: $workdir"
    else
        rm -rf "$workdir"
    fi
}
trap cleanup EXIT

src="$workdir/pyser2net-$py_version"
mkdir -p "$src"

# Copy the source tree: tracked files plus new files that git does not
# ignore, as they are in the work tree. Outside a git checkout, copy
# everything except virtual environments and build output.
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (
        cd "$root"
        git ls-files -z --cached --others --exclude-standard \
            | while IFS= read -r -d '' f; do
                [ -e "$f" ] || [ -L "$f" ] || continue  # deleted, not yet committed
                printf '%s\0' "$f"
            done \
            | tar --null --no-recursion --files-from=- -cf - \
            | tar -xf - -C "$src"
    )
else
    tar -C "$root" \
        --exclude=./.git --exclude=./.venv --exclude=./venv --exclude=./dist \
        --exclude=./build --exclude=./debian --exclude='*.egg-info' \
        --exclude=__pycache__ --exclude=.pytest_cache --exclude=.ruff_cache \
        -cf - . | tar -xf - -C "$src"
fi

rm -rf "$src/debian"
cp -a "$here/debian" "$src/debian"
chmod +x "$src/debian/rules"

say "building in $src"
(
    cd "$src"
    # Build with Debian's own Python, as a build daemon would: a virtual
    # environment or a Python version manager on PATH must not leak in.
    unset VIRTUAL_ENV PYTHONPATH PYTHONHOME PYTHONUSERBASE PYENV_VERSION CONDA_PREFIX
    export PATH=/usr/sbin:/usr/bin:/sbin:/bin
    dpkg-buildpackage -us -uc -b
)

shopt -s nullglob
debs=("$workdir"/pyser2net_*.deb)
shopt -u nullglob
[ "${#debs[@]}" -eq 1 ] || die "expected one .deb in $workdir, found ${#debs[@]}"

mkdir -p "$dist_dir"
deb="$dist_dir/$(basename "${debs[0]}")"
mv -f "${debs[0]}" "$deb"
say "package: $deb"

if [ -z "${NO_LINTIAN:-}" ]; then
    command -v lintian >/dev/null || die "lintian not found"
    say "lintian $(basename "$deb")"
    # Errors fail the build; warnings and informational tags are shown.
    lintian --fail-on error --display-info "$deb"
fi
