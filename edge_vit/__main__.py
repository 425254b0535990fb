"""`python -m edge_vit ...` is the same as the `edge-vit` command."""

from .commands import main

main()
