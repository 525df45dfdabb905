import sys

from grpo_lora.cli import main

sys.exit(main())
