"""The README runs as written.

Every fenced block in README.md is preceded by a marker saying how it is tested:

- ``<!-- readme-test: run session=a,b -->``: executed, in order, in each named
  session. A session is an empty directory (with ``examples/`` linked in, as in a
  clone) and its own ``$CLOUDEPLOY_HOME``; bash blocks run line by line (a line
  must exit 0), python blocks run as a script there. A ``cloudeploy emulator``
  or ``cloudeploy serve`` line is a server the reader starts in its own
  terminal: it is started in the background, waited for, and stopped with
  SIGTERM when the session ends (it must exit 0: the README promises a drain).
- ``<!-- readme-test: check — why -->``: not executed (it installs from the
  network, needs Terraform, bakes for minutes...). Its ``cloudeploy`` command
  lines must still parse (every command and option exists, values have the right
  type), python must compile, TOML must load as a cloudeploy profile file.

A block without a marker fails the test, so a new example has to say how it is
checked.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import click
import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
MARKER = re.compile(r"<!--\s*readme-test:\s*(?P<mode>run|check)(?P<rest>.*?)-->")
FENCE = re.compile(r"^```(?P<lang>\w*)\s*$")
SERVER_PREFIXES = ("cloudeploy emulator ", "cloudeploy serve ")


@dataclass(frozen=True)
class Block:
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    mode: str | None
    sessions: tuple[str, ...]


def readme_blocks() -> list[Block]:
    lines = README.read_text().splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        fence = FENCE.match(lines[index])
        if not fence:
            index += 1
            continue
        start = index
        end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("```"))
        previous = next((lines[i] for i in range(start - 1, -1, -1) if lines[i].strip()), "")
        marker = MARKER.search(previous)
        sessions: tuple[str, ...] = ()
        if marker and (found := re.search(r"session=([\w,-]+)", marker["rest"])):
            sessions = tuple(found[1].split(","))
        blocks.append(Block(start + 1, fence["lang"], "\n".join(lines[start + 1:end]),
                            marker["mode"] if marker else None, sessions))
        index = end + 1
    return blocks


def command_lines(text: str) -> list[str]:
    """Shell commands of a bash block: comments dropped, ``\\`` continuations joined."""
    commands, pending = [], ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        words = shlex.split(line, comments=True)
        if words:
            commands.append(shlex.join(words))
    return commands


BLOCKS = readme_blocks()
SESSIONS = sorted({name for block in BLOCKS if block.mode == "run" for name in block.sessions})


def test_every_block_says_how_it_is_tested():
    unmarked = [f"README.md:{block.line} ({block.lang or 'text'})" for block in BLOCKS if block.mode is None]
    assert not unmarked, f"blocks without a readme-test marker: {unmarked}"
    assert all(block.sessions for block in BLOCKS if block.mode == "run")
    assert {"python", "cli", "emulators"} <= set(SESSIONS)


# -- check blocks ---------------------------------------------------------------


def _parse_cloudeploy(words: list[str]) -> None:
    """Resolve ``cloudeploy ...`` to its command and parse its arguments, without running it."""
    from cloudeploy.cli import cli

    command: click.Command = cli
    context = click.Context(cli, info_name="cloudeploy")
    args = words[1:]
    while isinstance(command, click.Group):
        while args and args[0].startswith("-"):
            args = args[1:]  # group options (--profile ...) are not used in the README's checked blocks
        assert args, f"{shlex.join(words)!r} names no subcommand"
        sub = command.get_command(context, args[0])
        assert sub is not None, f"{shlex.join(words)!r}: no command {args[0]!r}"
        context = click.Context(sub, info_name=args[0], parent=context)
        command, args = sub, args[1:]
    command.make_context(context.info_name, list(args), parent=context.parent)


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.mode == "check"], ids=lambda b: f"line{b.line}")
def test_checked_block_is_well_formed(block: Block, tmp_path: Path):
    if block.lang == "python":
        compile(block.text, f"README.md:{block.line}", "exec")
    elif block.lang == "toml":
        check_profiles(block.text, tmp_path)
    elif block.lang == "bash":
        for command in command_lines(block.text):
            words = shlex.split(command)
            if words[0] == "cloudeploy":
                _parse_cloudeploy(words)
            else:
                assert words[0] in {"make", "pip", "terraform"}, f"unexpected command {command!r}"
                if words[0] == "make":
                    makefile = (ROOT / "Makefile").read_text()
                    assert re.search(rf"^{re.escape(words[1])}:", makefile, re.M), f"no make target {words[1]!r}"
    else:
        pytest.fail(f"README.md:{block.line}: no check for {block.lang!r} blocks")


def check_profiles(text: str, directory: Path) -> None:
    """Load every profile of ``text`` (a cloudeploy.toml) through cloudeploy's own loader."""
    from cloudeploy.config import load_profile
    from cloudeploy.providers import known_providers

    path = directory / "cloudeploy.toml"
    path.write_text(text)
    document = tomllib.loads(text)
    assert document["default_profile"] in document["profiles"]
    for name in document["profiles"]:
        assert load_profile(name, path=path).provider in known_providers()


