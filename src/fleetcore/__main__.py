"""``python -m fleetcore``: the same command line as ``fleetcore``."""

from fleetcore.cli import main

main()
