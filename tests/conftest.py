import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def shared_dir():
    """The shared data folder: $FZ_SHARED, else ../shared next to the repo (CI clone and /work/main alike)."""
    for p in (os.environ.get('FZ_SHARED'), REPO.parent / 'shared', REPO / 'shared'):
        if p and Path(p, 'reference', 'rosinality-64', 'checkpoint.pt').is_file():
            return Path(p)
    return None


@pytest.fixture(scope='session')
def ref_dir():
    d = shared_dir()
    if d is None:
        pytest.skip('shared reference folder (../shared/reference/rosinality-64) not found')
    return d / 'reference' / 'rosinality-64'


@pytest.fixture(scope='session')
def ref_loaded(ref_dir):
    from model.load.checkpoint import load_rosinality
    return load_rosinality(str(ref_dir / 'checkpoint.pt'))
