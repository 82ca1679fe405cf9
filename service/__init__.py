"""The ctrkit serving service: a FastAPI app scoring rows with exported models.

Build it with :func:`service.app.create_app`; run it with ``ctrkit serve``
(:func:`service.cli.main`).
"""
