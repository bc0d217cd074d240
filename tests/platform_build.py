"""What a PaaS build and a container build do, done here without Heroku or Docker.

- ``slug_files()``: the project's files as a fresh checkout has them, less what
  ``.slugignore`` names (Heroku deletes those before the build).
- ``build_context_files()``: the files ``docker build .`` sends, as ``.dockerignore`` filters them.
- ``Dockerfile``: the instructions of the Dockerfile, by stage, for the test to follow.
- ``fresh_environment()``: an interpreter of ``.python-version``'s minor that an
  unprivileged user can run, and a new virtual environment with ``requirements.txt``
  alone installed in it, as the buildpack and the Dockerfile's builder stage make one.
- ``PlatformServer``: a command run as a platform runs it (its own working directory,
  environment and user), watched like ``LiveServer``.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from conftest import PROJECT, LiveServer, free_port

# ---------------------------------------------------------------- which files ship

def project_files() -> list[str]:
    """Every file a fresh checkout would have: tracked, plus new files git does not ignore."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=PROJECT, capture_output=True, check=True).stdout.decode()
    return sorted({path for path in listed.split("\0") if path and (PROJECT / path).is_file()})


def _ignore_lines(name: str) -> list[str]:
    lines = (PROJECT / name).read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _prefixes(path: str) -> list[tuple[str, bool]]:
    """``a/b/c.txt`` -> ``[("a", True), ("a/b", True), ("a/b/c.txt", False)]`` (path, is a directory)."""
    parts = path.split("/")
    return [("/".join(parts[:i]), i < len(parts)) for i in range(1, len(parts) + 1)]


def slugignored(path: str, patterns: list[str]) -> bool:
    """Whether Heroku's .slugignore removes ``path``: .gitignore rules without ``!``.

    A pattern with a slash (other than a trailing one) is anchored at the root;
    one without matches a name at any depth; a trailing slash matches directories only.
    """
    for pattern in patterns:
        assert not pattern.startswith("!"), ".slugignore does not support ! patterns"
        directories_only = pattern.endswith("/")
        anchored = "/" in pattern.rstrip("/")
        pattern = pattern.strip("/")
        for prefix, is_directory in _prefixes(path):
            if directories_only and not is_directory:
                continue
            subject = prefix if anchored else prefix.rsplit("/", 1)[-1]
            if fnmatch.fnmatchcase(subject, pattern):
                return True
    return False


def _docker_pattern(pattern: str) -> re.Pattern:
    """Docker's .dockerignore pattern (Go's filepath.Match, plus ``**``) as a regular expression."""
    regex, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            regex, i = regex + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            regex, i = regex + ".*", i + 2
        elif pattern[i] == "*":
            regex, i = regex + "[^/]*", i + 1
        elif pattern[i] == "?":
            regex, i = regex + "[^/]", i + 1
        else:
            regex, i = regex + re.escape(pattern[i]), i + 1
    return re.compile(regex)


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Whether ``docker build`` leaves ``path`` out of the context.

    Patterns are relative to the context's root; a pattern that matches a directory
    leaves out everything in it; ``!`` brings a path back; the last match wins.
    """
    excluded = False
    for pattern in patterns:
        keep = pattern.startswith("!")
        regex = _docker_pattern(os.path.normpath(pattern.lstrip("!").strip()).lstrip("/"))
        if any(regex.fullmatch(prefix) for prefix, _ in _prefixes(path)):
            excluded = not keep
    return excluded


def slug_files() -> list[str]:
    patterns = _ignore_lines(".slugignore")
    return [path for path in project_files() if not slugignored(path, patterns)]


def build_context_files() -> list[str]:
    patterns = _ignore_lines(".dockerignore")
    return [path for path in project_files() if not dockerignored(path, patterns)]


def copy_files(paths: list[str], destination: Path) -> Path:
    for path in paths:
        target = destination / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PROJECT / path, target)
    return destination


def directory_size(path: Path) -> int:
    """Bytes in the files under ``path`` (as ``du --apparent-size`` counts them, links once)."""
    return sum(entry.stat().st_size for entry in path.rglob("*") if entry.is_file() and not entry.is_symlink())


# ---------------------------------------------------------------- the Dockerfile

@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [arguments for instruction, arguments in self.instructions if instruction == keyword]

    def last(self, keyword: str) -> str | None:
        found = self.all(keyword)
        return found[-1] if found else None


def dockerfile_stages(path: Path = PROJECT / "Dockerfile") -> list[Stage]:
    """The Dockerfile's stages in order, each with its instructions (continuations joined)."""
    logical, pending = [], ""
    for line in path.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.lstrip().startswith("#"):  # a comment inside a continued instruction
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
        else:
            logical.append(pending + line)
            pending = ""
    stages: list[Stage] = []
    for line in logical:
        instruction, _, arguments = line.strip().partition(" ")
        instruction, arguments = instruction.upper(), arguments.strip()
        if instruction == "FROM":
            words = arguments.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
        else:
            stages[-1].instructions.append((instruction, arguments))
    return stages


