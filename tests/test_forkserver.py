"""`check --jobs` sandboxes forked by one fork server: each a real sandbox in a session of its own,
stopped alone, none left behind when the fork server or the harness goes (even by kill -9), and a
fresh interpreter where the fork server cannot fork."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import textwrap
from dataclasses import asdict
from pathlib import Path

import httpx
import pytest

from mock_server.settings import Settings
from mock_server.testing import ForkedChild, ForkServer, start_fork_server
from scenarios.jobs import JobSandbox

SETTINGS = Settings(port=0, seed=42, orders=3)


def _gone_within(pid: int, seconds: float) -> bool:
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], seconds)[0])
    finally:
        os.close(fd)


def test_forked_sandboxes_serve_apart_and_stop_apart() -> None:
    forks = start_fork_server()
    assert isinstance(forks, ForkServer)
    boxes = [JobSandbox(Settings(**asdict(SETTINGS)), f"job {i}", forks) for i in (1, 2)]
    try:
        for box in boxes:
            box.spawn()
        for box in boxes:
            box.wait_ready()
        assert all(isinstance(box.proc, ForkedChild) for box in boxes)
        pids = [box.pid for box in boxes]
        assert len(set(pids)) == 2 and forks.proc.pid not in pids
        for box in boxes:
            assert os.getpgid(box.pid) == box.pid  # a session of its own: the pool stops the whole group
            answer = httpx.get(f"{box.url}/_sandbox/locations", timeout=10)
            assert answer.status_code == 200 and len(answer.json()) >= 1
        assert boxes[0].url != boxes[1].url
        boxes[0].stop(5)
        assert boxes[0].proc is not None and boxes[0].proc.poll() is not None
        assert httpx.get(f"{boxes[1].url}/_sandbox/locations", timeout=10).status_code == 200
    finally:
        for box in boxes:
            box.stop(5)
        forks.close()
    assert forks.proc.returncode is not None


def test_the_fork_servers_sandboxes_end_with_it() -> None:
    forks = ForkServer()
    box = JobSandbox(Settings(**asdict(SETTINGS)), "job 1", forks)
    box.start()
    try:
        forks.close()  # the server exits when its socket closes; its children get SIGTERM
        assert _gone_within(box.pid, 15)
    finally:
        box.stop(5)


def test_a_request_without_a_pipe_is_refused_and_the_job_starts_a_fresh_interpreter() -> None:
    forks = ForkServer()
    try:
        forks.channel.send(json.dumps(asdict(SETTINGS)).encode())  # no pipe attached
        assert forks.channel.recv(8) == (0).to_bytes(8, "big")

        def refuse(_payload: str) -> ForkedChild:
            raise RuntimeError("the fork server could not fork a sandbox")

        forks.fork = refuse  # type: ignore[method-assign]
        box = JobSandbox(Settings(**asdict(SETTINGS)), "job 1", forks)
        box.start()
        try:
            assert isinstance(box.proc, subprocess.Popen)
            assert httpx.get(f"{box.url}/_sandbox/locations", timeout=10).status_code == 200
        finally:
            box.stop(5)
    finally:
        forks.close()


HARNESS = textwrap.dedent("""
    import sys, time
    from dataclasses import asdict
    from mock_server.settings import Settings
    from mock_server.testing import ForkServer
    from scenarios.jobs import JobSandbox
    box = JobSandbox(Settings(port=0, seed=42, orders=3), "job 1", ForkServer())
    box.start()
    print(box.pid, flush=True)
    time.sleep(120)
