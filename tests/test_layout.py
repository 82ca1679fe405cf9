"""The library's layout: no import circles, no private names imported across
modules, DeepCTR's import paths kept, and a `ctrkit` command that loads only
what it runs."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ctrkit"


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _imports(name: str, path: Path, modules: dict[str, Path]):
    """(target module, imported names) for every import in the file, at any depth."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                full = f"{target}.{alias.name}"
                yield (full, []) if full in modules else (target, [alias.name])


def _graph(modules):
    graph = {}
    for name, path in modules.items():
        graph[name] = {target for target, _ in _imports(name, path, modules) if target in modules and target != name}
    return graph


def _cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_module_imports_another_in_a_circle():
    # imports inside functions count too: a lazy import only hides a circle
    assert _cycles(_graph(_modules())) == []


def test_the_cycle_finder_sees_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_imports_private_names_of_another():
    modules = _modules()
    offences = []
    for name, path in modules.items():
        for target, names in _imports(name, path, modules):
            for imported in names:
                if imported.startswith("_") and not (imported.startswith("__") and imported.endswith("__")):
                    offences.append(f"{name} imports {target}.{imported}")
    assert offences == []


@pytest.mark.parametrize(
    "path, names",
    [
        ("ctrkit.feature_column", "SparseFeat VarLenSparseFeat DenseFeat get_feature_names build_input_features "
         "input_from_feature_columns get_linear_logit DEFAULT_GROUP_NAME"),
        ("ctrkit.inputs", "create_embedding_matrix embedding_lookup varlen_embedding_lookup get_varlen_pooling_list "
         "get_dense_input mergeDict create_embedding_dict"),
        ("ctrkit.layers.core", "DNN LocalActivationUnit PredictionLayer RegulationModule"),
        ("ctrkit.layers.interaction", "FM CIN CrossNet DotInteraction AFMLayer InteractingLayer"),
        ("ctrkit.layers.sequence", "SequencePoolingLayer AttentionSequencePoolingLayer LocalActivationUnit Transformer"),
        ("ctrkit.layers", "DNN LocalActivationUnit DotInteraction Hash custom_objects"),
        ("ctrkit.layers.utils", "Hash Linear NoMask concat_func combined_dnn_input add_func reduce_sum reduce_mean "
         "reduce_max div softmax"),
        ("ctrkit.layers.activation", "Dice activation_layer"),
        ("ctrkit.training", "TrainingSpec train_from_spec model_input Trainer ParameterServerTrainer distribute"),
        ("ctrkit.data.pipelines", "csv_dataset parquet_dataset tfrecord_dataset array_dataset write_tfrecord"),
    ],
)
def test_public_import_paths(path, names):
    module = __import__(path, fromlist=["_"])
    missing = [n for n in names.split() if not hasattr(module, n)]
    assert missing == []


def test_moved_layers_are_one_class_under_every_path():
    from ctrkit import layers
    from ctrkit.layers import core, interaction, sequence

    assert core.LocalActivationUnit is sequence.LocalActivationUnit is layers.LocalActivationUnit
    assert interaction.DotInteraction is layers.DotInteraction
    assert core.DNN is layers.DNN


def test_the_command_line_loads_neither_the_service_nor_the_load_test_harness():
    code = (
        "import sys, ctrkit.cli; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'loadtest', 'service', 'tensorflow', 'keras'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