def exec_form(arguments: str) -> list[str]:
    """The JSON array of an exec-form CMD, ENTRYPOINT or HEALTHCHECK CMD."""
    command = json.loads(arguments)
    assert isinstance(command, list) and all(isinstance(word, str) for word in command), \
        f"not an exec-form command: {arguments}"
    return command


def image_environment(stage: Stage, base_path: str) -> dict[str, str]:
    """The ENV of a stage, with ``$NAME`` expanded as Docker does (``base_path`` is the base image's PATH)."""
    environment = {"PATH": base_path}
    for arguments in stage.all("ENV"):
        for assignment in shlex.split(arguments):
            name, _, value = assignment.partition("=")
            environment[name] = re.sub(r"\$\{?(\w+)\}?", lambda m: environment.get(m.group(1), ""), value)
    return environment


# ---------------------------------------------------------------- the Python and the environment

def wanted_python() -> str:
    """The one version line of .python-version (comments skipped, as the buildpack and setup-python do)."""
    [version] = [line.strip() for line in (PROJECT / ".python-version").read_text().splitlines()
                 if line.strip() and not line.lstrip().startswith("#")]
    return version


def _interpreter_of(minor: str) -> dict | None:
    """Facts about an installed Python of that minor version: this one, or ``pythonX.Y`` on PATH."""
    candidates = [sys.executable] if f"{sys.version_info[0]}.{sys.version_info[1]}" == minor else []
    candidates += [found for found in [shutil.which(f"python{minor}")] if found]
    probe = ("import json, sys, sysconfig; print(json.dumps({'prefix': sys.base_prefix, "
             "'version': '%d.%d' % sys.version_info[:2], 'shared': bool(sysconfig.get_config_var('Py_ENABLE_SHARED')),"
             "'ldlibrary': sysconfig.get_config_var('LDLIBRARY') or '', 'libdir': sysconfig.get_config_var('LIBDIR') or ''}))")
    for candidate in candidates:
        answer = subprocess.run([candidate, "-c", probe], capture_output=True, text=True)
        if answer.returncode == 0:
            facts = json.loads(answer.stdout)
            if facts["version"] == minor:
                return facts
    return None


def _world_readable(path: Path) -> bool:
    """Whether any user can reach ``path``: every directory above it lets others pass."""
    return all(parent.stat().st_mode & 0o001 for parent in [path, *path.parents] if parent.is_dir())


def _copy_interpreter(facts: dict, destination: Path) -> Path:
    """A copy of the interpreter and its standard library that any user can run.

    pyenv run as root keeps its Pythons in root's home, which only root may enter; the
    python image keeps its Python in /usr/local, readable by all. The copy is the
    same build, placed where the unprivileged user can read it.
    """
    prefix, minor = Path(facts["prefix"]), facts["version"]
    (destination / "bin").mkdir(parents=True)
    shutil.copy2(prefix / "bin" / f"python{minor}", destination / "bin" / f"python{minor}")
    (destination / "bin" / "python3").symlink_to(f"python{minor}")
    shutil.copytree(prefix / "lib" / f"python{minor}", destination / "lib" / f"python{minor}", symlinks=True,
                    ignore=shutil.ignore_patterns("test", "__pycache__", "idlelib", "tkinter", "turtledemo",
                                                  "config-*", "site-packages"))
    (destination / "lib" / f"python{minor}" / "site-packages").mkdir()
    if facts["shared"]:
        for library in Path(facts["libdir"]).glob(facts["ldlibrary"] + "*"):
            shutil.copy2(library, destination / "lib" / library.name, follow_symlinks=True)
    return destination


