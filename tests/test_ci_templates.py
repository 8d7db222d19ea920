"""The CI templates in examples/ci/ and the pre-commit hook: their structure, the hfops command lines
they use (every subcommand, flag and value checked against the real CLI), and their own shell steps
run against the emulator as a pipeline would run them.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from click.testing import CliRunner
from huggingface_hub import HfApi

from hfops.cli import cli
from hfops.core.manifest import load_manifests

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
GITHUB = EXAMPLES / "ci" / "github-actions.yml"
GITLAB = EXAMPLES / "ci" / "gitlab-ci.yml"
HOOKS = ROOT / ".pre-commit-hooks.yaml"
BIN = Path(sys.executable).parent  # the environment's `hfops` and `python`, as `pip install` puts them
TOKEN = "hf_test_deploy_token_0123456789"  # what the hf_env fixture exports as HF_TOKEN
GENSTUDIO_KEY = "hf_genstudio_ci_key_0123456789"
GITLAB_JOBS = ("hfops-validate", "hfops-plan", "hfops-apply", "hfops-drift")
N = len(load_manifests([str(EXAMPLES)]).specs)  # endpoints in the shipped examples (3 today)


def load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    return workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` key as true


def steps(workflow: dict[Any, Any], job: str) -> list[dict[str, Any]]:
    return workflow["jobs"][job]["steps"]


def step(workflow: dict[Any, Any], job: str, name: str) -> dict[str, Any]:
    return next(s for s in steps(workflow, job) if name in (s.get("name"), s.get("id")))


def is_install(script: str) -> bool:
    return "pip install" in script


# ---- the shell scripts of each job, and the hfops command lines in them -----------------------------


def github_scripts() -> dict[str, list[str]]:
    workflow = load(GITHUB)
    return {job: [s["run"] for s in spec["steps"] if "run" in s] for job, spec in workflow["jobs"].items()}


def gitlab_scripts() -> dict[str, list[str]]:
    pipeline = load(GITLAB)
    default = pipeline.get("default", {}).get("before_script", [])
    return {
        job: [
            *pipeline[job].get("before_script", default),
            *pipeline[job]["script"],
            *pipeline[job].get("after_script", []),
        ]
        for job in GITLAB_JOBS
    }


HEREDOC = re.compile(r"<<-?\s*'?(\w+)'?[^\n]*\n.*?^\s*\1\s*$", re.S | re.M)
COMMAND = re.compile(r"(?:^|&&|\|\||;|\||\$\(|\bthen\b|\bdo\b)[ \t]*(hfops(?:[ \t]+[^\s;&|<>()]+)*)", re.M)


def hfops_commands(script: str) -> list[list[str]]:
    """Every `hfops ...` invocation in a shell script, as argv (redirections and heredoc bodies left out)."""
    script = HEREDOC.sub("<<EOF", script)
    script = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("#"))
    return [shlex.split(match) for match in COMMAND.findall(script)]


def all_commands() -> list[tuple[str, list[str]]]:
    found = []
    for label, scripts in (("github", github_scripts()), ("gitlab", gitlab_scripts())):
        for job, texts in scripts.items():
            for text in texts:
                found.extend((f"{label}:{job}", argv) for argv in hfops_commands(text))
    return found


def command_problems(argv: list[str]) -> list[str]:
    """Why `argv` would not run: unknown subcommand, unknown flag, bad value; checked by the real CLI."""
    assert argv[0] == "hfops"
    if len(argv) < 2 or argv[1] not in cli.commands:
        return [f"unknown subcommand in {shlex.join(argv)}"]
    name, args = argv[1], argv[2:]
    help_text = CliRunner().invoke(cli, [name, "--help"])
    assert help_text.exit_code == 0, help_text.output
    problems = [
        f"{flag} is not in `hfops {name} --help`"
        for flag in (a.split("=", 1)[0] for a in args if a.startswith("-"))
        if flag not in help_text.output
    ]
    try:
        cli.commands[name].make_context(name, list(args))  # parses every flag and value, runs nothing
    except click.ClickException as error:
        problems.append(f"`{shlex.join(argv)}`: {error.format_message()}")
    return problems


# ---- (a) structure ----------------------------------------------------------------------------------


def test_github_workflow_triggers_jobs_and_permissions() -> None:
    workflow = load(GITHUB)
    on = triggers(workflow)
    assert set(on) >= {"pull_request", "push", "schedule"}
    assert on["push"]["branches"] == ["main"]
    assert on["schedule"][0]["cron"].count(" ") == 4
    assert workflow["permissions"] == {}  # nothing by default; each job asks for what it needs
    jobs = workflow["jobs"]
    assert set(jobs) == {"validate", "plan", "apply", "drift"}
    assert "pull_request" in jobs["plan"]["if"] and "head.repo.full_name" in jobs["plan"]["if"]
    assert "push" in jobs["apply"]["if"] and "refs/heads/main" in jobs["apply"]["if"]
    assert "schedule" in jobs["drift"]["if"]
    assert jobs["plan"]["needs"] == jobs["apply"]["needs"] == "validate"

    expected = {
        "validate": {"contents": "read"},
        "plan": {"contents": "read", "pull-requests": "write"},
        "apply": {"contents": "read"},
        "drift": {"contents": "read", "issues": "write"},
    }
    for job, permissions in expected.items():
        assert jobs[job]["permissions"] == permissions, job

    # Applies are serialised and never cancelled half way; plans of one PR supersede each other.
    assert jobs["apply"]["concurrency"] == {"group": "hfops-apply-production", "cancel-in-progress": False}
    assert jobs["plan"]["concurrency"]["cancel-in-progress"] is True
    for job in ("plan", "apply", "drift"):
        assert jobs[job]["env"]["HF_TOKEN"] == "${{ secrets.HF_TOKEN }}"
        assert jobs[job]["env"]["GENSTUDIO_API_KEY"] == "${{ secrets.GENSTUDIO_API_KEY }}"
    assert "env" not in jobs["validate"]  # offline: no secret, so it runs for forks too


def test_github_workflow_posts_uploads_and_guards_secrets() -> None:
    workflow = load(GITHUB)
    comment = step(workflow, "plan", "Post the plan as a PR comment")
    assert comment["uses"].startswith("actions/github-script@")
    assert "updateComment" in comment["with"]["script"] and "createComment" in comment["with"]["script"]
    assert "always()" in comment["if"]  # the plan is posted when it failed too
    upload = step(workflow, "plan", "Upload plan.json")
    assert upload["uses"].startswith("actions/upload-artifact@") and "plan.json" in upload["with"]["path"]
    assert "exit 1" in step(workflow, "plan", "Fail on a plan error")["run"]
    assert step(workflow, "drift", "Fail on drift")["if"] == "contains(steps.drift.outputs.change_kind, 'drift')"
    issue = step(workflow, "drift", "Open or update the drift issue")
    assert "issues.create" in issue["with"]["script"]
    assert "rm -rf credentials" in step(workflow, "apply", "Remove credentials from the runner")["run"]

    for job, spec in workflow["jobs"].items():
        for s in spec["steps"]:
            if "upload-artifact" in s.get("uses", ""):
                assert "credentials" not in s["with"]["path"], (job, s)
            run = s.get("run", "")
            # Secrets reach scripts only as environment variables; no `${{ }}` is pasted into a
            # script (no injection, and every script runs unchanged in the tests below).
            assert "${{" not in run, (job, s.get("name"))
            assert not re.search(r"\b(cat|echo|printf)\b[^\n]*(credentials/|HF_TOKEN|GENSTUDIO_API_KEY)", run)


def test_gitlab_pipeline_structure() -> None:
    pipeline = load(GITLAB)
    sources = " ".join(rule["if"] for rule in pipeline["workflow"]["rules"])
    for source in ('"merge_request_event"', '"schedule"', '"push"'):
        assert source in sources
    assert pipeline["stages"] == ["validate", "plan", "apply", "drift"]
    assert "merge_request_event" in pipeline["hfops-plan"]["rules"][0]["if"]
    assert "CI_DEFAULT_BRANCH" in pipeline["hfops-apply"]["rules"][0]["if"]
    assert pipeline["hfops-drift"]["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "schedule"'}]
    apply = pipeline["hfops-apply"]
    assert apply["resource_group"] and apply["interruptible"] is False
    assert apply["environment"]["name"] == "production"
    assert apply["after_script"] == ["rm -rf credentials"]
    assert "plan.json" in pipeline["hfops-plan"]["artifacts"]["paths"]
    for job in GITLAB_JOBS:
        for path in pipeline[job].get("artifacts", {}).get("paths", []):
            assert "credentials" not in path, job
        for line in pipeline[job]["script"]:
            assert not re.search(r"\b(cat|echo|printf)\b[^\n]*(credentials/|HF_TOKEN|GENSTUDIO_API_KEY)", line)


# Expressions that differ per run, commit, branch or PR: a group or resource group built from them
# would not serialise two applies to the same target.
PER_RUN = re.compile(r"github\.(run_|sha|ref|head_ref|event\.)|\$\{?CI_(PIPELINE|JOB|COMMIT|MERGE_REQUEST)_")


def test_applies_are_serialised_per_target_and_the_owner_is_set_once() -> None:
    """Issue 12 item 4: two applies to one target must never run at once (GitHub `concurrency`,
    GitLab `resource_group`); item 3: every job runs as the same owner (one pipeline-wide value)."""
    workflow = load(GITHUB)
    applying = [job for job, texts in github_scripts().items() if any("hfops apply" in t for t in texts)]
    assert applying == ["apply"]
    for job in applying:
        concurrency = workflow["jobs"][job]["concurrency"]
        assert concurrency["cancel-in-progress"] is False, job  # queued, never interrupted
        assert concurrency["group"] and not PER_RUN.search(concurrency["group"]), concurrency
    assert workflow["env"]["HFOPS_OWNER"] == "default"
    pipeline = load(GITLAB)
    applying = [job for job, texts in gitlab_scripts().items() if any("hfops apply" in t for t in texts)]
    assert applying == ["hfops-apply"]
    for job in applying:
        group = pipeline[job]["resource_group"]
        assert isinstance(group, str) and group and not PER_RUN.search(group), group
        assert pipeline[job]["interruptible"] is False
    assert pipeline["variables"]["HFOPS_OWNER"] == "default"
    for spec in (*workflow["jobs"].values(), *(pipeline[j] for j in GITLAB_JOBS)):
        assert "HFOPS_OWNER" not in (spec.get("env") or spec.get("variables") or {})  # no job overrides it
    # The check would catch a per-run group.
    assert PER_RUN.search("hfops-${{ github.run_id }}") and PER_RUN.search("apply-$CI_PIPELINE_ID")


@pytest.mark.parametrize("path", [GITHUB, GITLAB], ids=["github", "gitlab"])
def test_every_job_is_commented(path: Path) -> None:
    lines = path.read_text().splitlines()
    if path == GITHUB:
        start = lines.index("jobs:")
        pattern, jobs = re.compile(r"^  ([a-z][\w-]*):\s*$"), set(load(path)["jobs"])
    else:
        start, pattern, jobs = 0, re.compile(r"^([a-z][\w-]*):\s*$"), set(GITLAB_JOBS)
    seen = set()
    for index in range(start, len(lines)):
        match = pattern.match(lines[index])
        if match and match.group(1) in jobs:
            seen.add(match.group(1))
            assert lines[index - 1].lstrip().startswith("#"), f"{path.name}: job {match.group(1)} has no comment"
    assert seen == jobs


@pytest.mark.parametrize("platform", ["github", "gitlab"])
def test_templates_use_the_expected_hfops_commands(platform: str) -> None:
    scripts = github_scripts() if platform == "github" else gitlab_scripts()
    jobs = dict(
        zip(
            ("validate", "plan", "apply", "drift"),
            ("validate", "plan", "apply", "drift") if platform == "github" else GITLAB_JOBS,
            strict=True,
        )
    )
    used = {role: [shlex.join(c) for text in scripts[job] for c in hfops_commands(text)] for role, job in jobs.items()}
    assert used["validate"] == ["hfops validate manifests/"]
    assert "hfops plan manifests/ --out plan.json --detailed-exitcode" in used["plan"]
    assert used["apply"] == [
        "hfops plan manifests/ --out plan.json",
        "hfops apply plan.json --credentials-dir credentials",
    ]
    assert used["drift"][0] == "hfops plan manifests/ --detailed-exitcode --format json"
    for job in jobs.values():  # every job installs hfops first
        assert any(is_install(text) and "$HFOPS_PACKAGE" in text for text in scripts[job])


# ---- (a2) the install line installs hfops from its repository at a pinned ref -------------------------

PINNED_REF = re.compile(r"^(v\d+\.\d+\.\d+|[0-9a-f]{40})$")  # a release tag or a commit SHA, never a branch
GIT_PACKAGE = re.compile(r"^git\+https://(?P<repo>[^@\s]+)@(?P<ref>[^@\s]+)$")
GITLAB_ARCHIVE = re.compile(r"^https://(?P<repo>[^\s]+)/-/archive/(?P<ref>[^/\s]+)/hfops-(?P=ref)\.tar\.gz$")


def package_of(platform: str) -> str:
    config = load(GITHUB)["env"] if platform == "github" else load(GITLAB)["variables"]
    return str(config["HFOPS_PACKAGE"])


def install_line(platform: str) -> str:
    if platform == "github":
        return str(step(load(GITHUB), "validate", "Install hfops")["run"])
    return str(load(GITLAB)["default"]["before_script"][0])


@pytest.mark.parametrize("platform", ["github", "gitlab"])
def test_templates_install_hfops_from_the_repository_at_a_pinned_ref(platform: str) -> None:
    package = package_of(platform)
    assert "==" not in package  # `pip install hfops==0.1.0`: no index has hfops
    match = (GIT_PACKAGE if platform == "github" else GITLAB_ARCHIVE).match(package)
    assert match, package
    assert PINNED_REF.match(match["ref"]), f"{package}: pin a tag or a commit, not {match['ref']!r}"
    assert install_line(platform) == 'python -m pip install --quiet "$HFOPS_PACKAGE"'


@pytest.fixture
def released_repository(tmp_path: Path) -> Path:
    """A Git repository of hfops with the templates' tag, and a newer commit after it."""
    repo = tmp_path / "hfops-repo"
    repo.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, repo / name)
    shutil.copytree(ROOT / "hfops", repo / "hfops", ignore=shutil.ignore_patterns("__pycache__"))

    def git(*args: str) -> None:
        identity = ["-c", "user.name=ci", "-c", "user.email=ci@example.com"]
        subprocess.run(["git", *identity, *args], cwd=repo, check=True, capture_output=True)

    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "release")
    git("tag", GIT_PACKAGE.match(package_of("github"))["ref"])  # type: ignore[index]
    (repo / "hfops" / "after_the_tag.py").write_text("# not released: the pinned install must not have it\n")
    git("add", "-A")
    git("commit", "-qm", "after the release")
    return repo


