"""The naive FastAPI peer: the server a user following FastAPI's documentation would write for a bundle.

``ctrkit bench`` serves the same bundle with it and with ``ctrkit serve``, so
that the service's figures have a baseline measured in the same run. It is
deliberately plain: a pydantic request model, one endpoint that turns the rows
into the model's named tensors and calls the SavedModel's ``serving_default``
once per request (no batching; a plain ``def`` endpoint, so FastAPI runs it
in its thread pool), uvicorn with its defaults (uvloop and httptools when
installed, one process). The one departure from uvicorn's defaults is the
access log, which is off as in ``ctrkit serve``, so that neither server
writes a line per request.

Run it with::

    python -m loadtest.naive_server --model-dir models/criteo_deepfm/1 --port 8101
    curl -s localhost:8101/predict -H 'content-type: application/json' \\
        -d '{"instances": [{"C1": "68fd1e64", "I1": 3.0}]}'

It scores row-form bodies only (``{"instances": [{feature: value}, ...]}``)
holding every feature; length inputs are taken from their lists.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fastapi import FastAPI
from pydantic import BaseModel

__all__ = ["PredictRequest", "PredictResponse", "create_app", "main"]

Value = str | float | list[str] | list[float]


class PredictRequest(BaseModel):
    """Rows to score, each a mapping of feature name to value."""

    instances: list[dict[str, Value]]


class PredictResponse(BaseModel):
    """One list of scores per model output, a score per row."""

    predictions: dict[str, list[float]]


def create_app(model_dir: Path) -> FastAPI:
    """The app serving the bundle in ``model_dir`` (a version directory)."""
    from ctrkit.export import load_bundle

    bundle = load_bundle(model_dir)
    features = bundle.spec["features"]
    app = FastAPI(title=f"naive server for {bundle.name}")

    @app.post("/predict")
    def predict(request: PredictRequest) -> PredictResponse:
        rows = request.instances
        columns = {}
        for feature in features:
            if feature["kind"] == "length":
                columns[feature["name"]] = [len(row[feature["length_of"]]) for row in rows]
            else:
                columns[feature["name"]] = [row[feature["name"]] for row in rows]
        outputs = bundle.predict(columns)
        return PredictResponse(predictions={name: scores.ravel().tolist() for name, scores in outputs.items()})

    return app


def main(argv: list[str] | None = None) -> None:
    """Serves ``--model-dir`` with uvicorn on ``--host``/``--port``."""
    import uvicorn

    parser = argparse.ArgumentParser(
        prog="python -m loadtest.naive_server", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--model-dir", type=Path, required=True, help="a bundle's version directory")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8101, help="TCP port to listen on")
    args = parser.parse_args(argv)
    uvicorn.run(create_app(args.model_dir), host=args.host, port=args.port, access_log=False)


if __name__ == "__main__":
    main()
