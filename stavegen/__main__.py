"""``python -m stavegen``: the same as the ``stavegen`` command."""

import sys

from stavegen.commands import main

sys.exit(main())
