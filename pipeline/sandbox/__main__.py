"""``python -m pipeline.sandbox serve``."""

from pipeline.sandbox.cli import sandbox_app

if __name__ == "__main__":
    sandbox_app()
