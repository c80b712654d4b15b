import sys

from meshportal.cli import main

sys.exit(main())