# -- run blocks -----------------------------------------------------------------


class Session:
    """A reader's working directory: runs the README's blocks there, and stops its servers."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        (directory / "examples").symlink_to(ROOT / "examples", target_is_directory=True)
        bin_dir = str(Path(sys.executable).parent)
        self.env = {
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "CLOUDEPLOY_HOME": str(directory / ".cloudeploy"),
            "PYTHONUNBUFFERED": "1",
            "NO_COLOR": "1",
        }
        for name in ("CLOUDEPLOY_PROFILE", "CLOUDEPLOY_CONFIG"):
            self.env.pop(name, None)
        self.servers: list[tuple[str, subprocess.Popen]] = []

    def run_bash(self, block: Block) -> None:
        for command in command_lines(block.text):
            if command.startswith(SERVER_PREFIXES):
                self.start_server(command, block)
                continue
            done = subprocess.run(["bash", "-c", command], cwd=self.directory, env=self.env,
                                  capture_output=True, text=True, timeout=240)
            assert done.returncode == 0, (
                f"README.md:{block.line}: {command!r} exited {done.returncode}\n"
                f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
            )

    def run_python(self, block: Block) -> None:
        script = self.directory / f"readme_{block.line}.py"
        script.write_text(block.text + "\n")
        done = subprocess.run([sys.executable, script.name], cwd=self.directory, env=self.env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"README.md:{block.line} failed:\n{done.stderr[-4000:]}"

    def start_server(self, command: str, block: Block) -> None:
        words = shlex.split(command)
        port = None
        if words[1] == "serve" and "--port" in words:
            # The README's fixed port, swapped for a free one so parallel test runs do not collide.
            from cloudeploy.testing.vertex.runner import free_port

            port = free_port()
            words[words.index("--port") + 1] = str(port)
        process = subprocess.Popen(words, cwd=self.directory, env=self.env, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        self.servers.append((command, process))
        deadline = time.monotonic() + 120
        if words[1] == "emulator":
            self._wait_for_line(process, "Ctrl-C stops it", deadline, block)
        else:
            self._wait_for_health(process, port, deadline, block)

    def _wait_for_line(self, process: subprocess.Popen, text: str, deadline: float, block: Block) -> None:
        seen = []
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                break
            seen.append(line)
            if text in line:
                return
        pytest.fail(f"README.md:{block.line}: server never said {text!r}:\n{''.join(seen)[-3000:]}")

    def _wait_for_health(self, process: subprocess.Popen, port: int | None, deadline: float, block: Block) -> None:
        url = f"http://127.0.0.1:{port or 8080}/health"
        while time.monotonic() < deadline:
            assert process.poll() is None, f"README.md:{block.line}: server exited {process.returncode}"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        pytest.fail(f"README.md:{block.line}: {url} never became healthy")

    def close(self) -> dict[str, int | None]:
        """Delete the local endpoints the session made, then SIGTERM its servers; their exit codes."""
        subprocess.run(
            ["bash", "-c", "for ep in $(cloudeploy endpoints list --output json | "
             "python -c 'import json,sys; print(*[e[\"name\"] for e in json.load(sys.stdin)])'); "
             "do cloudeploy endpoints delete \"$ep\" --force >/dev/null; done"],
            cwd=self.directory, env=self.env, capture_output=True, timeout=120,
        )
        codes: dict[str, int | None] = {}
        for command, process in reversed(self.servers):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
            try:
                codes[command] = process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                codes[command] = process.wait()
        return codes


@pytest.mark.parametrize("session_name", SESSIONS)
def test_readme_session_runs_as_written(session_name: str, tmp_path: Path):
    session = Session(tmp_path)
    ran = []
    try:
        for block in BLOCKS:
            if block.mode != "run" or session_name not in block.sessions:
                continue
            if block.lang == "bash":
                session.run_bash(block)
            elif block.lang == "python":
                session.run_python(block)
            else:
                pytest.fail(f"README.md:{block.line}: cannot run a {block.lang!r} block")
            ran.append(block.line)
    finally:
        exit_codes = session.close()
    assert ran
    stopped_badly = {command: code for command, code in exit_codes.items() if code != 0}
    assert not stopped_badly, f"servers did not exit 0 on SIGTERM: {stopped_badly}"