def test_the_install_lines_install_the_pinned_ref(released_repository: Path, tmp_path: Path) -> None:
    """Both templates' install line, unchanged, with HFOPS_PACKAGE pointing at a local copy of the repository."""
    repo = released_repository
    venv = tmp_path / "runner"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    ref = GIT_PACKAGE.match(package_of("github"))["ref"]  # type: ignore[index]
    archive = tmp_path / f"hfops-{ref}.tar.gz"  # what GitLab's /-/archive/<ref>/ URL serves
    subprocess.run(
        ["git", "archive", "--format=tar.gz", f"--prefix=hfops-{ref}/", "-o", str(archive), ref], cwd=repo, check=True
    )
    # The templates' packages with only the host swapped for the local copy: the same ref.
    packages = {"github": f"git+file://{repo}@{ref}", "gitlab": str(archive)}
    site = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    for platform, package in packages.items():
        env = {
            **os.environ,
            "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
            "HFOPS_PACKAGE": package,
            "PIP_NO_DEPS": "1",  # hfops' dependencies are not what this checks, and need an index
            "PIP_FORCE_REINSTALL": "1",
        }
        line = install_line(platform)
        done = subprocess.run(["bash", "-eo", "pipefail", "-c", line], env=env, capture_output=True, text=True)
        assert done.returncode == 0, (platform, package, done.stderr)
        assert (site / "hfops" / "cli" / "__init__.py").is_file(), platform
        assert not (site / "hfops" / "after_the_tag.py").exists(), platform  # exactly the pinned ref
        assert (venv / "bin" / "hfops").is_file(), platform


