"""``ctrkit serve``: runs the service under uvicorn.

Every :class:`~service.settings.Settings` field is an option (``model_repository``
-> ``--model-repository``); an option given on the command line wins over its
``CTR_*`` environment variable, which wins over the default.
"""

from __future__ import annotations

import argparse
import enum
import signal
import sys
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from service.settings import Settings

__all__ = ["build_parser", "main", "resolved", "run", "settings_from_args"]


def _option_type(annotation: Any) -> tuple[Any, dict[str, Any]]:
    """argparse ``type``/``choices``/``action`` for a settings field annotation."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is typing.Annotated:
        return _option_type(args[0])
    if args and typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return _option_type(args[0])
    if annotation is bool:
        return None, {"action": argparse.BooleanOptionalAction}
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return str, {"choices": [m.value for m in annotation]}
    if annotation in (int, float):
        return annotation, {}
    if annotation is Path:
        return str, {"metavar": "DIR"}
    return str, {}


def build_parser(prog: str = "ctrkit serve") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Serve exported ctrkit models over HTTP (settings also read from CTR_* variables).",
        argument_default=argparse.SUPPRESS,
    )
    for name, field in Settings.model_fields.items():
        kind, extra = _option_type(field.annotation)
        default = field.get_default(call_default_factory=True)
        if isinstance(default, enum.Enum):
            default = default.value
        help_text = f"{field.description} [env CTR_{name.upper()}; default: {default}]"
        kwargs: dict[str, Any] = {"dest": name, "help": help_text.replace("%", "%%"), **extra}
        if kind is not None:
            kwargs["type"] = kind
        parser.add_argument(f"--{name.replace('_', '-')}", **kwargs)
    return parser


def settings_from_args(argv: Sequence[str] | None = None) -> Settings:
    """Settings from the environment, overridden by the options in ``argv``."""
    namespace = build_parser().parse_args(argv)
    return Settings(**vars(namespace))


def resolved(settings: Settings) -> Settings:
    """``settings`` with ``workers`` 0 made a count: one worker per core this process may use
    (:func:`service.process.default_workers`).

    >>> resolved(Settings(workers=3)).workers
    3
    >>> from service.process import default_workers
    >>> resolved(Settings(workers=0)).workers == default_workers()
    True
    """
    if settings.workers:
        return settings
    from service.process import default_workers

    return settings.model_copy(update={"workers": default_workers()})


def run(settings: Settings) -> None:
    """Serves until SIGINT/SIGTERM; in-flight and queued requests finish first (in every worker)."""
    settings = resolved(settings)
    if settings.workers > 1:
        from service.workers import PortUnavailable, serve_workers

        try:
            serve_workers(settings)
        except PortUnavailable as exc:  # refused before any worker starts
            print(f"ctrkit serve: {exc}", file=sys.stderr)
            sys.exit(1)
        return
    import uvicorn

    from service.process import prepare_process

    prepare_process(settings)
    from service.app import create_app
    from service.server import uvicorn_config

    app = create_app(settings)
    config = uvicorn_config(app, settings)
    # uvicorn re-raises the signal that stopped it once it has shut down; with
    # these handlers in place that ends run() normally, so the exit status is 0
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)
    uvicorn.Server(config).run()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``ctrkit serve``; returns the exit status."""
    try:
        settings = settings_from_args(argv)
    except ValidationError as exc:
        print(f"ctrkit serve: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    run(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
