"""The README's commands against a running service work as written.

Every shell command of the README that talks to the service (`localhost:8000`)
or reads the model repository runs, in the README's order, under bash as a
user pastes it; `curl` is made to fail on an HTTP error (`--fail-with-body`)
and pipelines on any failing part. The README's Python clients of the service
run too. The service is started with the options of the README's own
`ctrkit serve` command of the admin section, on a repository laid out as on a
fresh clone after `make serve` and that section's `ctrkit train`: the demo
model's features (read from its spec, with small tables), versions 1 and 2.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from service_helpers import free_port, serve

from service.cli import settings_from_args

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SPEC = ROOT / "models" / "criteo_deepfm" / "spec.yaml"
SERVICE = "localhost:8000"
GRPC = "localhost:8500"
TOKEN = "readme-token"


def code_blocks(markdown: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", markdown, flags=re.MULTILINE | re.DOTALL)


def shell_commands(block: str) -> list[str]:
    """The block's commands: lines joined while a quote is open or a line ends with `\\` or `|`."""
    commands: list[str] = []
    current = ""
    for line in block.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current = f"{current}\n{line}" if current else line
        try:
            tokens = shlex.split(current, comments=True)
        except ValueError:  # a quote is still open
            continue
        if current.rstrip().endswith("\\") or (tokens and tokens[-1] == "|"):
            continue
        commands.append(current)
        current = ""
    assert not current, f"unterminated command in README: {current}"
    return commands


def test_shell_commands_are_joined_as_bash_reads_them():
    block = "# note\ncurl -d '{\n  \"a\": 1}' x   # it's fine\nls \\\n  -l\npython3 -c 'print(1)' |\n  cat\n"
    assert shell_commands(block) == ["curl -d '{\n  \"a\": 1}' x   # it's fine", "ls \\\n  -l", "python3 -c 'print(1)' |\n  cat"]


def test_readme_commands_hold_no_placeholder(readme):
    for block in code_blocks(readme, "sh"):
        for command in shell_commands(block):
            assert not [t for t in shlex.split(command, comments=True) if "..." in t], command


def demo_like_repository(root: Path) -> Path:
    """`models/criteo_deepfm/{1,2}`: DeepFMs on the demo spec's features, with small tables."""
    import keras

    from ctrkit.export import export_model
    from ctrkit.feature_column import DenseFeat, SparseFeat
    from ctrkit.models import DeepFM

    spec = yaml.safe_load(SPEC.read_text())
    columns = []
    for group in spec["features"]:
        for name in group["names"]:
            if group["kind"] == "sparse":
                columns.append(SparseFeat(name, 100, 4, use_hash=group.get("use_hash", False),
                                          dtype=group.get("dtype", "int32")))
            else:
                columns.append(DenseFeat(name, 1))
    for seed in (1, 2):
        keras.utils.set_random_seed(seed)
        model = DeepFM(columns, columns, dnn_hidden_units=(8,))
        export_model(model, root / "models" / spec["name"], columns, defaults=spec.get("defaults"))
    return root


def readme_server_options(markdown: str) -> list[str]:
    """The options of the README's `ctrkit serve` command that the admin section runs."""
    serves = [
        shlex.split(command, comments=True)
        for block in code_blocks(markdown, "sh")
        for command in shell_commands(block)
        if command.startswith("ctrkit serve") and "--version-policy" in command
    ]
    assert len(serves) == 1, serves
    options = [token for token in serves[0][2:] if token != "&"]
    trains = [
        command
        for block in code_blocks(markdown, "sh")
        for command in shell_commands(block)
        if command.startswith("ctrkit train models/criteo_deepfm/spec.yaml") and "exports models/criteo_deepfm/2" in command
    ]
    assert len(trains) == 1, "the admin section trains version 2 before it serves"
    return options


@pytest.fixture(scope="module")
def readme() -> str:
    return README.read_text()


@pytest.fixture(scope="module")
def service(readme, tmp_path_factory):
    """The README's admin-section server on a demo-like repository; yields (cwd, url, gRPC port)."""
    cwd = demo_like_repository(tmp_path_factory.mktemp("clone"))
    grpc_port = free_port()
    settings = settings_from_args([
        *readme_server_options(readme),
        "--model-repository", str(cwd / "models"), "--admin-token", TOKEN, "--grpc-port", str(grpc_port),
    ])
    with serve(settings) as server:
        yield cwd, server.url, grpc_port


# curl exits non-zero on an HTTP error (and keeps the body for the message) unless the command says `-f` itself
CURL_FAILS = """set -o pipefail
curl() {
    for arg in "$@"; do case "$arg" in -[!-]*f*|--fail) command curl "$@"; return;; esac; done
    command curl --fail-with-body "$@"
}
"""


def run_shell(command: str, cwd: Path, url: str) -> subprocess.CompletedProcess:
    script = CURL_FAILS + command.replace(SERVICE, url.removeprefix("http://"))
    env = dict(
        os.environ,
        PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),  # `. .venv/bin/activate`
        CTR_ADMIN_TOKEN=TOKEN,
        AUTH=f"Authorization: Bearer {TOKEN}",
    )
    return subprocess.run(["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(shutil.which("curl") is None or shutil.which("bash") is None, reason="needs curl and bash")
def test_readme_commands_against_the_service_work_as_written(readme, service):
    cwd, url, _ = service
    commands = [
        command
        for block in code_blocks(readme, "sh")
        for command in shell_commands(block)
        if SERVICE in command or command.startswith("cat models/")
    ]
    assert len(commands) >= 20
    for command in commands:
        result = run_shell(command, cwd, url)
        assert result.returncode == 0, f"{command}\nexit {result.returncode}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        assert result.stdout.strip(), command
    # what the admin section's last call declared: follow the newest version, 2
    assert '"serving": "latest"' in (cwd / "models" / "criteo_deepfm" / "serving.json").read_text()


def test_readme_python_clients_of_the_service_work_as_written(readme, service, capsys):
    _, url, grpc_port = service
    blocks = [block for block in code_blocks(readme, "python") if SERVICE in block or GRPC in block]
    assert len(blocks) == 3  # Open Inference Protocol over REST and gRPC, TensorFlow Serving's gRPC API
    namespace: dict = {}
    for block in blocks:  # the later blocks use the first one's rows, as a reader running them in turn does
        source = block.replace(SERVICE, url.removeprefix("http://")).replace(GRPC, f"127.0.0.1:{grpc_port}")
        exec(compile(source, "README.md", "exec"), namespace)
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 3
    for line in printed:  # three scores of the rows, and the version that computed them
        assert re.fullmatch(r"\[[\d.e+\- ]+\] \d+", line.strip()), line
