"""Training: arguments, the one place that wraps models (compile, DDP, FSDP2), optimizer and
schedule, losses, checkpoints, metrics, and the loop."""
