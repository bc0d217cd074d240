"""How big the Heroku slug is: the app's files, requirements.txt installed, and the Python runtime.

Heroku refuses a slug over 500 MB compressed. This builds what the slug holds,
as the buildpack does (requirements.txt installed with bytecode, the files
.slugignore leaves), and prints each part's size, uncompressed and as a gzip'd
tar (the slug's own format), in MB:

    .venv/bin/python bench/slug_size.py

Takes a minute or two (the install). Needs nothing but the project's .venv.
"""

from __future__ import annotations

import io
import sys
import tarfile
import tempfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(PROJECT), str(PROJECT / "tests")]  # the tests' helpers, which build a slug

from platform_build import copy_files, directory_size, fresh_environment, slug_files  # noqa: E402

MB = 1024 * 1024


class CountingWriter(io.RawIOBase):
    """A file that only counts the bytes written to it."""

    def __init__(self):
        self.count = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.count += len(data)
        return len(data)


def compressed_size(*directories: Path) -> int:
    counter = CountingWriter()
    with tarfile.open(fileobj=counter, mode="w:gz", compresslevel=6) as archive:  # gzip's default level
        for directory in directories:
            archive.add(directory, arcname=directory.name)
    return counter.count


def runtime_directory(python: Path) -> Path:
    """The copied interpreter's prefix: the Python the buildpack puts in the slug."""
    return python.parent.parent


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="formcast-slug-") as scratch:
        root = Path(scratch)
        fresh = fresh_environment(root, compile_bytecode=True, copy_python=True)
        slug = copy_files(slug_files(), root / "slug")
        runtime = runtime_directory(Path(fresh.python))
        parts = {"app files (.slugignore applied)": slug, "requirements.txt installed": fresh.venv,
                 "Python runtime (stdlib, no tests)": runtime}
        print(f"{'part':40} {'uncompressed':>13} {'compressed':>11}")
        total_raw = total_packed = 0
        for name, directory in parts.items():
            raw, packed = directory_size(directory), compressed_size(directory)
            total_raw, total_packed = total_raw + raw, total_packed + packed
            print(f"{name:40} {raw / MB:10.1f} MB {packed / MB:8.1f} MB")
        print(f"{'total (Heroku limit: 500 MB compressed)':40} {total_raw / MB:10.1f} MB {total_packed / MB:8.1f} MB")


if __name__ == "__main__":
    main()
