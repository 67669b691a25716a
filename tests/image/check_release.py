"""What the linters cannot check: the chart deploys the image the release
workflow publishes, tagged as the workflow tags it, and the image runs as
the chart's user with its data in the volume the chart mounts."""
import re
import sys
import tomllib

import yaml

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
fails = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        fails.append(what)


workflow = yaml.safe_load((ROOT / ".github/workflows/release.yml").read_text())
values = yaml.safe_load((ROOT / "charts/lode/values.yaml").read_text())
chart = yaml.safe_load((ROOT / "charts/lode/Chart.yaml").read_text())
cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())
dockerfile = (ROOT / "Dockerfile").read_text()

image = workflow["env"]["IMAGE"]
check(values["image"]["repository"] == image,
      f"chart image.repository {values['image']['repository']!r} is the workflow's IMAGE {image!r}")
steps = workflow["jobs"]["image"]["steps"]
meta = next(s for s in steps if s.get("id") == "meta")
check("type=semver,pattern={{version}}" in meta["with"]["tags"],
      "the workflow tags images with the bare version (v0.1.0 -> 0.1.0)")
check(values["image"]["tag"] in ("", None) and chart["appVersion"] == cargo["workspace"]["package"]["version"],
      f"the chart's default tag is appVersion {chart['appVersion']!r}, the crates' version")
build = next(s for s in steps if "build-push-action" in s.get("uses", ""))
check(set(build["with"]["platforms"].split(",")) == {"linux/amd64", "linux/arm64"},
      "the image is built for linux/amd64 and linux/arm64")
# YAML 1.1 reads the key `on` as true.
triggers = workflow.get(True) or workflow.get("on") or {}
check("v*" in triggers.get("push", {}).get("tags", []), "the workflow runs on version tags")
user = re.findall(r"^USER\s+(\d+):(\d+)", dockerfile, re.M)
psc = values["podSecurityContext"]
check(user == [(str(psc["runAsUser"]), str(psc["runAsGroup"]))],
      f"the image's USER {user} is the chart's runAsUser/runAsGroup")
check("LODE_DATA_DIR=/data" in dockerfile and re.search(r'^VOLUME \["/data"\]', dockerfile, re.M),
      "the image keeps its data in the /data volume")
stages = re.findall(r"^FROM\s+(\S+)", dockerfile, re.M)
check(len(stages) >= 2 and "distroless" in stages[-1], f"multi-stage, distroless runtime: {stages}")
sys.exit(1 if fails else 0)
