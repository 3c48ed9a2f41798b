"""Advantage estimators (GRPO, GiGPO, ArCHer, IGPO), losses and the training loop."""
