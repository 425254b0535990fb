"""Training: the demo model from scratch, and recovery fine-tuning of pruned models by
knowledge distillation. Both read images through the evaluation code's decoder, so a model is
trained on exactly the pixels ``edge-vit eval`` will later score it on."""

from .data import TrainData, load_split, resolve_data_root
from .loop import EpochStats, TrainConfig, TrainResult, train

__all__ = ["EpochStats", "TrainConfig", "TrainData", "TrainResult", "load_split",
           "resolve_data_root", "train"]
