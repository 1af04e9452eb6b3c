"""pytest setup for the torch worker: import `retort_torch` from src/runner/torch without installing it."""
import os
import sys

import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PKG = os.path.join(ROOT, "src", "runner", "torch")
if PKG not in sys.path:
    sys.path.insert(0, PKG)

# Two shared CPU cores: more threads only contend.
torch.set_num_threads(2)
