"""The training loop and its maths: one GRPO step as phases (`trainer`), a run's live state and its
making (`state`), the update (`update`), losses and advantages, the batch, and packed runs (`pack`)."""
