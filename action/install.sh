#!/usr/bin/env bash
# The riskgate GitHub Action's install step: put a riskgate binary on the job's PATH.
#
#   RISKGATE_INSTALL  release (default): download riskgate-<target>.tar.gz from the GitHub
#                     releases of the action's repository; the archive holds the `riskgate`
#                     binary at its root, and riskgate-<target>.tar.gz.sha256 (sha256sum's
#                     output), when the release carries it, is checked. Targets:
#                     x86_64-unknown-linux-gnu, aarch64-unknown-linux-gnu,
#                     x86_64-apple-darwin, aarch64-apple-darwin.
#                     cargo: build the action's own source (GITHUB_ACTION_PATH) with
#                     `cargo install --locked --path`: needs a Rust toolchain, takes minutes.
#                     path: use the riskgate already on PATH (or RISKGATE_BIN); install nothing.
#   RISKGATE_VERSION  the release tag to download, e.g. v1.2.0 (default: latest)
#   RISKGATE_ACTION_REPOSITORY  owner/name whose releases to read (default: the action's own,
#                     from GITHUB_ACTION_PATH)
#   RISKGATE_RELEASE_URL  where release assets are served instead of
#                     https://github.com/<owner>/<name>/releases (GitHub Enterprise Server, a mirror)
#
# The binary goes to $RUNNER_TEMP/riskgate/bin, which is added to GITHUB_PATH for the steps
# that follow.
set -euo pipefail

say() { printf 'riskgate: %s\n' "$*" >&2; }
fail() {
    printf '::error title=riskgate::%s\n' "$*" >&2
    exit 2
}

root=${RUNNER_TEMP:-${TMPDIR:-/tmp}}/riskgate
bin=$root/bin
install=${RISKGATE_INSTALL:-release}

case $install in
path)
    command -v -- "${RISKGATE_BIN:-riskgate}" >/dev/null 2>&1 ||
        fail "install: path, but riskgate is not on PATH"
    say "using $(command -v -- "${RISKGATE_BIN:-riskgate}")"
    exit 0
    ;;
cargo)
    [[ -n ${GITHUB_ACTION_PATH:-} && -f $GITHUB_ACTION_PATH/Cargo.toml ]] ||
        fail "install: cargo needs the action's source (GITHUB_ACTION_PATH)"
    command -v cargo >/dev/null 2>&1 || fail "install: cargo needs a Rust toolchain on the runner"
    say "building riskgate from $GITHUB_ACTION_PATH with cargo install"
    cargo install --locked --quiet --root "$root" --path "$GITHUB_ACTION_PATH" ||
        fail "cargo install failed"
    ;;
release)
    version=${RISKGATE_VERSION:-latest}
    [[ $version =~ ^[A-Za-z0-9][A-Za-z0-9._+-]*$ ]] || fail "version must be a release tag, like v1.2.0, or latest"
    repository=${RISKGATE_ACTION_REPOSITORY:-}
    if [[ -z $repository && ${GITHUB_ACTION_PATH:-} =~ /_actions/([^/]+)/([^/]+)/[^/]+/?$ ]]; then
        repository=${BASH_REMATCH[1]}/${BASH_REMATCH[2]}
    fi
    base_url=${RISKGATE_RELEASE_URL:-}
    if [[ -z $base_url ]]; then
        [[ $repository =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]] ||
            fail "cannot tell which repository's releases to read: set RISKGATE_ACTION_REPOSITORY, or use install: cargo"
        base_url=https://github.com/$repository/releases
    fi
    case "$(uname -s)/$(uname -m)" in
    Linux/x86_64) target=x86_64-unknown-linux-gnu ;;
    Linux/aarch64 | Linux/arm64) target=aarch64-unknown-linux-gnu ;;
    Darwin/x86_64) target=x86_64-apple-darwin ;;
    Darwin/arm64) target=aarch64-apple-darwin ;;
    *) fail "no release binary for $(uname -s) $(uname -m): use install: cargo" ;;
    esac
    asset=riskgate-$target.tar.gz
    if [[ $version == latest ]]; then
        url=$base_url/latest/download/$asset
    else
        url=$base_url/download/$version/$asset
    fi
    command -v curl >/dev/null 2>&1 || fail "install: release needs curl"
    work=$(mktemp -d)
    trap 'rm -rf -- "$work"' EXIT
    say "downloading $url"
    curl -fsSL --retry 3 -o "$work/$asset" -- "$url" ||
        fail "could not download $url (is there a release $version with the asset $asset?)"
    if curl -fsSL --retry 3 -o "$work/$asset.sha256" -- "$url.sha256" 2>/dev/null; then
        want=$(awk '{print $1; exit}' "$work/$asset.sha256")
        if command -v sha256sum >/dev/null 2>&1; then
            got=$(sha256sum -- "$work/$asset" | awk '{print $1}')
        else
            got=$(shasum -a 256 -- "$work/$asset" | awk '{print $1}')
        fi
        [[ $want == "$got" ]] || fail "$asset does not match its published sha256"
        say "sha256 checked"
    else
        say "the release carries no $asset.sha256: not checked"
    fi
    mkdir -p -- "$bin"
    tar -xzf "$work/$asset" -C "$bin" riskgate || fail "$asset holds no riskgate binary at its root"
    chmod +x -- "$bin/riskgate"
    ;;
*)
    fail "install must be release, cargo or path"
    ;;
esac

"$bin/riskgate" --version >&2 || fail "the installed riskgate does not run"
if [[ -n ${GITHUB_PATH:-} ]]; then
    printf '%s\n' "$bin" >>"$GITHUB_PATH"
fi
