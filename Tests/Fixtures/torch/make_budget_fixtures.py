#!/usr/bin/env python3
"""Writes the .npz fixtures of the readers' budgets (issue 22; docs/robustness.md).

NumPy only (the torch.save fixtures are made by make_torch_fixtures.py; hostile pickles
and archives are written by the tests themselves, Tests/NablaCoreTests/IO/HostileArchives.swift):

    python3 Tests/Fixtures/torch/make_budget_fixtures.py
"""
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

# 20 MiB of float32 zeros, deflated by np.savez_compressed to about 20 KB: a ratio of
# 1024:1, over the 256:1 nabla accepts for members over 16 MiB.
np.savez_compressed(os.path.join(HERE, "bad", "ratio_bomb.npz"), x=np.zeros(5 << 20, dtype=np.float32))
