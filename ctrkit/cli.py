"""`ctrkit` command line: train from a spec, serve a model repository."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _train(args: argparse.Namespace) -> int:
    from .training import SpecError, TrainingSpec, train_from_spec

    try:
        spec = TrainingSpec.load(args.spec)
        result = train_from_spec(
            spec,
            rows=args.rows,
            epochs=args.epochs,
            export=not args.no_export,
            repository=args.model_repository,
            verbose=args.verbose if args.verbose is not None else (1 if sys.stdout.isatty() else 2),
        )
    except (SpecError, FileNotFoundError) as exc:
        print(f"ctrkit train: {exc}", file=sys.stderr)
        return 2
    if result.validation:
        print("validation: " + "  ".join(f"{k}={v:.4f}" for k, v in result.validation.items()))
    if result.planted_auc is not None:
        print(f"planted model auc on the same rows: {result.planted_auc:.4f}")
    print(f"trained on {result.rows_seen} rows in {result.seconds:.1f} s ({result.rows_seen / max(result.seconds, 1e-9):,.0f} rows/s)")
    if result.version_dir is not None:
        print(f"exported {result.version_dir}")
    return 0


def _serve(argv: list[str]) -> int:
    from service.cli import main as serve_main

    return serve_main(argv)


def _bench(argv: list[str]) -> int:
    from loadtest.bench import main as bench_main

    return bench_main(argv)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "serve":
        return _serve(argv[1:])
    if argv and argv[0] == "bench":
        return _bench(argv[1:])

    parser = argparse.ArgumentParser(prog="ctrkit", description="CTR models: train, export and serve.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("serve", help="serve a model repository over HTTP (see `ctrkit serve --help`)")
    commands.add_parser("bench", help="benchmark the service under wrk and h2load load (see `ctrkit bench --help`)")

    train = commands.add_parser(
        "train",
        help="train a model from a spec.yaml and export the next version",
        description="Train the spec's model, print its validation metrics and export the next version "
        "into <model-repository>/<name>/<n>/, where `ctrkit serve --model-repository` finds it.",
    )
    train.add_argument("spec", type=Path, help="path to models/<name>/spec.yaml")
    train.add_argument("--rows", type=int, metavar="N", help="use N rows (default: the spec's data.rows)")
    train.add_argument("--epochs", type=int, metavar="N", help="train N epochs (default: the spec's training.epochs)")
    train.add_argument(
        "--model-repository",
        type=Path,
        metavar="PATH",
        help="the folder of models to export into, as <PATH>/<name>/<n>/ "
        "(default: the folder above the spec's, e.g. models for models/<name>/spec.yaml)",
    )
    train.add_argument("--repository", type=Path, help=argparse.SUPPRESS)
    train.add_argument("--no-export", action="store_true", help="train and evaluate only")
    train.add_argument(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        help="Keras output: 0 none, 1 a progress bar, 2 one line per epoch "
        "(default: 1 on a terminal, else 2)",
    )
    train.set_defaults(handler=_train)

    args = parser.parse_args(argv)
    if args.command == "train" and args.repository is not None:
        train.error(
            "--repository is now --model-repository, the folder of models as `ctrkit serve` reads it: "
            "versions go to <PATH>/<name>/<n>/ (`--repository models/<name>` becomes `--model-repository models`)"
        )
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
