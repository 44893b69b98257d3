"""Run the petition service: `python main.py` serves it; `python main.py --help` lists the commands."""

import sys

from petition.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
