import sys

from elearning_workers.main import main

sys.exit(main())
