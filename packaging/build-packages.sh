#!/usr/bin/env bash
# Builds cairn's packages from this source tree (`make package`):
#
#   cairn_VERSION_ARCH.deb                 the agent, its configuration and unit
#   libcairn-plugin1_VERSION_ARCH.deb      the plugin SDK's shared library
#   cairn-plugin-dev_VERSION_ARCH.deb      the SDK's header, .so link, pkg-config file
#   cairn-VERSION-1.ARCH.rpm, cairn-plugin-VERSION-1.ARCH.rpm,
#   cairn-plugin-devel-VERSION-1.ARCH.rpm  the same three for RPM systems
#                                          (release 1 of VERSION)
#
# usage: packaging/build-packages.sh [--out DIR] [--build DIR] [--version V]
#   --out DIR      where the packages go (default dist/)
#   --build DIR    the CMake build directory (default build-pkg/)
#   --version V    build as version V instead of project()'s (tests use it to
#                  make an upgrade); the packages' version is what the built
#                  binary's `cairn --version` prints, so the two always match.
#
# One staged install (`cmake --install`) feeds both formats; the files that
# are packaging's own (configuration, unit, maintainer scripts, man page,
# completion) come from packaging/. The .debs are assembled with dpkg-deb,
# their dependencies found by dpkg-shlibdeps; the .rpms are built by rpmbuild
# from packaging/rpm/cairn.spec.in over a tree laid out the RPM way
# (/usr/lib64, /usr/lib/systemd/system, /etc/sysconfig). Compiler and linker
# flags are Debian's hardening set (dpkg-buildflags).
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
out=$src/dist
build=$src/build-pkg
version_override=
while [ $# -gt 0 ]; do
    case $1 in
    --out) out=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --version) version_override=$2; shift 2 ;;
    *) echo "usage: $0 [--out DIR] [--build DIR] [--version V]" >&2; exit 2 ;;
    esac
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
# Only this build's packages in the output directory.
rm -f "$out"/cairn_*.deb "$out"/libcairn-plugin1_*.deb "$out"/cairn-plugin-dev_*.deb \
    "$out"/cairn-*.rpm "$out"/cairn-plugin-*.rpm

maintainer=${CAIRN_MAINTAINER:-cairn maintainers <cairn@packages.invalid>}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$src" log -1 --format=%ct 2>/dev/null || date +%s)}
export DEB_BUILD_MAINT_OPTIONS=hardening=+all
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
deb_arch=$(dpkg --print-architecture)
rpm_arch=$(rpm --eval %_arch)

# ---- build and stage --------------------------------------------------------
cflags="$(dpkg-buildflags --get CFLAGS) $(dpkg-buildflags --get CPPFLAGS)"
ldflags=$(dpkg-buildflags --get LDFLAGS)
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCAIRN_TESTS=OFF \
    -DCAIRN_SANITIZE=OFF -DCAIRN_FUZZ=OFF -DCAIRN_VERSION="$version_override" \
    -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_INSTALL_LIBDIR="lib/$multiarch" \
    -DCMAKE_C_FLAGS="$cflags" -DCMAKE_EXE_LINKER_FLAGS="$ldflags" \
    -DCMAKE_SHARED_LINKER_FLAGS="$ldflags -Wl,--hash-style=both" >/dev/null
