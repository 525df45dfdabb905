"""One thin module per verb of `grpo-lora` (`cli.py` dispatches): each parses its arguments and calls
the library."""
