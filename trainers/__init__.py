"""edge_moe.trainers: training loops, assigners, losses and checkpoints (needs torch)."""