cmake --build "$build" -j "$(nproc)" --target cairn cairn-plugin
version=$("$build/cairn" --version | sed -n 's/^cairn, version //p')
[ -n "$version" ] || { echo "cannot read the version from $build/cairn" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/cairn-pkg.XXXXXX")
trap 'rm -rf "$work"' EXIT
stage=$work/stage
DESTDIR=$stage cmake --install "$build" >/dev/null
# As dh_strip does: executables lose debug info and notes, libraries also
# their unneeded symbols.
strip --remove-section=.comment --remove-section=.note "$stage/usr/bin/cairn"
strip --remove-section=.comment --remove-section=.note --strip-unneeded \
    "$stage/usr/lib/$multiarch"/libcairn-plugin.so.1.*

# The changelog of this build, in Debian's format and in RPM's.
changelog_date=$(date -u -d "@$SOURCE_DATE_EPOCH" -R)
rpm_changelog_date=$(LC_ALL=C date -u -d "@$SOURCE_DATE_EPOCH" '+%a %b %d %Y')
revision=$(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo unknown)

# gz FILE: compressed in place, reproducibly (no name, no time).
gz() { gzip -9 -n "$1"; }

# ---- Debian -----------------------------------------------------------------
# deb_docs TREE PACKAGE: the copyright and changelog every package carries.
deb_docs() {
    local doc=$1/usr/share/doc/$2
    install -d "$doc"
    install -m 0644 "$src/packaging/deb/copyright" "$doc/copyright"
    printf '%s (%s) stable; urgency=medium\n\n  * Release %s (source revision %s).\n\n -- %s  %s\n' \
        "$2" "$version" "$version" "$revision" "$maintainer" "$changelog_date" >"$doc/changelog"
    gz "$doc/changelog"
}

# deb_build TREE PACKAGE DEPENDS SECTION DESCRIPTION-FILE: control file, sums, .deb.
deb_build() {
    local tree=$1 pkg=$2 depends=$3 section=$4 descr=$5
    install -d "$tree/DEBIAN"
    local size
    size=$(du -k -s --apparent-size --exclude=DEBIAN "$tree" | cut -f1)
    {
        echo "Package: $pkg"
        echo "Version: $version"
        echo "Architecture: $deb_arch"
        echo "Maintainer: $maintainer"
        echo "Installed-Size: $size"
        [ -z "$depends" ] || echo "Depends: $depends"
        echo "Section: $section"
        echo "Priority: optional"
        [ "$pkg" != libcairn-plugin1 ] || echo "Multi-Arch: same"
        cat "$descr"
    } >"$tree/DEBIAN/control"
    (cd "$tree" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z |
        xargs -0 -r md5sum) >"$tree/DEBIAN/md5sums"
    dpkg-deb --root-owner-group -Zxz --build "$tree" "$out/${pkg}_${version}_${deb_arch}.deb" >/dev/null
    echo "built $out/${pkg}_${version}_${deb_arch}.deb"
}

# shlibdeps FILE...: the Depends that the ELF files' libraries call for.
shlibdeps() {
    install -d "$work/shlibs/debian"
    printf 'Source: cairn\n\nPackage: cairn\nArchitecture: any\n' >"$work/shlibs/debian/control"
    (cd "$work/shlibs" && dpkg-shlibdeps -O "$@" 2>/dev/null) | sed -n 's/^shlibs:Depends=//p'
}

install_tree() { # install_tree ROOT: the agent's files, common to both formats
    local root=$1
    install -D -m 0755 "$stage/usr/bin/cairn" "$root/usr/bin/cairn"
    install -D -m 0644 "$src/packaging/cairn.yml" "$root/etc/cairn/cairn.yml"
    install -d "$root/etc/cairn/rules.d" "$root/etc/cairn/plugins.d" "$root/var/lib/cairn"
    install -d "$root/usr/share/man/man1"
    # The page's footer names the version it documents.
    sed "s/^\.TH CAIRN 1 \([^ ]*\) \"cairn\"/.TH CAIRN 1 \1 \"cairn $version\"/" "$src/packaging/cairn.1" \
        >"$root/usr/share/man/man1/cairn.1"
    grep -q "^\.TH CAIRN 1 .* \"cairn $version\"" "$root/usr/share/man/man1/cairn.1" ||
        { echo "packaging/cairn.1: no .TH line to put the version in" >&2; exit 1; }
    gz "$root/usr/share/man/man1/cairn.1"
    install -D -m 0644 "$src/packaging/cairn.bash-completion" \
        "$root/usr/share/bash-completion/completions/cairn"
    local doc=$root/usr/share/doc/cairn
    install -D -m 0644 "$src/README.md" "$doc/README.md"
    install -d "$doc/docs" "$doc/examples"
    install -m 0644 "$src"/docs/*.md "$doc/docs/"
    install -m 0644 "$src/packaging/events/rules.yml" "$doc/examples/rules.yml"
}

sdk_docs() { # sdk_docs DIR: the plugin guide and an example plugin
    install -D -m 0644 "$src/docs/plugins.md" "$1/plugins.md"
    install -D -m 0644 "$src/plugins/examples/procstate/procstate.c" "$1/examples/procstate.c"
}

deb=$work/deb
# cairn
t=$deb/cairn
install_tree "$t"
install -D -m 0644 "$src/packaging/cairn.default" "$t/etc/default/cairn"
install -D -m 0644 "$src/packaging/systemd/cairn-agent.service" "$t/lib/systemd/system/cairn-agent.service"
deb_docs "$t" cairn
install -d "$t/DEBIAN"
for s in postinst prerm postrm; do install -m 0755 "$src/packaging/deb/$s" "$t/DEBIAN/$s"; done
printf '/etc/cairn/cairn.yml\n/etc/default/cairn\n' >"$t/DEBIAN/conffiles"
deb_build "$t" cairn "adduser, procps, $(shlibdeps "$t/usr/bin/cairn")" admin \
    "$src/packaging/deb/cairn.description"

# libcairn-plugin1
t=$deb/libcairn-plugin1
install -d "$t/usr/lib/$multiarch"
cp -a "$stage/usr/lib/$multiarch"/libcairn-plugin.so.1* "$t/usr/lib/$multiarch/"
deb_docs "$t" libcairn-plugin1
install -d "$t/DEBIAN"
echo "libcairn-plugin 1 libcairn-plugin1 (>= $version)" >"$t/DEBIAN/shlibs"
echo "activate-noawait ldconfig" >"$t/DEBIAN/triggers"
deb_build "$t" libcairn-plugin1 "$(shlibdeps "$t/usr/lib/$multiarch"/libcairn-plugin.so.1.*)" libs \
    "$src/packaging/deb/libcairn-plugin1.description"

# cairn-plugin-dev
t=$deb/cairn-plugin-dev
install -d "$t/usr/lib/$multiarch/pkgconfig" "$t/usr/include"
cp -a "$stage/usr/include/cairn" "$t/usr/include/"
cp -a "$stage/usr/lib/$multiarch/libcairn-plugin.so" "$t/usr/lib/$multiarch/"
cp -a "$stage/usr/lib/$multiarch/pkgconfig/cairn-plugin.pc" "$t/usr/lib/$multiarch/pkgconfig/"
deb_docs "$t" cairn-plugin-dev
sdk_docs "$t/usr/share/doc/cairn-plugin-dev"
deb_build "$t" cairn-plugin-dev "libcairn-plugin1 (= $version)" libdevel \
    "$src/packaging/deb/cairn-plugin-dev.description"

# ---- RPM --------------------------------------------------------------------
rroot=$work/rpm/root
install_tree "$rroot"
install -D -m 0644 "$src/packaging/cairn.default" "$rroot/etc/sysconfig/cairn"
install -D -m 0644 "$src/packaging/systemd/cairn-agent.service" \
    "$rroot/usr/lib/systemd/system/cairn-agent.service"
install -D -m 0644 "$src/LICENSE" "$rroot/usr/share/licenses/cairn/LICENSE"
install -D -m 0644 "$src/LICENSE" "$rroot/usr/share/licenses/cairn-plugin/LICENSE"
sdk_docs "$rroot/usr/share/doc/cairn-plugin-devel"
install -d "$rroot/usr/lib64/pkgconfig" "$rroot/usr/include"
cp -a "$stage/usr/lib/$multiarch"/libcairn-plugin.so* "$rroot/usr/lib64/"
# RPM finds a library's provides only when it is executable.
chmod 0755 "$rroot"/usr/lib64/libcairn-plugin.so.1.*
cp -a "$stage/usr/include/cairn" "$rroot/usr/include/"
sed "s|^libdir=.*|libdir=/usr/lib64|" "$stage/usr/lib/$multiarch/pkgconfig/cairn-plugin.pc" \
    >"$rroot/usr/lib64/pkgconfig/cairn-plugin.pc"

spec=$work/rpm/cairn.spec
sed -e "s|@VERSION@|$(echo "$version" | tr - _)|g" -e "s|@PACKAGER@|$maintainer|g" \
    -e "s|@CHANGELOG_DATE@|$rpm_changelog_date|g" -e "s|@REVISION@|$revision|g" \
    "$src/packaging/rpm/cairn.spec.in" >"$spec"
rpmbuild -bb --quiet --target "$rpm_arch" \
    --define "_topdir $work/rpm/top" --define "cairn_root $rroot" \
    --define "_rpmdir $out" --define "_build_id_links none" \
    --define '_rpmfilename %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm' \
    "$spec"
for p in cairn cairn-plugin cairn-plugin-devel; do
    echo "built $out/$p-$(echo "$version" | tr - _)-1.$rpm_arch.rpm"
done