@dataclass
class FreshEnvironment:
    python: Path           # the interpreter the venv was made from
    venv: Path             # the virtual environment with requirements.txt installed
    library_path: str      # LD_LIBRARY_PATH for a shared-library build copied out of its prefix ("" if none)
    install_output: str


def fresh_environment(root: Path, *, compile_bytecode: bool = False, copy_python: bool = False) -> FreshEnvironment:
    """Make ``root/opt/venv`` as the Dockerfile's builder stage does, from requirements.txt alone.

    ``compile_bytecode`` writes the .pyc files as pip and the buildpack do by default;
    ``copy_python`` copies the interpreter into ``root/python`` even when it is readable.
    Raises ``LookupError`` (the caller skips) when no Python of .python-version's minor is installed.
    """
    minor = wanted_python()
    facts = _interpreter_of(minor)
    if facts is None:
        raise LookupError(f"no Python {minor} (named in .python-version) is installed here")
    prefix, library_path = Path(facts["prefix"]), ""
    if copy_python or not _world_readable(prefix / "lib" / f"python{minor}"):
        prefix = _copy_interpreter(facts, root / "python")
        # In the image the shared libpython is in /usr/local/lib, where the loader looks by
        # default; the copy's lib/ is not, and its build's RUNPATH points at the original.
        library_path = str(prefix / "lib") if facts["shared"] else ""
    python = prefix / "bin" / f"python{minor}"
    environment = {**os.environ, "LD_LIBRARY_PATH": library_path} if library_path else dict(os.environ)
    venv = root / "opt" / "venv"
    subprocess.run([str(python), "-m", "venv", str(venv)], env=environment, check=True, capture_output=True)
    # --no-compile in the tests: byte-compiling scipy, pandas and scikit-learn is half the
    # install's time here and changes nothing they look at (bench/slug_size.py compiles).
    install = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check",
                              *([] if compile_bytecode else ["--no-compile"]), "-r", str(PROJECT / "requirements.txt")],
                             env=environment, capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, f"pip install -r requirements.txt failed:\n{install.stdout}\n{install.stderr}"
    return FreshEnvironment(python=python, venv=venv, library_path=library_path, install_output=install.stdout)


def unprivileged_user(user: str) -> tuple[int, int]:
    """The uid and gid of a Dockerfile ``USER uid[:gid]`` (numeric: what runAsNonRoot can check)."""
    uid, _, gid = user.partition(":")
    assert uid.isdigit(), f"USER {user}: use a numeric id, so that Kubernetes can verify runAsNonRoot"
    return int(uid), int(gid or uid)


def as_user(uid: int, gid: int) -> list[str]:
    """The command prefix that runs a process as that user: none needed unless we are root."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise LookupError("running as root without setpriv (util-linux): cannot drop to the image's user")
    return [setpriv, f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--"]


# ---------------------------------------------------------------- running it

class PlatformServer(LiveServer):
    """A server started as a platform starts it: its command, directory, environment and user.

    The platform sets PORT; readiness is gunicorn saying it listens on 0.0.0.0:PORT
    and /health answering, as in ``LiveServer``.
    """

    def __init__(self, command: list[str], cwd: Path, env: dict[str, str], user_prefix: list[str] = ()):
        self.command, self.cwd, self.env, self.user_prefix = command, cwd, env, list(user_prefix)
        self._start()

    def _start(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen([*self.user_prefix, *self.command], cwd=self.cwd,
                                        env={**self.env, "PORT": str(self.port)},
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self._lines: list[str] = []
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()


def base_path() -> str:
    """The PATH of a plain Debian system: the python image's, less its /usr/local (ours is not there)."""
    return "/usr/sbin:/usr/bin:/sbin:/bin"
