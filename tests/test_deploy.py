"""Deploying: the build a PaaS does, the image's command as its user, and each platform file checked.

No Heroku, Docker engine or cluster runs here, so the tests do what they would do:
a fresh virtual environment from requirements.txt alone (made once for this
module), the slug that .slugignore leaves, the Procfile's web command with PORT
set; the build context that .dockerignore leaves, the Dockerfile's CMD with its
ENV, WORKDIR and USER. Static checks lint the Dockerfile (hadolint) and validate
the workflows, compose.yaml and the Kubernetes manifests against their schemas.
tests/test_shipping.py checks the pins, .python-version and the package-manager files.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import pytest
import yaml

from conftest import PENGUIN, PROJECT, procfile_web_command
from formcast.web import create_app
from platform_build import (PlatformServer, as_user, base_path, build_context_files, copy_files,
                            directory_size, dockerfile_stages, dockerignored, exec_form, fresh_environment,
                            image_environment, slug_files, slugignored, unprivileged_user, wanted_python)

TOOLS = Path(sys.executable).parent  # hadolint, check-jsonschema, kubernetes-validate (requirements-dev.txt)
MB = 1024 * 1024


def run_tool(*command: str | Path, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(TOOLS / command[0]), *map(str, command[1:])], capture_output=True, text=True,
                          timeout=120, **kwargs)


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def post_json(url: str, body) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def committed_model_id() -> str:
    """The id /health reports for the committed bundle: the first 12 hex digits of its sha256."""
    return json.loads((PROJECT / "model" / "metadata.json").read_text())["model_sha256"][:12]


# ---------------------------------------------------------------- the fresh environment, made once

@pytest.fixture(scope="module")
def platform_root():
    """A scratch root any user can read (a pytest tmp_path is private to its owner)."""
    root = Path(tempfile.mkdtemp(prefix="formcast-deploy-"))
    root.chmod(0o755)
    yield root
    # Tens of thousands of small files take long to delete on a busy disk; rm finishes
    # in the background rather than holding up the rest of the run.
    subprocess.Popen(["rm", "-rf", "--", str(root)], start_new_session=True,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def fresh(platform_root):
    """requirements.txt alone in a new venv, shared by the PaaS and the image test (the slow part)."""
    try:
        return fresh_environment(platform_root)
    except LookupError as reason:
        pytest.skip(str(reason))


@pytest.fixture(scope="module")
def slug(platform_root) -> Path:
    return copy_files(slug_files(), platform_root / "slug")


def platform_env(fresh, **settings: str) -> dict[str, str]:
    """The environment a platform gives the process: a PATH with the venv first, nothing of ours."""
    env = {"PATH": f"{fresh.venv / 'bin'}:{base_path()}", "LANG": "C.UTF-8", **settings}
    if fresh.library_path:
        env["LD_LIBRARY_PATH"] = fresh.library_path
    return env


def assert_serves_the_committed_model(server: PlatformServer) -> None:
    server.wait_until_ready()
    health = get_json(server.url + "/health")
    assert health["status"] == "ok"
    assert health["model"]["id"] == committed_model_id()
    assert post_json(server.url + "/predict", PENGUIN)["prediction"] == "Adelie"


# ---------------------------------------------------------------- PaaS: Heroku and the others that read a Procfile

@pytest.mark.deploy
@pytest.mark.server
def test_a_paas_build_serves_the_slug_with_the_procfile_web_command(fresh, slug):
    server = PlatformServer(procfile_web_command(), cwd=slug,
                            env=platform_env(fresh, HOME=str(slug), WEB_CONCURRENCY="2"))
    try:
        assert_serves_the_committed_model(server)
    finally:
        output = server.output()
    assert "Traceback" not in output, output


@pytest.mark.deploy
def test_the_procfile_names_what_requirements_txt_installs_and_a_module_attribute_that_imports(fresh, slug):
    processes = [line.partition(":") for line in (PROJECT / "Procfile").read_text().splitlines()
                 if line.strip() and not line.startswith("#")]
    for name, _, command in processes:
        executable = command.split()[0]
        assert (fresh.venv / "bin" / executable).is_file(), \
            f"Procfile {name}: {executable!r} is not installed by requirements.txt"

    [target] = [word for word in procfile_web_command()[1:] if ":" in word and not word.startswith("-")]
    module, attribute = target.split(":")
    imported = subprocess.run(
        [str(fresh.venv / "bin" / "python"), "-c",
         f"import {module}; app = {module}.{attribute}; print(type(app).__module__, type(app).__name__)"],
        cwd=slug, env=platform_env(fresh), capture_output=True, text=True, timeout=120)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.split() == ["flask.app", "Flask"]


@pytest.mark.deploy
def test_the_environment_and_the_model_stay_far_under_the_slug_limit(fresh, slug, capsys):
    venv_size, model_size, slug_size = (directory_size(fresh.venv), directory_size(slug / "model"),
                                        directory_size(slug))
    with capsys.disabled():
        print(f"\n  installed requirements.txt: {venv_size / MB:.0f} MB (no .pyc); model bundle: {model_size / MB:.3f} MB; "
              f"slug files: {slug_size / MB:.1f} MB; uncompressed (bench/slug_size.py measures the compressed slug)")

    # The limit is on the compressed slug (about 140 MB: bench/slug_size.py). Uncompressed,
    # without bytecode, these are about 300 MB: past 400, look before the slug outgrows it.
    assert venv_size + slug_size < 400 * MB
    assert model_size < 50 * MB


def test_the_slug_keeps_what_the_app_runs_on_and_drops_the_rest():
    shipped = set(slug_files())

    for needed in ("Procfile", "requirements.txt", ".python-version", "app.py", "gunicorn.conf.py",
                   "formcast/web/__init__.py", "model/metadata.json"):
        assert needed in shipped, f".slugignore removes {needed}, which the app needs"
    metadata = json.loads((PROJECT / "model" / "metadata.json").read_text())
    assert f"model/{metadata['model_file']}" in shipped
    assert not [path for path in shipped if path.startswith(("tests/", ".github/", "deploy/"))]
    assert "requirements-dev.txt" not in shipped


@pytest.mark.parametrize("path, pattern, by_heroku, by_docker", [
    ("tests/test_api.py", "/tests", True, True),          # anchored: the directory and all in it
    ("formcast/tests/x.py", "/tests", False, False),
    ("formcast/tests/x.py", "tests", True, False),        # .gitignore matches a name at any depth; Docker from the root
    ("formcast/web/__pycache__/api.pyc", "**/__pycache__", True, True),
    ("model/.staged-1/x", "model/.staged-*", True, True),
    ("model/metadata.json", "model/.staged-*", False, False),
    ("Dockerfile", "/Dockerfile", True, True),
])
def test_the_ignore_rules_read_as_heroku_and_docker_read_them(path, pattern, by_heroku, by_docker):
    assert (slugignored(path, [pattern]), dockerignored(path, [pattern])) == (by_heroku, by_docker)


def test_app_json_describes_each_setting_with_the_apps_own_defaults():
    manifest = json.loads((PROJECT / "app.json").read_text())
    readme = (PROJECT / "README.md").read_text()
    app = create_app({"MODEL_DIR": str(PROJECT / "model")})

    assert manifest["name"] and manifest["description"]
    assert manifest["buildpacks"] == [{"url": "heroku/python"}]
    assert set(manifest["formation"]) == {"web"}  # the Procfile's one process
    for name, setting in manifest["env"].items():
        assert setting["description"], f"app.json: {name} has no description"
        assert f"`{name}`" in readme, f"app.json sets {name}, which the README's configuration table does not list"
    assert int(manifest["env"]["FORMCAST_MAX_CONTENT_LENGTH"]["value"]) == app.config["MAX_CONTENT_LENGTH"]
    assert int(manifest["env"]["FORMCAST_MAX_RECORDS"]["value"]) == app.config["MAX_RECORDS"]
    assert "value" not in manifest["env"]["WEB_CONCURRENCY"]  # Heroku sets it from the dyno's memory
    assert "PORT" not in manifest["env"]  # the platform's to set


# ---------------------------------------------------------------- GitHub Actions

WORKFLOWS = sorted((PROJECT / ".github" / "workflows").glob("*.yml"))


def test_the_workflows_and_dependabot_config_are_valid():
    assert WORKFLOWS
    for workflow in WORKFLOWS:
        checked = run_tool("check-jsonschema", "--builtin-schema", "vendor.github-workflows", workflow)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    checked = run_tool("check-jsonschema", "--builtin-schema", "vendor.dependabot", PROJECT / ".github" / "dependabot.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_ci_runs_the_readme_test_command_under_python_version_then_deploys_main_after_it():
    ci = yaml.safe_load((PROJECT / ".github" / "workflows" / "ci.yml").read_text())
    triggers = ci[True]  # YAML 1.1 reads the key `on` as true
    test, deploy = ci["jobs"]["test"], ci["jobs"]["deploy"]

    assert {"push", "pull_request"} <= set(triggers)
    [setup] = [step for step in test["steps"] if step.get("uses", "").startswith("actions/setup-python@")]
    assert setup["with"]["python-version-file"] == ".python-version" and setup["with"]["cache"] == "pip"
    assert [step["run"] for step in test["steps"] if "run" in step][-1] == "scripts/test"
    assert set(deploy["needs"]) == {"test", "image"}
    assert any("docker build" in step.get("run", "") for step in ci["jobs"]["image"]["steps"])
    assert "refs/heads/main" in deploy["if"] and "push" in deploy["if"]
    assert "secrets.HEROKU_API_KEY" in deploy["env"]["HEROKU_API_KEY"]
    assert all("HEROKU_API_KEY != ''" in step["if"] for step in deploy["steps"] if "run" in step and "git push" in step["run"])


def test_setup_python_reads_the_same_one_version_as_the_buildpack():
    # actions/setup-python splits .python-version into lines, trims them and skips
    # empty and '#' lines (its __tests__/utils.test.ts); an inline comment would be kept.
    text = (PROJECT / ".python-version").read_text()
    versions = [line.strip() for line in re.split(r"\r\n|\r|\n", text)
                if line.strip() and not line.strip().startswith("#")]

    assert versions == [wanted_python()]
    assert re.fullmatch(r"\d+\.\d+", versions[0]), "no inline comment or extra words on the version line"


# ---------------------------------------------------------------- the container image

STAGES = dockerfile_stages()
FINAL = STAGES[-1]
BUILDER = next((stage for stage in STAGES if stage.name == "builder"), None)


def test_the_dockerfile_passes_hadolint_with_no_warnings():
    linted = run_tool("hadolint", PROJECT / "Dockerfile")

    assert (linted.returncode, linted.stdout + linted.stderr) == (0, "")


def test_the_base_image_is_slim_python_of_python_version_pinned_by_tag_and_digest():
    [base] = {stage.base for stage in STAGES if stage.base not in {s.name for s in STAGES}}
    image, _, digest = base.partition("@")
    tag = image.partition(":")[2]

    assert image.startswith("python:") and "-slim" in tag
    assert re.fullmatch(rf"{re.escape(wanted_python())}\.\d+-slim(-\w+)?", tag), f"{tag}: not the exact {wanted_python()}.x"
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest)


def test_the_image_builds_its_venv_first_and_copies_it_then_the_code():
    assert BUILDER is not None and len(STAGES) >= 2, "a multi-stage build: a builder stage, then the run stage"
    builder = [instruction for instruction, _ in BUILDER.instructions]
    assert BUILDER.all("COPY") == ["requirements.txt ."], "only the requirements before installing"
    assert builder.index("COPY") < builder.index("RUN")
    [install] = BUILDER.all("RUN")
    assert "python -m venv /opt/venv" in install and "-r requirements.txt" in install
    assert "--no-cache-dir" in install

    run = [f"{instruction} {arguments}" for instruction, arguments in FINAL.instructions]
    copy_venv = run.index("COPY --from=builder /opt/venv /opt/venv")
    copy_code = run.index("COPY . .")
    assert copy_venv < copy_code < run.index(f"USER {FINAL.last('USER')}")
    assert len(FINAL.all("RUN")) <= 1, "few layers"


def test_the_image_runs_gunicorn_itself_as_a_non_root_user_with_a_healthcheck_and_labels():
    uid, gid = unprivileged_user(FINAL.last("USER"))
    assert uid != 0 and gid != 0
    assert FINAL.last("ENTRYPOINT") is None
    assert exec_form(FINAL.last("CMD"))[0] == "gunicorn"  # exec form: gunicorn is PID 1, no shell between
    assert image_environment(FINAL, base_path())["PORT"] == "8000"  # an exec-form CMD expands no ${PORT:-8000}

    options, _, command = FINAL.last("HEALTHCHECK").partition("CMD ")
    healthcheck = exec_form(command)
    assert healthcheck[:2] == ["python", "-c"] and "urllib.request" in healthcheck[2] and "/health" in healthcheck[2]
    assert "--start-period" in options and "--timeout" in options

    labels = " ".join(FINAL.all("LABEL"))
    for label in ("title", "description", "source", "revision", "version"):
        assert f"org.opencontainers.image.{label}=" in labels


def test_the_build_context_bakes_the_model_in_and_leaves_the_rest_out():
    context = set(build_context_files())
    metadata = json.loads((PROJECT / "model" / "metadata.json").read_text())

    assert {"model/metadata.json", f"model/{metadata['model_file']}", "app.py", "gunicorn.conf.py",
            "requirements.txt", "formcast/web/__init__.py"} <= context
    assert not [path for path in context if path.startswith(("tests/", ".git/", ".venv/", "deploy/"))
                or "__pycache__" in path]


@pytest.mark.deploy
@pytest.mark.server
def test_the_image_command_serves_as_its_non_root_user(fresh, platform_root):
    # The run stage: the builder's venv (fresh made it as the builder's RUN does), the
    # context in WORKDIR, the ENV, then CMD as USER. The platform sets PORT, as Cloud Run does.
    workdir = platform_root / FINAL.last("WORKDIR").lstrip("/")
    copy_files(build_context_files(), workdir)
    env = image_environment(FINAL, base_path())
    env["PATH"] = ":".join(str(platform_root / entry.lstrip("/")) if (platform_root / entry.lstrip("/")).is_dir()
                           else entry for entry in env["PATH"].split(":"))
    # The user has no home: HOME is a directory it cannot write, as / is in the image.
    env.update(HOME=str(platform_root), LANG="C.UTF-8")
    if fresh.library_path:
        env["LD_LIBRARY_PATH"] = fresh.library_path
    try:
        user = as_user(*unprivileged_user(FINAL.last("USER")))
    except LookupError as reason:
        pytest.skip(str(reason))

    server = PlatformServer(exec_form(FINAL.last("CMD")), cwd=workdir, env=env, user_prefix=user)
    try:
        assert_serves_the_committed_model(server)
        whoami = subprocess.run([*user, "python", "-c", "import os; print(os.geteuid())"], env=env,
                                capture_output=True, text=True, timeout=30)
        assert whoami.stdout.strip() != "0"
        healthcheck = exec_form(FINAL.last("HEALTHCHECK").partition("CMD ")[2])
        checked = subprocess.run([*user, *healthcheck], env={**env, "PORT": str(server.port)},
                                 capture_output=True, text=True, timeout=30)
        assert checked.returncode == 0, checked.stderr
    finally:
        output = server.output()
    assert "Traceback" not in output, output
    # Once the server is gone, the same HEALTHCHECK reports it.
    assert subprocess.run([*user, *healthcheck], env={**env, "PORT": str(server.port)},
                          capture_output=True, timeout=30).returncode != 0


# ---------------------------------------------------------------- Compose and Swarm

def test_compose_yaml_is_valid_and_defines_a_swarm_service_that_rolls_back():
    checked = run_tool("check-jsonschema", "--builtin-schema", "vendor.compose-spec", PROJECT / "compose.yaml")
    assert checked.returncode == 0, checked.stdout + checked.stderr

    web = yaml.safe_load((PROJECT / "compose.yaml").read_text())["services"]["web"]
    deploy = web["deploy"]
    assert deploy["replicas"] >= 2
    assert deploy["update_config"]["failure_action"] == "rollback" and "rollback_config" in deploy
    assert {"limits", "reservations"} <= set(deploy["resources"])
    assert web["healthcheck"]["test"] == ["CMD", *exec_form(FINAL.last("HEALTHCHECK").partition("CMD ")[2])]
    assert web["environment"]["PORT"] == image_environment(FINAL, base_path())["PORT"]


# ---------------------------------------------------------------- Kubernetes

MANIFESTS = sorted((PROJECT / "deploy" / "kubernetes").glob("*.yaml"))


def manifest(kind: str) -> dict:
    [found] = [document for path in MANIFESTS for document in yaml.safe_load_all(path.read_text())
               if document and document["kind"] == kind]
    return found


def test_the_kubernetes_manifests_are_valid():
    checked = run_tool("kubernetes-validate", "--strict", "--quiet", *MANIFESTS)

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert {"Deployment", "Service", "HorizontalPodAutoscaler"} <= {
        document["kind"] for path in MANIFESTS for document in yaml.safe_load_all(path.read_text()) if document}


def test_the_deployment_probes_health_limits_resources_and_runs_as_the_images_user():
    deployment, service, autoscaler = manifest("Deployment"), manifest("Service"), manifest("HorizontalPodAutoscaler")
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]

    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/health"
    assert {"cpu", "memory"} <= set(container["resources"]["requests"]) and "memory" in container["resources"]["limits"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == \
           unprivileged_user(FINAL.last("USER"))
    assert container["ports"][0]["containerPort"] == int(image_environment(FINAL, base_path())["PORT"])
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert autoscaler["apiVersion"] == "autoscaling/v2"
    assert autoscaler["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]


# ---------------------------------------------------------------- the checkers catch mistakes

@pytest.mark.parametrize("tool, arguments, name, broken", [
    ("hadolint", [], "Dockerfile", "FROM python:latest\nRUN pip install flask\nCMD gunicorn app:app\n"),
    ("check-jsonschema", ["--builtin-schema", "vendor.compose-spec"], "compose.yaml",
     "services:\n  web:\n    image: formcast\n    deploy:\n      replica: 3\n"),
    ("check-jsonschema", ["--builtin-schema", "vendor.github-workflows"], "ci.yml",
     "on: push\njobs:\n  test:\n    steps:\n      - run: scripts/test\n"),
    ("kubernetes-validate", ["--strict", "--quiet"], "deployment.yaml",
     "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  replica: 2\n"),
], ids=["hadolint", "compose", "workflow", "kubernetes"])
def test_each_checker_refuses_a_typical_mistake(tmp_path, tool, arguments, name, broken):
    path = tmp_path / name
    path.write_text(broken)

    assert run_tool(tool, *arguments, path).returncode != 0
