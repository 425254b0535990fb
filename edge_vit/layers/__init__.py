"""Where a model's time goes: per-op times from each runtime's own profiler (through the
runner's ``layers`` command, or trtexec's layer profile on a Jetson) attributed to the groups
a pruner can remove: the patch embedding; per block the attention (qkv, the two attention
products with their softmax, proj) and the MLP (fc1, activation, fc2), the norms and the
residual adds; the final norm; the head. Each group's share of the time sits beside its share
of the MACs, counted on the artifact's ONNX graph with the same attribution."""
