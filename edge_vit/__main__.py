"""`python -m edge_vit ...` is the same as the `edge-vit` command."""

from .cli import main

main()
