"""`python -m seq2bert.lab`: the real server starts headless on 127.0.0.1 and serves START.ipynb."""
from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import nbformat
import pytest

from seq2bert import lab

REPO = Path(__file__).resolve().parents[1]
STARTUP_LIMIT = 90  # seconds the server may take to answer


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _get(url: str, token: str, follow: bool = True) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    opener = urllib.request.build_opener() if follow else urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def _minimal_course(root: Path) -> Path:
    (root / "course").mkdir(parents=True)
    (root / "quizzes").mkdir()
    start = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
        "# Start here\n\n- [PyTorch](notebooks/pytorch/01_seq2seq.ipynb)\n"
        "- [TensorFlow](notebooks/tensorflow/01_seq2seq.ipynb)\n")])
    nbformat.write(start, str(root / "START.ipynb"))
    return root


@pytest.fixture(scope="module", params=["temporary course", "real repo"])
def server(request, tmp_path_factory):
    """A lab server started by `python -m seq2bert.lab`; always stopped with its process group."""
    tmp_path = tmp_path_factory.mktemp("lab")
    if request.param == "real repo":
        if not (REPO / "START.ipynb").is_file():
            pytest.skip("START.ipynb not built yet")
        root = REPO
    else:
        root = _minimal_course(tmp_path / "course")
    port, token = _free_port(), secrets.token_hex(16)
    jupyter = tmp_path / "jupyter"  # keep runtime files and settings out of the user's home
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(jupyter / "runtime"), JUPYTER_CONFIG_DIR=str(jupyter / "config"),
               JUPYTERLAB_WORKSPACES_DIR=str(jupyter / "workspaces"), OMP_WAIT_POLICY="PASSIVE")
    log = (tmp_path / "lab.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "seq2bert.lab", "--no-browser", "--ip", "127.0.0.1",
                                "--port", str(port), "--token", token, "--course", str(root)],
                               stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                               start_new_session=True)

    def stop() -> None:
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            try:
                process.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        log.close()

    request.addfinalizer(stop)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_LIMIT
    while True:
        if process.poll() is not None:
            pytest.fail(f"the lab exited with {process.returncode}: {(tmp_path / 'lab.log').read_text()[-2000:]}")
        try:
            if _get(f"{base}/api/status", token)[0] == 200:
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"the lab did not answer within {STARTUP_LIMIT} s")
        time.sleep(0.5)
    return base, token


def test_start_page_is_served_and_links_both_frameworks(server):
    base, token = server
    status, _, page = _get(f"{base}/lab/tree/START.ipynb", token)
    assert status == 200 and b"JupyterLab" in page
    status, headers, _ = _get(f"{base}/", token, follow=False)
    assert status == 302 and urllib.parse.urlsplit(headers["Location"]).path == "/lab/tree/START.ipynb"
    status, _, body = _get(f"{base}/api/contents/START.ipynb", token)
    assert status == 200
    model = json.loads(body)
    text = "".join("".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
                   for cell in model["content"]["cells"])
    assert "notebooks/pytorch/" in text and "notebooks/tensorflow/" in text


def test_api_refuses_requests_without_the_token(server):
    base, _ = server
    status, _, _ = _get(f"{base}/api/contents/START.ipynb", "wrong-token")
    assert status == 403


def test_command_line(tmp_path):
    root = _minimal_course(tmp_path / "course")
    command = lab.lab_command(root, port=9999, open_browser=False, token="t")
    assert command[:3] == [sys.executable, "-m", "jupyterlab"]
    assert f"--ServerApp.root_dir={root}" in command and "--LabApp.default_url=/lab/tree/START.ipynb" in command
    assert {"--ServerApp.ip=127.0.0.1", "--ServerApp.port=9999", "--no-browser", "--IdentityProvider.token=t"} <= set(command)
    (root / "START.ipynb").unlink()
    assert "--LabApp.default_url=/lab" in lab.lab_command(root)


def test_bad_arguments(tmp_path):
    result = subprocess.run([sys.executable, "-m", "seq2bert.lab", "--port", "70000"], capture_output=True, text=True)
    assert result.returncode == 2 and "between 1 and 65535" in result.stderr
    result = subprocess.run([sys.executable, "-m", "seq2bert.lab", "--course", str(tmp_path / "nope")],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "no such folder" in result.stderr and "Traceback" not in result.stderr
