import sys

from seq2bert.cli import main

sys.exit(main())