""")


def test_a_killed_harness_leaves_no_sandbox_behind(tmp_path: Path) -> None:
    script = tmp_path / "harness.py"
    script.write_text(HARNESS)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    harness = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert harness.stdout is not None
        sandbox_pid = int(harness.stdout.readline())
        assert not _gone_within(sandbox_pid, 0)
        harness.send_signal(signal.SIGKILL)
        harness.wait(10)
        assert _gone_within(sandbox_pid, 15)  # the fork server saw its socket close; its child got SIGTERM
    finally:
        if harness.poll() is None:
            harness.kill()


@pytest.mark.skipif(not hasattr(socket, "send_fds"), reason="no fd passing")
def test_the_check_process_does_not_import_the_app() -> None:
    probe = subprocess.run([sys.executable, "-c", "import sys, scenarios.cli, scenarios.jobs, scenarios.runner; "
                            "print('mock_server.app' in sys.modules)"], capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "False"


def test_prepared_keys_go_to_the_next_new_signer_only() -> None:
    from mock_server.store import Store
    from mock_server.webhooks import signing

    signing.prepare_keys()
    prepared = signing._prepared
    assert prepared is not None
    first = signing.Signer.load_or_create(Store(None, []))
    assert first.ed25519_key is prepared[0] and first.rsa_key is prepared[1]
    second = signing.Signer.load_or_create(Store(None, []))  # taken once: the next one generates its own
    assert second.rsa_public_pem != first.rsa_public_pem and second.ed25519_public_pem != first.ed25519_public_pem
    assert signing._prepared is None


def test_the_sandboxes_of_one_fork_server_sign_with_the_keys_it_prepared() -> None:
    forks = ForkServer()
    boxes = [JobSandbox(Settings(**asdict(SETTINGS)), f"job {i}", forks) for i in (1, 2)]
    try:
        for box in boxes:
            box.start()
        keys = [httpx.get(f"{box.url}/_sandbox/keys", timeout=10).json() for box in boxes]
        assert keys[0]["ed25519PublicKey"] == keys[1]["ed25519PublicKey"]
        assert keys[0]["rsaPublicKey"] == keys[1]["rsaPublicKey"]
    finally:
        for box in boxes:
            box.stop(5)
        forks.close()


def test_a_fork_server_that_is_gone_is_not_asked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    forks = ForkServer()
    try:
        forks.proc.kill()
        forks.proc.wait(10)
        with pytest.raises(RuntimeError):
            forks.fork(json.dumps(asdict(SETTINGS)))
        assert forks.broken
        asked: list[str] = []
        monkeypatch.setattr(socket, "send_fds", lambda *a: asked.append("sent"))
        with pytest.raises(RuntimeError, match="failed before"):
            forks.fork(json.dumps(asdict(SETTINGS)))
        assert asked == []
        monkeypatch.undo()
        box = JobSandbox(Settings(**asdict(SETTINGS)), "job 1", forks)
        box.start()
        try:
            assert isinstance(box.proc, subprocess.Popen)  # a fresh interpreter, at once
        finally:
            box.stop(5)
    finally:
        forks.close()


@pytest.mark.parametrize(("args", "expected"), [
    (["--client", "python c.py"], True),
    (["--jobs", "4"], True),
    (["--jobs=8", "--seed", "1"], True),
    (["--jobs", "1"], False),
    (["--jobs=1"], False),
    (["--client", "x", "--sandbox-url", "http://127.0.0.1:8080"], False),
    (["--sandbox-url=http://127.0.0.1:8080"], False),
    (["--help"], False),
])
def test_check_starts_a_fork_server_early_only_when_it_will_likely_run_jobs(args: list[str], expected: bool) -> None:
    from mock_server.cli import _runs_jobs

    assert _runs_jobs(args) is expected


@pytest.mark.skipif(not hasattr(socket, "send_fds"), reason="no fd passing")
def test_a_prestarted_fork_server_is_the_one_the_jobs_get_or_is_stopped() -> None:
    from mock_server import testing

    testing.prestart_fork_server()
    early = testing._prestarted
    assert early is not None
    testing.prestart_fork_server()  # asked twice: still one
    assert testing._prestarted is early
    taken = start_fork_server()
    assert taken is early and testing._prestarted is None
    try:
        child = taken.fork(json.dumps(asdict(SETTINGS)))
        os.kill(child.pid, signal.SIGTERM)
        child.wait(10)
    finally:
        taken.close()
    testing.prestart_fork_server()
    unused = testing._prestarted
    assert unused is not None
    testing.discard_prestarted_fork_server()
    assert testing._prestarted is None and _gone_within(unused.proc.pid, 10)
    again = start_fork_server()  # none prestarted: a new one
    assert again is not None and again is not unused
    again.close()


def test_a_serial_check_stops_the_fork_server_it_started_early(tmp_path: Path) -> None:
    """`check` prestarts a fork server when it guesses jobs; one scenario runs in process, so the fork
    server it started is stopped before the scenario runs, not left to the end."""
    probe = textwrap.dedent("""
        import sys
        from mock_server import testing
        from scenarios import cli
        seen = []
        real = cli.run_check
        def run_check(*args, **kwargs):
            seen.append(testing._prestarted is not None)
            return real(*args, **kwargs)
        cli.run_check = run_check
        original = testing.discard_prestarted_fork_server
        def discard():
            server = testing._prestarted
            original()
            seen.append(server is not None and server.proc.wait(10) is not None)
        testing.discard_prestarted_fork_server = discard
        sys.argv = ["ghl-sandbox", "check", "--client", "true", "--scenarios",
                    "scenarios/library/01_new_paid_order_synced.yaml", "--examples", "0"]
        from mock_server.cli import main
        try:
            main()
        except SystemExit:
            pass
        print(seen, flush=True)
    """)
    repo = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=repo, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(repo)})
    assert done.stdout.strip().splitlines()[-1] == "[True, True]", done.stdout + done.stderr


def test_listing_the_commands_starts_no_fork_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """`ghl-sandbox --help` asks for every command, `check` included, to list them: only a run of
    `check` starts a fork server early."""
    import click
    from click.testing import CliRunner

    from mock_server import testing
    from mock_server.cli import main

    started: list[list[str]] = []
    monkeypatch.setattr(testing, "prestart_fork_server", lambda: started.append(list(sys.argv)))
    monkeypatch.setattr(sys, "argv", ["ghl-sandbox", "--help"])
    assert CliRunner().invoke(main, ["--help"]).exit_code == 0
    assert started == []
    monkeypatch.setattr(sys, "argv", ["ghl-sandbox", "check", "--client", "true"])
    main.get_command(click.Context(main), "check")
    assert len(started) == 1
