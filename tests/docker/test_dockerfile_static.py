"""Static checks of docker/Dockerfile, .dockerignore and the README's Docker commands.

No Docker daemon is needed: the Dockerfile is parsed with the `dockerfile` package (BuildKit's
own parser) and the README's shell commands are split with shlex and checked against it.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
from pathlib import Path

import dockerfile
import pytest
import yaml

from docent.config import SECTIONS, TOP_LEVEL_SCALARS

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "docker" / "Dockerfile"
README_SECTION = "## GPU and Docker"


# ---------------------------------------------------------------- parsing helpers

@pytest.fixture(scope="module")
def instructions() -> tuple[dockerfile.Command, ...]:
    return dockerfile.parse_file(str(DOCKERFILE))


def of(instructions, cmd: str) -> list[dockerfile.Command]:
    return [i for i in instructions if i.cmd == cmd.upper()]


def arg_defaults(instructions) -> dict[str, str]:
    out = {}
    for arg in of(instructions, "ARG"):
        for item in arg.value:
            name, _, default = item.partition("=")
            out[name] = default
    return out


def env_values(instructions) -> dict[str, str]:
    out = {}
    for env in of(instructions, "ENV"):
        out.update(zip(env.value[0::2], env.value[1::2], strict=True))
    return out


def shell_commands(instructions) -> list[list[str]]:
    """Every simple command of every RUN, as argv lists (split on && ; |)."""
    commands = []
    for run in of(instructions, "RUN"):
        lexer = shlex.shlex(" ".join(run.value), posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        current: list[str] = []
        for token in lexer:
            if token in ("&&", ";", "||", "|", "(", ")"):
                if current:
                    commands.append(current)
                current = []
            else:
                current.append(token)
        if current:
            commands.append(current)
    return commands


def pip_installs(instructions) -> list[list[str]]:
    return [c[2:] for c in shell_commands(instructions) if c[:2] == ["pip", "install"]]


def expand(text: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: variables.get(m.group(1), m.group(0)), text)


def requirement_pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[name.strip().lower()] = version.strip()
    return pins


# ---------------------------------------------------------------- the Dockerfile

def test_base_image_is_an_official_cuda_image_pinned_by_tag(instructions) -> None:
    froms = of(instructions, "FROM")
    assert froms, "no FROM"
    for instr in froms:
        image = expand(instr.value[0], arg_defaults(instructions))
        assert "$" not in image, f"unresolved variable in {image}"
        if "@sha256:" in image:
            continue
        name, _, tag = image.rpartition(":")
        assert name and "/" not in tag, f"{image}: no explicit tag"
        assert tag != "latest", f"{image}: 'latest' is not a pin"
    final = expand(froms[-1].value[0], arg_defaults(instructions))
    assert re.fullmatch(r"(nvidia/cuda:\d+\.\d+\.\d+-[a-z-]+-ubuntu\d+\.\d+|pytorch/pytorch:.+-cuda.+)", final), final


def test_torch_is_the_pinned_version_from_the_pytorch_cuda_index(instructions) -> None:
    variables = arg_defaults(instructions)
    pins = requirement_pins(REPO / "requirements.txt")
    torch_installs = [c for c in pip_installs(instructions) if any(a.startswith("torch==") for a in c)]
    assert len(torch_installs) == 1, torch_installs
    install = [expand(a, variables) for a in torch_installs[0]]
    assert f"torch=={pins['torch']}" in install
    index_flags = [i for i, a in enumerate(install) if a in ("--index-url", "--extra-index-url")]
    assert index_flags, "torch not installed from a wheel index"
    url = install[index_flags[0] + 1]
    match = re.fullmatch(r"https://download\.pytorch\.org/whl/cu(\d+)", url)
    assert match, url
    # the wheel's CUDA (cu130 = 13.0) is the base image's CUDA major.minor
    base = expand(of(instructions, "FROM")[-1].value[0], variables)
    cuda = re.search(r"cuda:(\d+)\.(\d+)", base)
    assert cuda and match.group(1) == cuda.group(1) + cuda.group(2), (base, url)


def test_requirements_installed_in_order_nodeps_without_deps(instructions) -> None:
    copied = {Path(src).name for c in of(instructions, "COPY") for src in c.value[:-1]}
    assert {"requirements.txt", "requirements-nodeps.txt"} <= copied
    installs = pip_installs(instructions)

    def position(name: str) -> int:
        hits = [i for i, c in enumerate(installs) if any(Path(a).name == name for a in c)]
        assert len(hits) == 1, f"{name} installed {len(hits)} times"
        return hits[0]

    torch_at = next(i for i, c in enumerate(installs) if any(a.startswith("torch==") for a in c))
    full, nodeps = position("requirements.txt"), position("requirements-nodeps.txt")
    assert torch_at < full < nodeps  # the CUDA torch first, so requirements.txt's pin finds it installed
    assert "-r" in installs[full] and "--no-deps" not in installs[full]
    assert "-r" in installs[nodeps] and "--no-deps" in installs[nodeps]


def test_python_is_the_version_requirements_are_pinned_for(instructions) -> None:
    pinned_for = re.search(r"Python (\d+\.\d+)", (REPO / "requirements.txt").read_text())
    assert pinned_for
    venvs = [c for c in shell_commands(instructions) if c[1:3] == ["-m", "venv"]]
    assert venvs and venvs[0][0] == f"python{pinned_for.group(1)}"


def apt_packages(command: list[str]) -> list[str]:
    """The package operands of one `apt-get [options] install [options] pkg...` (options dropped)."""
    operands = [t for t in command[1:] if not t.startswith("-")]
    assert operands[:1] == ["install"], command
    return operands[1:]


def test_git_and_dvc_are_installed(instructions) -> None:
    commands = shell_commands(instructions)
    installs = [i for i, c in enumerate(commands) if c[0] == "apt-get" and "install" in c]
    assert len(installs) == 1, [commands[i] for i in installs]
    packages = apt_packages(commands[installs[0]])
    # git for dvc, the Python the venv is made with, tini for the ENTRYPOINT
    assert {"git", "python3.11", "python3.11-venv", "tini", "ca-certificates"} <= set(packages), packages
    assert "--no-install-recommends" in commands[installs[0]] and "-y" in commands[installs[0]]
    updates = [i for i, c in enumerate(commands) if c == ["apt-get", "update"]]
    assert updates and updates[0] < installs[0]  # the package lists are fetched first
    assert ["rm", "-rf", "/var/lib/apt/lists/*"] in commands[installs[0]:]  # and not kept in the layer
    assert "dvc" in requirement_pins(REPO / "requirements.txt")
    checks = [i for i, c in enumerate(commands) if c[-1:] == ["--version"]]
    assert [commands[i] for i in checks] == [["git", "--version"], ["dvc", "--version"]]
    assert all(i > installs[0] for i in checks)  # checked after they are installed
    assert of(instructions, "ENTRYPOINT")[-1].value[0] == "/usr/bin/tini"


def test_apt_packages_reads_operands_not_substrings() -> None:
    assert apt_packages(["apt-get", "-q", "install", "-y", "--no-install-recommends", "gitk", "python3"]) == [
        "gitk", "python3"]  # "gitk" is not git


def test_runs_as_a_non_root_user_that_the_image_creates(instructions) -> None:
    users = of(instructions, "USER")
    assert users, "no USER: the container would run as root"
    last = users[-1]
    user = last.value[0].split(":")[0]
    assert user not in ("root", "0")
    assert instructions.index(last) > max(instructions.index(r) for r in of(instructions, "RUN"))
    created = [c for c in shell_commands(instructions) if c[0] == "useradd"]
    assert created and created[-1][-1] == user


def test_workdir_is_the_mounted_repository_and_git_trusts_it(instructions) -> None:
    assert of(instructions, "WORKDIR")[-1].value[0] == "/workspace"
    assert ["git", "config", "--system", "--add", "safe.directory", "/workspace"] in shell_commands(instructions)


def test_caches_live_on_a_volume(instructions) -> None:
    volumes = [v for instr in of(instructions, "VOLUME") for v in instr.value]
    assert volumes

    def on_volume(path: str) -> bool:
        return any(path == v or path.startswith(v.rstrip("/") + "/") for v in volumes)

    assert on_volume(env_values(instructions)["HF_HOME"])
    dvc_cache = [c[-1] for c in shell_commands(instructions) if c[:4] == ["dvc", "config", "--system", "cache.dir"]]
    assert dvc_cache and on_volume(dvc_cache[0])


SECRET_NAME = re.compile(r"TOKEN|KEY|PASSWORD|PASSWD|SECRET|CREDENTIAL", re.IGNORECASE)
SECRET_VALUE = re.compile(r"hf_[A-Za-z0-9]{20,}|ghp_[A-Za-z0-9]{20,}|AKIA[0-9A-Z]{16}")


def test_no_secrets_baked_into_the_image(instructions) -> None:
    for name in list(arg_defaults(instructions)) + list(env_values(instructions)):
        assert not SECRET_NAME.search(name), f"{name}: pass secrets at run time (docker run -e), not in the image"
    assert not SECRET_VALUE.search(DOCKERFILE.read_text())
    for copy in of(instructions, "COPY") + of(instructions, "ADD"):
        for src in copy.value[:-1]:
            assert not re.search(r"token|\.env|netrc|credential|\.huggingface", src, re.IGNORECASE), src


# ---------------------------------------------------------------- .dockerignore

def dockerignore_keeps(patterns: list[str], path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parent folders decides."""
    keep = True
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        if any(fnmatch.fnmatchcase(p, pattern) and p.count("/") == pattern.count("/") for p in prefixes):
            keep = negate
    return keep


