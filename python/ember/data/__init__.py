"""ember.data: the names of torch.utils.data (Dataset, TensorDataset, DataLoader, random_split, ...), batch
transforms for augmentation (ember.data.transforms) and bundled datasets that need no network."""
from . import transforms
from .dataloader import DataLoader, default_collate
from .dataset import ConcatDataset, Dataset, Subset, TensorDataset, random_split
from .datasets import CharVocab, CharWindowDataset, char_dataset, load_digits, load_text
from .transforms import (Compose, Cutout, Lambda, Normalize, RandomAffine, RandomCrop, RandomHorizontalFlip,
                         RandomNoise, RandomRotation, RandomVerticalFlip)

__all__ = ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split", "DataLoader", "default_collate",
           "transforms", "Compose", "Lambda", "Normalize", "RandomCrop", "RandomHorizontalFlip", "RandomVerticalFlip",
           "RandomRotation", "RandomAffine", "RandomNoise", "Cutout", "load_digits", "load_text", "CharVocab",
           "CharWindowDataset", "char_dataset"]
