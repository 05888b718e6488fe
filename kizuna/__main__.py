"""``python -m kizuna ...``: the same command line as the ``kizuna`` script."""

from kizuna.interfaces.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
