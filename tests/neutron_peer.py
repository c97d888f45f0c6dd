"""A stock Neutron from the peer kit (``../shared/peers/neutron``) configured
to take its addresses from Quark (``ipam_driver = quark``; docs/neutron_ipam_driver.md).

The kit's scripts do the work: ``install.sh`` builds Neutron's venv (once,
~4 minutes here), ``start.sh`` migrates a database of its own and runs
uWSGI, ``stop.sh`` stops it. This module installs Quark's package into that
venv (``pip install --no-deps -e``), writes the driver's settings into the
rendered ``neutron.conf``, and keeps its state apart from the kit's default
home (``QUARK_NEUTRON_IPAM_HOME``, default ``~/.cache/quark-peers/neutron-ipam``).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
KIT = Path(os.environ.get("QUARK_NEUTRON_KIT", REPO.parent / "shared" / "peers" / "neutron"))
if not KIT.is_dir():  # a worktree under /work/wt/<branch>: the kit is beside the main checkout
    KIT = Path(os.environ.get("QUARK_NEUTRON_KIT", "/work/shared/peers/neutron"))
HOME = Path(os.environ.get("QUARK_NEUTRON_IPAM_HOME", Path.home() / ".cache" / "quark-peers" / "neutron-ipam"))
DB_NAME = "neutron_quark_ipam"
# A stock Neutron (its own IPAM) beside the one above, sharing its venv: the import tests' source.
STOCK_HOME = Path(os.environ.get("QUARK_NEUTRON_STOCK_HOME", Path.home() / ".cache" / "quark-peers" / "neutron-stock"))
STOCK_DB = "neutron_quark_stock"


def kit_missing() -> str | None:
    """Why the Neutron kit cannot run here, or None."""
    if os.environ.get("QUARK_SKIP_NEUTRON_PEER") == "1":
        return "QUARK_SKIP_NEUTRON_PEER=1"
    if not (KIT / "install.sh").is_file():
        return f"no Neutron peer kit at {KIT}"
    return None


def _env(port: int, home: Path = HOME, db: str = DB_NAME) -> dict[str, str]:
    return {
        **os.environ,
        "NEUTRON_PEER_HOME": str(home),
        "NEUTRON_PEER_PORT": str(port),
        "NEUTRON_PEER_DB": db,
        "NEUTRON_API_WORKERS": "2",
    }


def _run(args: list[str], env: dict[str, str], timeout: float) -> None:
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )


def install() -> Path:
    """Neutron's venv (built by the kit if missing) with Quark's package in it; its python."""
    python = HOME / "venv" / "bin" / "python"
    env = _env(0)
    if not python.exists():
        _run([str(KIT / "install.sh")], env, timeout=1200)
    where = subprocess.run(
        [str(python), "-c", "import quark.neutron_ipam.client as c; print(c.__file__)"],
        capture_output=True,
        text=True,
        cwd="/",
    )
    if where.returncode != 0 or not where.stdout.strip().startswith(str(REPO)):
        _run([str(HOME / "venv" / "bin" / "pip"), "install", "-q", "--no-deps", "-e", str(REPO)], env, timeout=600)
    return python


def configure(quark_url: str, driver: str = "quark") -> None:
    """``ipam_driver`` and the ``[quark]`` section in the rendered neutron.conf (idempotent)."""
    conf = HOME / "etc" / "neutron.conf"
    text = conf.read_text()
    text = re.sub(r"(?m)^ipam_driver = .*\n", "", text)
    text = re.sub(r"(?ms)^\[quark\]\n.*?(?=^\[|\Z)", "", text).rstrip() + "\n"
    text = text.replace("[DEFAULT]\n", f"[DEFAULT]\nipam_driver = {driver}\n", 1)
    text += f"\n[quark]\nurl = {quark_url}\ntimeout = 10\nconnect_retries = 1\n"
    conf.write_text(text)


# Harmless in noauth mode, an admin in headers mode (start.sh's own probe sends the same).
PROBE = {"X-User-Id": "probe", "X-Project-Id": "probe", "X-Roles": "admin"}


@dataclass
class RunningNeutron:
    url: str
    home: Path = HOME

    @property
    def database_url(self) -> str:
        """Its database, as its ``[database] connection`` names it."""
        conf = (self.home / "etc" / "database.conf").read_text()
        return re.search(r"(?m)^connection = (.+)$", conf).group(1).strip()  # type: ignore[union-attr]

    def log_tail(self, chars: int = 4000) -> str:
        log = self.home / "neutron.log"
        return log.read_text(errors="replace")[-chars:] if log.exists() else ""


def install_stock() -> None:
    """The stock Neutron's home: the venv of ``install()`` (linked, not built
    twice) and the kit's configuration rendered there (Neutron's own IPAM)."""
    install()
    STOCK_HOME.mkdir(parents=True, exist_ok=True)
    venv = STOCK_HOME / "venv"
    if not venv.exists():
        venv.symlink_to(HOME / "venv")
    if not (STOCK_HOME / "etc" / "uwsgi.ini").exists():
        _run([str(KIT / "install.sh"), "--config-only"], _env(0, STOCK_HOME, STOCK_DB), timeout=300)


def stop(home: Path = HOME) -> None:
    subprocess.run([str(KIT / "stop.sh")], env=_env(0, home), capture_output=True, timeout=120)


@contextmanager
def neutron(
    port: int, *, reset: bool = True, stock: bool = False, auth_mode: str = "noauth", database: str | None = None
) -> Iterator[RunningNeutron]:
    """The kit's Neutron on 127.0.0.1:``port`` (a fresh database unless ``reset`` is False);
    ``stock``: the one of ``install_stock()``, with Neutron's own IPAM; ``auth_mode``:
    the kit's ``NEUTRON_AUTH_MODE`` (``headers``: X-User-Id / X-Project-Id / X-Roles, as behind Keystone)."""
    home, db = (STOCK_HOME, STOCK_DB) if stock else (HOME, DB_NAME)
    db = database or db
    stop(home)  # a previous run's, if any: start.sh would refuse another port
    env = {**_env(port, home, db), "NEUTRON_AUTH_MODE": auth_mode}
    if reset:
        env["NEUTRON_DB_RESET"] = "1"
    _run([str(KIT / "start.sh")], env, timeout=600)
    running = RunningNeutron(f"http://127.0.0.1:{port}", home)
    try:
        deadline = time.time() + 60
        while httpx.get(running.url + "/v2.0/networks", headers=PROBE, timeout=10).status_code != 200:
            if time.time() > deadline:
                raise RuntimeError(f"Neutron did not answer:\n{running.log_tail()}")
            time.sleep(0.5)
        yield running
    finally:
        stop(home)