def test_build_context_is_just_the_requirements(instructions) -> None:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    candidates = ["requirements.txt", "requirements-nodeps.txt", "requirements.in", "params.yaml", "dvc.yaml",
                  ".venv/bin/python", "data/raw/pages.jsonl", "models/cache/x.safetensors", "metrics/eval.json",
                  ".git/objects/ab/cd", ".dvc/cache/files/md5/ab", "docent/config.py", ".env"]
    kept = sorted(p for p in candidates if dockerignore_keeps(patterns, p))
    assert kept == ["requirements-nodeps.txt", "requirements.txt"]
    for copy in of(instructions, "COPY"):
        if any(f.startswith("--from") for f in copy.flags):
            continue
        for src in copy.value[:-1]:
            assert dockerignore_keeps(patterns, src), f"COPY {src}: excluded by .dockerignore"


# ---------------------------------------------------------------- README commands

def docker_docs() -> tuple[str, str]:
    """README.md's "## GPU and Docker" section once it has one, else the snippet waiting to go there."""
    readme = REPO / "README.md"
    if readme.is_file():
        text = readme.read_text(encoding="utf-8")
        if README_SECTION in text.splitlines():
            section = text.split(README_SECTION, 1)[1]
            section = re.split(r"^## ", section, maxsplit=1, flags=re.MULTILINE)[0]
            return "README.md", section
    return "docker/README-snippet.md", (REPO / "docker" / "README-snippet.md").read_text(encoding="utf-8")


