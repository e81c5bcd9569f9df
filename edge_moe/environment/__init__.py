"""What this machine has for edge-moe (``edge-moe checks``): torch-free probes, one module per concern."""
