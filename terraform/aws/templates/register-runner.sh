#!/bin/bash
# Installs and registers the GitHub Actions runner on the bastion, as the user `runner` (no sudo).
# The registration token comes from SSM (TOKEN_PARAMETER) and reaches config.sh through its
# environment (ACTIONS_RUNNER_INPUT_TOKEN), never through a command line that `ps` shows.
set -euo pipefail
umask 022
# shellcheck source=/dev/null
source /opt/github-runner/runner.env # AWS_REGION, TOKEN_PARAMETER, RUNNER_URL, RUNNER_LABELS, RUNNER_VERSION, RUNNER_SHA256
export AWS_REGION

home=/home/runner/actions-runner
if [[ -f $home/.runner ]]; then
  echo "runner already registered"
  exit 0
fi

token=$(aws ssm get-parameter --name "$TOKEN_PARAMETER" --with-decryption --query Parameter.Value --output text)
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
