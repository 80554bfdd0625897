"""apitwin as users install it: the built wheel in a fresh virtualenv outside the source tree.

`make test` runs the project from an editable install, which hides anything the wheel lacks (a subpackage
left out of the package list, a spec not shipped). These tests build the wheel the way the Dockerfile does
(`pip wheel --no-deps`, then `pip install -c constraints.txt` of it), and run the commands from a folder that
is not the checkout, so nothing can be imported or read from the source tree by accident.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
# A pin the user's project already has, older than our lock: the package must install beside it.
USER_CLICK = "click==8.1.7"
LOCAL_STATE = (".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".apitwin", "reports")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # From a copy of the sources: setuptools would reuse a stale build/ folder left in the checkout.
    source = tmp_path_factory.mktemp("source") / "apitwin"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*LOCAL_STATE))
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(source)], cwd=out)
    [built] = out.glob("apitwin-*.whl")
    return built


def _new_venv(folder: Path) -> Path:
    venv.EnvBuilder(with_pip=True, clear=True).create(folder)
    return folder / "bin"


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # No PYTHONPATH or virtualenv of ours leaks into the user's environment.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{' '.join(command)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Dockerfile's install: the wheel, with its Redis extra, and the exact lock. Returns the venv's bin folder."""
    home = tmp_path_factory.mktemp("user")
    bin_dir = _new_venv(home / "venv")
    _run([str(bin_dir / "pip"), "install", "--quiet", "-c", str(ROOT / "constraints.txt"), f"{wheel}[redis]"], cwd=home)
    return bin_dir


def test_wheel_carries_every_package_of_the_source_tree(wheel: Path) -> None:
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    for init in (ROOT / "src").rglob("__init__.py"):
        assert init.relative_to(ROOT / "src").as_posix() in names
    for spec in (ROOT / "specs").rglob("*.yaml"):
        assert f"apitwin/_specs/{spec.relative_to(ROOT / 'specs').as_posix()}" in names
    for fixture in (ROOT / "fixtures").rglob("*.json"):
        assert f"apitwin/_fixtures/{fixture.relative_to(ROOT / 'fixtures').as_posix()}" in names


def test_installed_command_reports_its_version_and_lints_its_own_specs(installed: Path, tmp_path: Path) -> None:
    version = _run([str(installed / "apitwin"), "--version"], cwd=tmp_path)
    assert re.search(r"\d+\.\d+\.\d+", version.stdout)
    assert "Warning" not in version.stderr, version.stderr  # a user's every command would print it
    lint = _run([str(installed / "apitwin"), "lint"], cwd=tmp_path)
    assert "no problems" in lint.stdout
    # The specs it read are the wheel's, not the checkout's.
    where = _run([str(installed / "python"), "-c", "import apitwin.spec as s; print(s.SPECS_DIR)"], cwd=tmp_path)
    assert "site-packages" in where.stdout and str(ROOT) not in where.stdout


def test_installed_serve_answers_every_twin(installed: Path, tmp_path: Path) -> None:
    command = [str(installed / "apitwin"), "serve", "--port", "0", "--data", str(tmp_path / "db.json")]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        origin = None
        deadline = time.monotonic() + 60
        while origin is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                raise AssertionError("apitwin serve exited early")
            match = re.search(r"(http://[^/\s]+)/datascaphe/api/v1", line)
            origin = match.group(1) if match else None
        assert origin, "apitwin serve printed no base URL"
        index = httpx.get(f"{origin}/", timeout=10).json()
        assert {twin["name"] for twin in index["twins"]} == {
            "datascaphe",
            "datascale",
            "dataiku",
            "opendatasoft",
            "huwise",
        }
        for twin in index["twins"]:
            header, _, value = twin["send_as"].partition(":")
            spec = httpx.get(twin["spec_url"], timeout=10)
            assert spec.status_code == 200 and spec.json()["paths"]
            # an authenticated read of each twin's state, seeded from the wheel's fixtures
            paths = {"datascaphe": "/service-principal", "datascale": None, "dataiku": "/projects/"}
            path = paths.get(twin["name"], "/datasets/")  # the Automation API twins on specs/common/
            if path:
                answer = httpx.get(twin["base_url"] + path, headers={header: value.strip()}, timeout=10)
                assert answer.status_code == 200 and answer.json(), (twin["name"], answer.text)
        assert (tmp_path / "db.json").exists()
    finally:
        process.kill()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def test_installed_check_runs_schemathesis_against_a_twin(installed: Path, tmp_path: Path) -> None:
    result = _run([str(installed / "apitwin"), "check", "--api", "datascale", "--max-examples", "5"], cwd=tmp_path)
    assert "passed" in result.stdout
    assert not list(tmp_path.iterdir()), "check left files in the working directory"


def test_installed_fixtures_never_write_into_site_packages(installed: Path, tmp_path: Path) -> None:
    refused = subprocess.run(
        [str(installed / "apitwin"), "fixtures"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert refused.returncode == 2 and "--out" in refused.stderr
    _run([str(installed / "apitwin"), "fixtures", "--out", str(tmp_path / "mine"), "datascale"], cwd=tmp_path)
    assert json.loads((tmp_path / "mine" / "datascale.json").read_text())["credentials"]


PLUGIN_TEST = """
import httpx


def test_a_fresh_twin_per_test(apitwin):
    twin = apitwin("datascaphe")
    answer = httpx.get(f"{twin.base_url}/service-principal", headers=twin.headers)
    assert answer.status_code == 200 and answer.json()
"""


def test_plugin_installs_beside_the_users_own_pins_and_serves_their_tests(wheel: Path, tmp_path: Path) -> None:
    """The README's plugin install, in a project that already pins an older click than our lock."""
    bin_dir = _new_venv(tmp_path / "venv")
    # The lock minus the user's own pin: what the user's project resolves to, without depending on whatever the
    # registry serves today.
    lock = [line for line in (ROOT / "constraints.txt").read_text().splitlines() if not line.startswith("click==")]
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("\n".join(lock) + "\n")
    pip = str(bin_dir / "pip")
    _run([pip, "install", "--quiet", "-c", str(constraints), USER_CLICK, "pytest"], cwd=tmp_path)
    _run([pip, "install", "--quiet", "-c", str(constraints), str(wheel)], cwd=tmp_path)
    frozen = _run([pip, "freeze"], cwd=tmp_path).stdout.lower().splitlines()
    assert USER_CLICK in frozen, "installing apitwin changed the user's own pin"
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_client.py").write_text(PLUGIN_TEST)
    result = _run([str(bin_dir / "pytest"), "-q", "-p", "no:cacheprovider"], cwd=project)
    assert "1 passed" in result.stdout
