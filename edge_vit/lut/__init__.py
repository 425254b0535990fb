"""A device's latency model of one architecture: measured once on the device (``edge-vit lut
build``), then used to predict the latency of any pruned configuration of it (heads and MLP
width per block, which blocks stay) without measuring it, and to prune to a latency budget."""
