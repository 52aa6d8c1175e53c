"""Datasets and the DataLoader (torch.utils.data's names)."""
from .dataset import Dataset, Subset, TensorDataset, random_split  # noqa: F401
from .loader import DataLoader, default_collate  # noqa: F401
from .preprocessing import MeanSubtraction, PCAWhitening, Standardize, ZCAWhitening  # noqa: F401
from .distributed import DistributedSampler  # noqa: F401
