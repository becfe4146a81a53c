"""The Node example client's packages (and the Node-RED recipe's, examples/nocode), installed once
(`npm ci`) for every test file that runs them. Test files run in parallel workers (pytest-xdist), so the
install takes a lock: one worker installs, the others wait and find it done."""

from __future__ import annotations

import fcntl
import hashlib
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NODE_CLIENT = ROOT / "examples" / "clients" / "node"
NODERED = ROOT / "examples" / "nocode"
# npm failing for these reasons means the registry cannot be reached: the packages cannot be had.
OFFLINE = re.compile(r"ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ECONNRESET|ENETUNREACH")


def installed_matches_lock(directory: Path = NODE_CLIENT) -> bool:
    """node_modules holds exactly what package-lock.json pins (npm's hidden lockfile mirrors the install)."""
    hidden = directory / "node_modules" / ".package-lock.json"
    if not hidden.exists():
        return False

    def packages(path: Path) -> dict[str, dict[str, str]]:
        return {name: entry for name, entry in json.loads(path.read_text()).get("packages", {}).items() if name}

    installed, locked = packages(hidden), packages(directory / "package-lock.json")
    # Optional packages for other platforms (Node-RED's bcrypt builds for darwin, win32 ...) are not installed.
    wanted = {name for name, entry in locked.items() if not entry.get("optional")}
    return wanted <= set(installed) and all(name in locked and locked[name].get("version", "") == entry.get("version", "")
                                            for name, entry in installed.items())


def ensure_node_client(directory: Path = NODE_CLIENT, minimum: int = 20) -> Path:
    """The Node client's directory with its packages installed as package-lock.json pins them; skips the
    test when Node is missing or too old, or the registry cannot be reached."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are not installed: the Node client cannot run")
    major = int(subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout
                .strip().lstrip("v").split(".")[0])
    if major < minimum:
        pytest.skip(f"{directory.name} needs Node {minimum} or later, this machine has Node {major}")
    lock_name = "ghl-sandbox-npm-ci-" + hashlib.sha256(str(directory).encode()).hexdigest()[:16] + ".lock"
    with open(Path(tempfile.gettempdir()) / lock_name, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not installed_matches_lock(directory):
            done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=directory, capture_output=True,
                                  text=True, timeout=300)
            if done.returncode != 0 and OFFLINE.search(done.stdout + done.stderr):
                pytest.skip(f"npm ci cannot reach the registry: {(done.stdout + done.stderr)[-500:]}")
            assert done.returncode == 0, f"npm ci failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
            assert installed_matches_lock(directory), "npm ci left node_modules different from package-lock.json"
    return directory


def ensure_nodered() -> Path:
    """examples/nocode with Node-RED 4.1.8 installed as its package-lock.json pins it (Node 18 or later)."""
    return ensure_node_client(NODERED, minimum=18)
