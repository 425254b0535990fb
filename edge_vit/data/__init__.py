"""The data layer: image folders and their labels, archives, preprocessing and the decode
cache, used by evaluation, training, export (calibration, parity images) and the sweep.

* :mod:`.datasets` — labelled image sets in the usual layouts, class-balanced subsets;
* :mod:`.labels` — ImageNet-1k class indices (from timm's full list, never the folders present);
* :mod:`.archive` — ``.tar``/``.tar.gz`` data sets unpacked once into the cache, safely;
* :mod:`.preprocess` — the model's timm transforms applied once per data set and data config,
  kept in the decode cache (:func:`.preprocess.image_cache_dir`);
* :mod:`.images` — unlabelled images for parity checks and int8 calibration.
"""
