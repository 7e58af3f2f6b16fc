"""``python -m dermaseg``: the same as the ``dermaseg`` command."""

from dermaseg.cli import main

if __name__ == "__main__":
    main()
