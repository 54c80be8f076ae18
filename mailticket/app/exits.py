"""Exit codes (sysexits) and loading the configuration named on the command line: shared by
the CLI and its command modules.
"""

from __future__ import annotations

import argparse

from mailticket import config as config_module
from mailticket.config import Config

EX_TEMPFAIL = 75


EX_SOFTWARE = 70


def load_config(args: argparse.Namespace) -> Config:
    path, required = config_module.config_path(args.config)
    return config_module.load(path, required=required)
