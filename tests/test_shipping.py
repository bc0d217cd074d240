"""What a deploy relies on: the committed bundle, pinned requirements, Procfile and Python version.

Each test is a mistake that killed a tutorial's deploy, checked before a push.
"""

import json
import os
import re
from importlib.metadata import distributions

from conftest import PROJECT
from formcast.bundle import PICKLED_DISTRIBUTIONS, load_bundle


def requirement_pins(path=PROJECT / "requirements.txt") -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):  # -r other.txt
            name, _, version = line.partition("==")
            assert version, f"{path.name}: {line!r} is not pinned with =="
            pins[name.strip().lower()] = version.strip()
    return pins


def test_the_committed_bundle_loads_as_a_fresh_clone_would_serve_it():
    bundle = load_bundle(PROJECT / "model")

    assert bundle.schema.target == "species"
    assert bundle.metadata["metrics"]["accuracy"] > 0.9


def test_requirements_pin_the_versions_the_committed_bundle_was_trained_with():
    pins = requirement_pins()
    trained_with = json.loads((PROJECT / "model" / "metadata.json").read_text())["versions"]

    assert {name: pins.get(name) for name in PICKLED_DISTRIBUTIONS} == \
           {name: trained_with[name] for name in PICKLED_DISTRIBUTIONS}


def python_version_lines() -> list[str]:
    """The lines of .python-version that are not comments, as the buildpack reads them."""
    return [line.strip() for line in (PROJECT / ".python-version").read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_the_committed_bundle_was_trained_under_the_python_the_platform_will_run():
    [wanted] = python_version_lines()
    trained = json.loads((PROJECT / "model" / "metadata.json").read_text())["versions"]["python"]

    assert trained.startswith(wanted + ".")


def test_python_version_names_a_version_heroku_supports_and_runtime_txt_is_gone():
    lines = python_version_lines()

    assert len(lines) == 1 and re.fullmatch(r"3\.(11|12|13|14)", lines[0])
    assert not (PROJECT / "runtime.txt").exists()  # deprecated, and it would win over .python-version


def test_the_server_the_procfile_names_is_in_requirements():
    web = next(line for line in (PROJECT / "Procfile").read_text().splitlines() if line.startswith("web:"))

    executable = web.removeprefix("web:").split()[0]
    assert executable in requirement_pins()
    assert "app:app" in web and (PROJECT / "app.py").is_file()


def test_exactly_one_package_manager_file():
    present = [name for name in ("requirements.txt", "Pipfile.lock", "poetry.lock", "uv.lock", "Pipfile")
               if (PROJECT / name).exists()]

    assert present == ["requirements.txt"]


def test_test_tools_stay_out_of_the_runtime_requirements():
    assert not {"pytest", "playwright", "hypothesis"} & set(requirement_pins())


def test_plotting_is_a_training_dependency_only():
    # The app serves the card's plots as files; a PaaS installs requirements.txt alone.
    assert "matplotlib" not in requirement_pins()
    assert "matplotlib" in requirement_pins(PROJECT / "requirements-train.txt")
    assert "-r requirements.txt" in (PROJECT / "requirements-train.txt").read_text()
    assert "-r requirements-train.txt" in (PROJECT / "requirements-dev.txt").read_text()


def test_the_two_readme_commands_exist_and_ci_runs_the_test_one():
    readme = (PROJECT / "README.md").read_text()
    for script in ("scripts/run", "scripts/test"):
        assert script in readme
        assert os.access(PROJECT / script, os.X_OK)
    assert "scripts/test" in (PROJECT / ".ci" / "run").read_text()


def test_every_installed_package_is_pinned_so_a_deploy_installs_the_same_set():

    def canonical(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    pinned = {canonical(name): version for name, version in
              {**requirement_pins(), **requirement_pins(PROJECT / "requirements-train.txt"),
               **requirement_pins(PROJECT / "requirements-dev.txt")}.items()}
    installed = {canonical(d.metadata["Name"]): d.version for d in distributions()}
    unpinned = {name: version for name, version in installed.items()
                if name not in pinned and name not in ("pip", "setuptools", "wheel")}

    assert unpinned == {}, ("pin these in requirements.txt (run time), requirements-train.txt (training) "
                            "or requirements-dev.txt (tests)")
    assert {name: installed.get(name) for name in pinned} == pinned
