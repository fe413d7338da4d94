#!/bin/sh
# aiedge's git-sync image: the part of git-sync v4's environment contract aiedge's manifests use.
# GITSYNC_REPO (any URL git fetches), GITSYNC_REF (branch, tag or commit; default HEAD),
# GITSYNC_ROOT, GITSYNC_LINK (default: the repo's name), GITSYNC_PERIOD (seconds, "10s" too),
# GITSYNC_ONE_TIME=true (sync once and exit). As git-sync does, every revision is checked out into
# ROOT/.worktrees/SHA and ROOT/LINK is swapped to it in one rename, so a reader never sees half
# a checkout; the previous worktree is removed after the swap.
set -eu
repo=${GITSYNC_REPO:?GITSYNC_REPO is not set}
ref=${GITSYNC_REF:-HEAD}
root=${GITSYNC_ROOT:?GITSYNC_ROOT is not set}
link=${GITSYNC_LINK:-$(basename "$repo" .git)}
period=${GITSYNC_PERIOD:-10s}
period=${period%s}
case "$period" in ''|*[!0-9.]*) echo "error: GITSYNC_PERIOD '$GITSYNC_PERIOD': seconds, e.g. 10s" >&2; exit 1 ;; esac
case "$link" in ''|*/*|.*) echo "error: GITSYNC_LINK '$link': one file name" >&2; exit 1 ;; esac
export GIT_TERMINAL_PROMPT=0
# the repo to read may belong to another user (a host folder mounted read-only): read it anyway;
# git takes safe.directory from a global config only, so one of our own (HOME may be read-only)
export GIT_CONFIG_GLOBAL="${TMPDIR:-/tmp}/git-sync.gitconfig"
git config --global safe.directory '*'
gitdir="$root/.git"
mkdir -p "$root/.worktrees"
[ -d "$gitdir" ] || git init -q --bare "$gitdir"
current=$(basename "$(readlink "$root/$link" 2>/dev/null || true)")
while :; do
  if git --git-dir="$gitdir" fetch -q --no-tags "$repo" "$ref"; then
    sha=$(git --git-dir="$gitdir" rev-parse FETCH_HEAD)
    if [ "$sha" != "$current" ]; then
      [ -d "$root/.worktrees/$sha" ] || git --git-dir="$gitdir" worktree add -q --detach "$root/.worktrees/$sha" "$sha"
      ln -sfn ".worktrees/$sha" "$root/.$link.new"
      mv -T "$root/.$link.new" "$root/$link"
      if [ -n "$current" ] && [ -d "$root/.worktrees/$current" ]; then
        git --git-dir="$gitdir" worktree remove --force "$root/.worktrees/$current" || true
      fi
      current=$sha
      echo "git-sync: $ref is $sha"
    fi
  else
    if [ "${GITSYNC_ONE_TIME:-false}" = true ]; then
      echo "git-sync: fetching $ref from $repo failed" >&2
      exit 1
    fi
    echo "git-sync: fetching $ref from $repo failed; trying again in ${period}s" >&2
  fi
  [ "${GITSYNC_ONE_TIME:-false}" = true ] && [ -n "$current" ] && exit 0
  sleep "$period"
done