# ---- (b) every hfops command line exists in the real CLI --------------------------------------------


def test_every_hfops_command_line_in_the_templates_is_accepted_by_the_cli() -> None:
    commands = all_commands()
    assert len(commands) >= 12
    assert {argv[1] for _where, argv in commands} == {"validate", "plan", "apply"}
    problems = [f"{where}: {problem}" for where, argv in commands for problem in command_problems(argv)]
    assert problems == []


def test_the_command_check_catches_what_does_not_exist() -> None:
    assert hfops_commands('echo "hfops plan failed"; x=1 && hfops plan m/ --out p.json > p.txt 2> e') == [
        ["hfops", "plan", "m/", "--out", "p.json"]
    ]
    assert hfops_commands("python - <<'EOF'\nhfops plan --nope\nEOF\n# hfops plan --nope") == []
    assert command_problems(["hfops", "plan", "manifests/", "--detailed-exitcode"]) == []
    assert command_problems(["hfops", "plan", "manifests/", "--detailed-exit-code"])
    assert command_problems(["hfops", "plan", "manifests/", "--format", "yaml"])  # not a choice
    assert command_problems(["hfops", "apply", "plan.json", "--credentials-dir"])  # value missing
    assert command_problems(["hfops", "deploy", "manifests/"])


# ---- (c) the templates' own steps, run against the emulator ----------------------------------------