def doc_commands() -> list[list[str]]:
    """Every command of the docs' bash blocks, continuation lines joined, comments dropped."""
    _, text = docker_docs()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL):
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            tokens = shlex.split(line, comments=True)
            while "&&" in tokens:
                cut = tokens.index("&&")
                commands.append(tokens[:cut])
                tokens = tokens[cut + 1:]
            if tokens:
                commands.append(tokens)
    return commands


DOCKER_RUN_VALUE_OPTIONS = {"-v", "--volume", "-e", "--env", "--gpus", "--ipc", "--network", "--shm-size",
                            "-u", "--user", "--name", "-w", "--workdir", "--env-file", "--mount"}


def parse_docker_run(tokens: list[str]) -> tuple[list[tuple[str, str | None]], str, list[str]]:
    options, i = [], 2
    while tokens[i].startswith("-"):
        flag, _, inline = tokens[i].partition("=")
        if flag in DOCKER_RUN_VALUE_OPTIONS and not inline:
            options.append((flag, tokens[i + 1]))
            i += 2
        else:
            options.append((flag, inline or None))
            i += 1
    return options, tokens[i], tokens[i + 1:]


def test_docs_exist_with_build_and_run_commands() -> None:
    where, _ = docker_docs()
    commands = doc_commands()
    assert any(c[:2] == ["docker", "build"] for c in commands), where
    assert any(c[:2] == ["docker", "run"] for c in commands), where


