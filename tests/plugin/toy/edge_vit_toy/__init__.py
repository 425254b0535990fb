"""A third party's edge-vit plugin, made importable by putting its folder on ``sys.path``.

It adds, through the entry points in ``edge_vit_toy-0.1.0.dist-info/entry_points.txt`` only:

* the format ``npvit``: a folder artifact (``<model>.npvit/``: the weights as NumPy arrays in
  ``weights.npz``, never pickled, and ``config.json``), run by its own runtime ``numpy_vit``
  (a ViT forward pass written in NumPy, :mod:`edge_vit_toy.npvit_backend`), which ``deploy``
  copies beside the device runner;
* the device kind ``toy-board``: a "board" that is a folder on this machine, commands run in
  subprocesses there, with a config dataclass of its own (``board_dir``).
"""
