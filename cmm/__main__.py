import sys

from cmm.cli import main

sys.exit(main())
