"""The real Keystone of ``../shared/peers/keystone/`` for the auth tests.

``start()`` runs the kit's ``start.sh`` (idempotent, lock-safe; the first run
installs Keystone, about a minute) and returns what it printed: the clouds.yaml
of the test identities and the ``[keystone_authtoken]`` table for a service.
Without the kit the auth tests are skipped, and fail under CI=true.

The kit is found from the project root: in ``shared/peers/keystone`` of the
checkout's parent (or of a further ancestor, for a git worktree), or at
``$QUARK_KEYSTONE_KIT``.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from quark import keystone

ROOT = Path(__file__).resolve().parent.parent
KIT_PATH = Path("shared") / "peers" / "keystone"
START_TIMEOUT = 600
WORKPLACES = (Path("/work"),)


def kit_dir() -> Path | None:
    explicit = os.environ.get("QUARK_KEYSTONE_KIT")
    if explicit:
        return Path(explicit)
    # beside the checkout (../shared from the project's root, or higher for a
    # worktree), else the workplace's own shared/ (a clone made elsewhere, e.g. CI's)
    for ancestor in (*ROOT.parents, *WORKPLACES):
        if (ancestor / KIT_PATH / "start.sh").is_file():
            return ancestor / KIT_PATH
    return None


def unavailable(why: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"Keystone kit unavailable (CI=true makes that a failure): {why}")
    pytest.skip(f"Keystone kit unavailable: {why}")


@dataclass(frozen=True)
class Keystone:
    url: str
    clouds_yaml: Path
    authtoken_toml: Path

    def authtoken_table(self) -> str:
        """The kit's ``[keystone_authtoken]`` table, as TOML text to paste in a quark.toml."""
        return self.authtoken_toml.read_text()

    def auth(self, cloud: str) -> keystone.ServiceAuth:
        return _auth(self.clouds_yaml, cloud)

    def token(self, cloud: str) -> str:
        return self.auth(cloud).token()

    def project_id(self, cloud: str) -> str:
        return str(self.auth(cloud).session.get_project_id())

    def client_env(self) -> dict[str, str]:
        """What a client (openstack CLI, openstacksdk, quark agent) needs to find the clouds."""
        return {"OS_CLIENT_CONFIG_FILE": str(self.clouds_yaml)}


@cache
def _auth(clouds_yaml: Path, cloud: str) -> keystone.ServiceAuth:
    return keystone.from_cloud(cloud, clouds_yaml)


@cache
def start() -> Keystone:
    kit = kit_dir()
    if kit is None:
        unavailable(f"no {KIT_PATH}/start.sh above {ROOT}")
        raise AssertionError("unreachable")
    try:
        done = subprocess.run(
            [str(kit / "start.sh")], capture_output=True, text=True, timeout=START_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        unavailable(f"{kit}/start.sh: {exc}")
        raise AssertionError("unreachable") from exc
    if done.returncode != 0:
        unavailable(f"{kit}/start.sh exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    values = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line and line[:1].isupper())
    return Keystone(
        values["KEYSTONE_URL"], Path(values["OS_CLIENT_CONFIG_FILE"]), Path(values["KEYSTONE_AUTHTOKEN_TOML"])
    )


def quark_toml(ks: Keystone, directory: Path, extra: str = "") -> Path:
    """A quark.toml with auth_strategy = "keystone" and the kit's [keystone_authtoken]."""
    path = directory / "quark.toml"
    path.write_text(f'[quark]\nauth_strategy = "keystone"\n{extra}\n\n{ks.authtoken_table()}')
    return path
