#!/bin/bash
# Installs and registers the GitHub Actions runner on the bastion, as the user `runner` (no sudo).
# The registration token comes from an OOS secret parameter (TOKEN_PARAMETER, read with the
# bastion's RAM role) and reaches config.sh through its environment (ACTIONS_RUNNER_INPUT_TOKEN),
# never through a command line that `ps` shows.
set -euo pipefail
umask 022
# shellcheck source=/dev/null
source /opt/github-runner/runner.env # REGION, RAM_ROLE, TOKEN_PARAMETER, RUNNER_URL, RUNNER_LABELS, RUNNER_VERSION, RUNNER_SHA256

home=/home/runner/actions-runner
if [[ -f $home/.runner ]]; then
  echo "runner already registered"
  exit 0
fi

token=$(aliyun oos GetSecretParameter --Name "$TOKEN_PARAMETER" --WithDecryption true \
  --mode EcsRamRole --ram-role-name "$RAM_ROLE" --region "$REGION" | jq -j '.Parameter.Value')
if [[ -z $token || $token == unset ]]; then
  echo "no registration token in $TOKEN_PARAMETER yet (see terraform/README.md); retrying" >&2
  exit 1
fi

tarball=$(mktemp /tmp/actions-runner.XXXXXX)
trap 'rm -f "$tarball"' EXIT
curl -fsSL --retry 5 -o "$tarball" \
  "https://github.com/actions/runner/releases/download/v$RUNNER_VERSION/actions-runner-linux-x64-$RUNNER_VERSION.tar.gz"
if ! printf '%s  %s\n' "$RUNNER_SHA256" "$tarball" | sha256sum --check --status; then
  echo "refusing the runner download: its SHA-256 is not the pinned $RUNNER_SHA256" >&2
  exit 1
fi

install -d -m 0750 "$home"
tar -xzf "$tarball" -C "$home"
chown -R runner:runner "$home"
cd "$home"
ACTIONS_RUNNER_INPUT_TOKEN=$token runuser -u runner -- ./config.sh --unattended \
  --url "$RUNNER_URL" --labels "$RUNNER_LABELS" --name "$(hostname -s)" --replace
unset token
./svc.sh install runner
./svc.sh start