@pytest.fixture
def workspace(tmp_path: Path, hf_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkout of a repository keeping the shipped examples as its manifests/."""
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLES, repo / "manifests", ignore=shutil.ignore_patterns("ci"))
    monkeypatch.chdir(repo)
    return repo


def shell_env(workspace: Path, **extra: str) -> dict[str, str]:
    assert (BIN / "hfops").exists(), f"hfops is not installed next to {sys.executable}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "CI_", "GITLAB_"))}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        GENSTUDIO_API_KEY=GENSTUDIO_KEY,
        GITHUB_OUTPUT=str(workspace / ".github-output"),
        GITHUB_STEP_SUMMARY=str(workspace / ".summary"),
    )
    env.update(extra)
    return env


def bash(script: str, workspace: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A script as the runners run it: GitHub's `shell: bash`, GitLab's bash with -eo pipefail."""
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def github_step(job: str, name: str, workspace: Path, env: dict[str, str]) -> tuple[int, str, dict[str, str]]:
    output = workspace / ".github-output"
    output.write_text("")
    result = bash(step(load(GITHUB), job, name)["run"], workspace, env)
    values = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
    return result.returncode, result.stdout + result.stderr, values


def gitlab_job(job: str, workspace: Path, env: dict[str, str]) -> tuple[int, str]:
    """The job's script (not the pip install of before_script), then after_script, as a runner does."""
    spec = load(GITLAB)[job]
    result = bash("\n".join(spec["script"]), workspace, env)
    output = result.stdout + result.stderr
    if "after_script" in spec:
        after = bash("\n".join(spec["after_script"]), workspace, env)
        assert after.returncode == 0, after.stderr
    return result.returncode, output


def make_drift(api: HfApi) -> None:
    api.update_inference_endpoint("mistral-7b-instruct", namespace="acme", token=TOKEN, max_replica=4)


def test_github_pipeline_steps_run_against_the_emulator(emulator: Any, api: HfApi, workspace: Path) -> None:
    env = shell_env(workspace)

    # Pull request: validate, then plan (exit 2 from --detailed-exitcode is recorded, not a failure).
    code, output, _ = github_step("validate", "hfops validate", workspace, env)
    assert code == 0, output
    code, output, values = github_step("plan", "plan", workspace, env)
    assert code == 0, output
    assert values["exitcode"] == "2"
    assert f"Plan: {N} to add, 0 to change, 0 to destroy." in (workspace / "plan.txt").read_text()
    assert json.loads((workspace / "plan.json").read_text())["kind"] == "hfops-plan"

    # main: plan --out, apply exactly that plan, hand the credentials over, remove them.
    code, output, _ = github_step("apply", "hfops plan", workspace, env)
    assert code == 0, output
    assert f"Plan: {N} to add" in (workspace / ".summary").read_text()
    code, output, _ = github_step("apply", "hfops apply (the saved plan)", workspace, env)
    assert code == 0, output
    assert f"Apply complete: {N} succeeded, 0 failed" in output
    assert len(list((workspace / "credentials").rglob("*.json"))) == N
    code, output, _ = github_step("apply", "Store GenStudio credentials", workspace, env)
    assert code == 0, output
    assert output.count("Storing the GenStudio credential for") == N
    assert "Storing the GenStudio credential for llama-2-7b-chat (value not shown)" in output
    assert TOKEN not in output and GENSTUDIO_KEY not in output
    assert github_step("apply", "Remove credentials from the runner", workspace, env)[0] == 0
    assert not (workspace / "credentials").exists()

    # The next pull request's plan: nothing to do.
    code, output, values = github_step("plan", "plan", workspace, env)
    assert (code, values["exitcode"]) == (0, "0"), output
    assert "No changes." in (workspace / "plan.txt").read_text()

    # Schedule: no drift, then a change made outside hfops through huggingface_hub.
    code, output, values = github_step("drift", "Check for drift", workspace, env)
    assert (code, values["change_kind"]) == (0, "none"), output
    make_drift(api)
    code, output, values = github_step("drift", "Check for drift", workspace, env)
    assert code == 0, output  # the step records; "Fail on drift" then fails the job
    assert values["change_kind"] == "drift" and values["drifted"] == "acme/mistral-7b-instruct"
    assert "::error::drift" in output
    assert "changed outside hfops (drift)" in (workspace / "drift.txt").read_text()
    assert json.loads((workspace / "drift.json").read_text())["drifted"] == ["acme/mistral-7b-instruct"]


def test_github_plan_step_records_an_error_and_keeps_the_plan(emulator: Any, api: HfApi, workspace: Path) -> None:
    api.create_inference_endpoint(  # an endpoint hfops did not create, under a manifest's name
        "gpt2-sandbox",
        repository="gpt2",
        framework="pytorch",
        accelerator="cpu",
        instance_size="x1",
        instance_type="intel-icl",
        region="us-east-1",
        vendor="aws",
        namespace="acme-research",
        token=TOKEN,
        task="text-generation",
    )
    code, output, values = github_step("plan", "plan", workspace, shell_env(workspace))
    assert code == 0, output  # recorded, so the comment step can post it; a later step fails the job
    assert values["exitcode"] == "1"
    assert "::error::hfops plan failed (exit 1)" in output
    assert "gpt2-sandbox" in (workspace / "plan.txt").read_text()  # what the PR comment shows


def test_gitlab_plan_job_fails_on_a_plan_error_after_keeping_the_plan(
    emulator: Any, api: HfApi, workspace: Path
) -> None:
    api.create_inference_endpoint(
        "gpt2-sandbox",
        repository="gpt2",
        framework="pytorch",
        accelerator="cpu",
        instance_size="x1",
        instance_type="intel-icl",
        region="us-east-1",
        vendor="aws",
        namespace="acme-research",
        token=TOKEN,
        task="text-generation",
    )
    code, output = gitlab_job("hfops-plan", workspace, shell_env(workspace))
    assert code == 1 and "hfops plan failed (exit 1)" in output
    assert "GITLAB_API_TOKEN not set" in output  # no token: no note, the plan is in the log and artifacts
    assert "gpt2-sandbox" in (workspace / "plan.txt").read_text()


# ---- the note, comment and issue code, against stand-ins for the forges' APIs -------------------------


class FakeGitLab(BaseHTTPRequestHandler):
    """Just enough of GitLab's REST API for the MR note and the drift issue: notes and issues."""

    store: dict[str, list[dict[str, Any]]]

    def _send(self, payload: object) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _collection(self) -> str:
        assert self.headers["PRIVATE-TOKEN"] == "glpat-test"
        return "notes" if "/notes" in self.path else "issues"

    def do_GET(self) -> None:
        kind = self._collection()
        self._send([item for item in self.store[kind] if kind == "notes" or item["state"] == "opened"])

    def do_POST(self) -> None:
        kind = self._collection()
        data = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        item = {"id": len(self.store[kind]) + 1, "iid": len(self.store[kind]) + 1, "state": "opened", **data}
        self.store[kind].append(item)
        self._send(item)

    def do_PUT(self) -> None:
        kind = self._collection()
        data = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        number = int(self.path.rstrip("/").rsplit("/", 1)[1])
        item = next(i for i in self.store[kind] if i["id"] == number)
        item.update(data)
        self._send(item)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def gitlab_api() -> Iterator[tuple[str, dict[str, list[dict[str, Any]]]]]:
    store: dict[str, list[dict[str, Any]]] = {"notes": [], "issues": []}
    handler = type("Handler", (FakeGitLab,), {"store": store})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/v4", store
    finally:
        server.shutdown()
        server.server_close()


def test_gitlab_pipeline_jobs_run_against_the_emulator(
    emulator: Any, api: HfApi, workspace: Path, gitlab_api: tuple[str, dict[str, list[dict[str, Any]]]]
) -> None:
    url, store = gitlab_api
    env = shell_env(
        workspace,
        GITLAB_API_TOKEN="glpat-test",
        CI_API_V4_URL=url,
        CI_PROJECT_ID="42",
        CI_MERGE_REQUEST_IID="7",
        CI_COMMIT_SHORT_SHA="abc1234",
        CI_JOB_URL="https://ci.example/j/1",
    )

    # Merge request: validate, then plan (exit 2 is "changes", the job passes) and one MR note.
    code, output = gitlab_job("hfops-validate", workspace, env)
    assert code == 0, output
    code, output = gitlab_job("hfops-plan", workspace, env)
    assert code == 0, output
    assert f"Plan: {N} to add" in (workspace / "plan.txt").read_text()
    assert json.loads((workspace / "plan.json").read_text())["kind"] == "hfops-plan"
    [note] = store["notes"]
    assert note["body"].startswith("<!-- hfops-plan -->\n### hfops plan: changes")
    assert f"Plan: {N} to add" in note["body"] and "abc1234" in note["body"] and TOKEN not in note["body"]

    # main: plan --out, apply exactly that plan, hand the credentials over; after_script removes them.
    code, output = gitlab_job("hfops-apply", workspace, env)
    assert code == 0, output
    assert f"Apply complete: {N} succeeded, 0 failed" in output
    assert output.count("Storing the GenStudio credential for") == N
    assert TOKEN not in output and GENSTUDIO_KEY not in output
    assert not (workspace / "credentials").exists()

    # The next push to the MR: no changes, and the same note is updated in place.
    code, output = gitlab_job("hfops-plan", workspace, env)
    assert code == 0 and "No changes." in (workspace / "plan.txt").read_text(), output
    [note] = store["notes"]
    assert "### hfops plan: no changes" in note["body"]

    # Schedule: no drift; then a change outside hfops fails the job and opens one issue, updated after.
    code, output = gitlab_job("hfops-drift", workspace, env)
    assert code == 0 and "change_kind=none" in output, output
    assert store["issues"] == []
    make_drift(api)
    for _ in range(2):
        code, output = gitlab_job("hfops-drift", workspace, env)
        assert code == 1, output
        assert "change_kind=drift" in output and "changed outside hfops (drift)" in output
    [issue] = store["issues"]
    assert issue["title"] == "hfops: drift detected" and issue["labels"] == "hfops-drift"
    assert "acme/mistral-7b-instruct" in issue["description"] and "(drift)" in issue["description"]


NODE_HARNESS = r"""
const fs = require('fs');
const [scriptFile, stateFile] = process.argv.slice(2);
const state = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
const calls = [];
const record = (name) => async (params) => { calls.push([name, params]); return { data: {} }; };
const github = {
  paginate: async (fn, params) => (await fn(params)).data,
  rest: { issues: {
    listComments: async () => ({ data: state.comments }),
    listForRepo: async () => ({ data: state.issues }),
    createComment: record('createComment'), updateComment: record('updateComment'),
    create: record('create'), update: record('update'),
  } },
};
const context = { repo: { owner: 'o', repo: 'r' }, issue: { number: 7 }, runId: 99,
  serverUrl: 'https://github.example', payload: { pull_request: { head: { sha: 'abcdef0123456' } } } };
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
new AsyncFunction('require', 'github', 'context', 'core', fs.readFileSync(scriptFile, 'utf8'))(
  require, github, context, {}).then(() => console.log(JSON.stringify(calls)),
  (error) => { console.error(error); process.exit(1); });
"""


def github_script(job: str, name: str, workspace: Path, state: dict[str, Any], **env: str) -> list[Any]:
    """Run an actions/github-script step's script under node with a recording stand-in for `github`."""
    (workspace / ".script.js").write_text(step(load(GITHUB), job, name)["with"]["script"])
    (workspace / ".harness.js").write_text(NODE_HARNESS)
    (workspace / ".state.json").write_text(json.dumps(state))
    result = subprocess.run(
        ["node", ".harness.js", ".script.js", ".state.json"],
        cwd=workspace,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_github_script_steps_comment_once_and_manage_the_drift_issue(tmp_path: Path) -> None:
    (tmp_path / "plan.txt").write_text("Plan: 1 to add, 0 to change, 0 to destroy.\n")
    (tmp_path / "plan.err").write_text("")
    name = "Post the plan as a PR comment"
    [[verb, params]] = github_script("plan", name, tmp_path, {"comments": [], "issues": []}, PLAN_EXITCODE="2")
    assert verb == "createComment" and params["issue_number"] == 7
    assert params["body"].startswith("<!-- hfops-plan -->\n\n### hfops plan: changes")
    assert "Plan: 1 to add" in params["body"] and "abcdef0" in params["body"]
    ours = {"id": 5, "user": {"type": "Bot"}, "body": "<!-- hfops-plan -->\nold"}
    someone = {"id": 6, "user": {"type": "User"}, "body": "<!-- hfops-plan --> quoted by a person"}
    [[verb, params]] = github_script(
        "plan", name, tmp_path, {"comments": [someone, ours], "issues": []}, PLAN_EXITCODE="1"
    )
    assert (verb, params["comment_id"]) == ("updateComment", 5)
    assert "### hfops plan: failed (exit 1)" in params["body"]

    (tmp_path / "drift.txt").write_text("~ acme/a will be updated in place  # changed outside hfops (drift)\n")
    name = "Open or update the drift issue"
    [[verb, params]] = github_script("drift", name, tmp_path, {"comments": [], "issues": []}, DRIFTED="acme/a")
    assert verb == "create" and params["title"] == "hfops: drift detected" and "acme/a" in params["body"]
    drift_issue = {"number": 3, "body": "<!-- hfops-drift -->\nold"}
    [[verb, params]] = github_script(
        "drift", name, tmp_path, {"comments": [], "issues": [drift_issue]}, DRIFTED="acme/a"
    )
    assert (verb, params["issue_number"]) == ("update", 3)
    calls = github_script(
        "drift",
        "Close the drift issue once there is no drift",
        tmp_path,
        {"comments": [], "issues": [drift_issue, {"number": 4, "body": "unrelated"}]},
    )
    assert [(verb, params["issue_number"]) for verb, params in calls] == [("createComment", 3), ("update", 3)]
    assert calls[1][1]["state"] == "closed"


# ---- the pre-commit hook ------------------------------------------------------------------------------


def hook() -> dict[str, Any]:
    hooks = yaml.safe_load(HOOKS.read_text())
    [only] = [h for h in hooks if h["id"] == "hfops-validate"]
    return only


def test_pre_commit_hook_definition() -> None:
    spec = hook()
    assert spec["language"] == "python"
    assert shlex.split(spec["entry"]) == ["hfops", "validate"]
    assert 'hfops = "hfops:main"' in (ROOT / "pyproject.toml").read_text()  # what the entry runs
    # The whole directory, not the changed files: Defaults and duplicate checks span files.
    assert spec["pass_filenames"] is False and spec["args"] == ["manifests/"]
    files = re.compile(spec["files"])
    assert files.search("manifests/production/llama-2-7b-chat.yaml")
    assert files.search("manifests/team/a.yml")
    for other in ("examples/ci/github-actions.yml", "README.md", "manifests/notes.md", "src/manifests/x.yaml"):
        assert not files.search(other), other
    assert command_problems(["hfops", "validate", *spec["args"]]) == []


def test_pre_commit_hook_entry_validates_examples_and_refuses_a_broken_manifest(
    run: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = hook()
    entry = shlex.split(spec["entry"])[1:]
    monkeypatch.chdir(ROOT)  # the repository's own manifests/ with the hook's default args
    result = run(*entry, *spec["args"])
    assert result.code == 0, result.output

    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLES, repo / "manifests")  # examples/ci/ comes along, and is skipped
    monkeypatch.chdir(repo)
    result = run(*entry, *spec["args"])
    assert result.code == 0, result.output
    assert f"{N} endpoint(s) in " in result.stdout and "valid." in result.stdout
    # As a user overriding it to pass the changed files instead.
    files = sorted(str(p.relative_to(repo)) for p in (repo / "manifests").rglob("*.yaml"))
    assert run(*entry, *files).code == 0

    broken = repo / "manifests" / "chat-scale-to-zero.yaml"
    broken.write_text(broken.read_text().replace("maxReplica: 1", "maxReplica: 1\n    maxReplicas: 2"))
    result = run(*entry, *spec["args"])
    assert result.code == 1
    assert "chat-scale-to-zero.yaml" in result.stderr and "maxReplicas" in result.stderr
