"""Allow ``python -m pyser2net``."""

from pyser2net.cli import main

if __name__ == "__main__":
    main()
