# Sourced by scripts/run and scripts/test: make .venv hold exactly what a requirements file pins.
#
#   ensure_venv requirements.txt        # the app
#   ensure_venv requirements-train.txt  # the app and train.py (matplotlib for the model card)
#   ensure_venv requirements-dev.txt    # the app and the test tools
#
# Creates .venv with the first Python 3 it finds (pyenv honours .python-version) and
# reinstalls only when the requirements files changed since the last install.

ensure_venv() {
  local requirements=$1 python
  python=$(command -v python3 || command -v python || true)
  if [ -z "$python" ]; then
    echo "formcast: Python 3.11 or newer is needed; install it from https://www.python.org/downloads/" >&2
    exit 1
  fi
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "formcast: Python 3.11 or newer is needed; $python is $("$python" --version 2>&1)" >&2
    exit 1
  fi
  if [ ! -x .venv/bin/python ]; then
    echo "Creating .venv with $("$python" --version 2>&1)"
    "$python" -m venv .venv || {
      echo "formcast: could not create a virtual environment; on Debian or Ubuntu: apt-get install python3-venv" >&2
      exit 1
    }
  fi
  # The stamp is the hash of every requirements file: a changed pin means a reinstall.
  local stamp=.venv/.formcast-requirements wanted
  wanted=$(.venv/bin/python -c 'import hashlib, pathlib, sys; print(hashlib.sha256(b"".join(pathlib.Path(f).read_bytes() for f in sorted(sys.argv[1:]))).hexdigest())' requirements*.txt)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted:$requirements" ]; then
    echo "Installing $requirements into .venv"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$requirements"
    echo "$wanted:$requirements" > "$stamp"
  fi
}
