"""How edge-vit measures latency: interleaved rounds on a device (``session``), and the
statistics that summarise them (``stats``)."""
