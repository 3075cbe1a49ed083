"""``python -m pyctx ARGS``: run the installed ``pyctx`` with ARGS, its
``--python`` defaulting to this interpreter."""

import sys

from pyctx import _main

sys.exit(_main())
