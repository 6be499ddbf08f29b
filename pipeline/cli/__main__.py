"""``python -m pipeline.cli``: the ``pipeline`` command (tests run it as a subprocess)."""

from pipeline.cli import main

main()