def test_docker_build_commands_match_the_dockerfile(instructions) -> None:
    builds = [c for c in doc_commands() if c[:2] == ["docker", "build"]]
    args = arg_defaults(instructions)
    for build in builds:
        assert build[build.index("-f") + 1] == "docker/Dockerfile"
        assert build[-1] == "."  # the context is the repository root, where .dockerignore is
        assert build[build.index("-t") + 1] == "docent"
        for i, token in enumerate(build):
            if token == "--build-arg":
                name = build[i + 1].split("=")[0]
                assert name in args, f"--build-arg {name}: no such ARG in the Dockerfile"
                assert not SECRET_NAME.search(name)


def test_docker_run_commands_match_the_image(instructions) -> None:
    volumes = [v for instr in of(instructions, "VOLUME") for v in instr.value]
    workdir = of(instructions, "WORKDIR")[-1].value[0]
    runs = [parse_docker_run(c) for c in doc_commands() if c[:2] == ["docker", "run"]]
    assert runs
    for options, image, _command in runs:
        assert image == "docent"
        assert ("--gpus", "all") in options
        mounts = {}  # target -> source, from -v source:target[:options]
        for flag, value in options:
            if flag in ("-v", "--volume"):
                source, target = value.split(":")[:2]
                mounts[target] = source
        assert mounts.get(workdir) == "$PWD", "the repository must be mounted at the WORKDIR"
        assert set(volumes) <= set(mounts), "every VOLUME gets a named volume, or caches vanish with --rm"
        for flag, value in options:
            if flag in ("-e", "--env"):
                assert "=" not in value, f"-e {value}: pass the variable's name only, never a secret's value"
    assert any(cmd == ["dvc", "repro"] for _, _, cmd in runs)
    assert any(("-e", "HF_TOKEN") in opts for opts, _, _ in runs)


def test_dvc_exp_run_examples_set_real_params() -> None:
    sets = [c[i + 1] for c in doc_commands() if c[:3] == ["dvc", "exp", "run"]
            for i, t in enumerate(c) if t in ("-S", "--set-param")]
    assert "lora.r=64" in sets
    for item in sets:
        key = item.split("=", 1)[0]
        section, _, field = key.partition(".")
        assert section in SECTIONS or section in TOP_LEVEL_SCALARS, key
        if field:
            assert field in SECTIONS[section].__dataclass_fields__, key


def test_preset_commands_name_existing_presets() -> None:
    for c in doc_commands():
        joined = " ".join(c)
        for name in re.findall(r"docent\.presets (?:show|apply) ([\w.-]+)", joined):
            assert (REPO / "presets" / f"{name}.yaml").is_file(), name


def test_accelerate_launch_runs_finetune_with_the_dvc_yaml_options() -> None:
    launches = [c for c in doc_commands() if "accelerate" in c and "launch" in c]
    assert launches
    stage_cmd = shlex.split(yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["finetune"]["cmd"])
    assert stage_cmd[:3] == ["python", "-m", "stages.finetune"]
    for launch in launches:
        tokens = launch[launch.index("accelerate"):]
        config = tokens[tokens.index("--config_file") + 1]
        assert (REPO / config).is_file(), config
        module_at = tokens.index("-m")
        assert tokens[module_at + 1] == "stages.finetune"
        assert tokens[module_at + 2:] == stage_cmd[3:]
