"""model.verify's graph-contract check (model/export/verify.py: check_contract) on a copy of the tiny test pack:
a pack that keeps the contract passes; a manifest or an ONNX file that breaks it is refused, naming the graph."""
import json
import shutil
from pathlib import Path

import onnx
import pytest

from model.export.verify import check_contract, main

TINY = Path(__file__).resolve().parents[1] / 'public' / 'models' / 'tiny-test'


@pytest.fixture
def pack(tmp_path):
    d = tmp_path / 'tiny'
    shutil.copytree(TINY, d)
    return d


def edit_manifest(pack, fn):
    m = json.loads((pack / 'manifest.json').read_text())
    fn(m)
    (pack / 'manifest.json').write_text(json.dumps(m))


def test_the_tiny_pack_keeps_the_contract(pack, capsys):
    assert check_contract(pack) == []
    assert main([str(pack)]) == 0
    assert 'graph contract ok' in capsys.readouterr().out


def test_inputs_out_of_order_are_refused(pack):
    edit_manifest(pack, lambda m: m['graphs']['synthesis_from_f']['inputs'].reverse())
    problems = check_contract(pack)
    assert any(p.startswith("synthesis_from_f: inputs ['wplus', 'f'] in the manifest, the contract says ['f', 'wplus']") for p in problems)
    # and the file no longer matches what the manifest says
    assert any(p.startswith('synthesis_from_f: the file synthesis_from_f.onnx has inputs') for p in problems)


def test_a_missing_required_graph_and_a_wrong_shape_are_refused(pack, capsys):
    def fn(m):
        del m['graphs']['features']
        m['graphs']['mapping']['outputs'][0]['shape'] = [1, 2]
    edit_manifest(pack, fn)
    problems = check_contract(pack)
    assert "required graph 'features' is missing" in problems
    assert any(p.startswith('mapping: w has shape [1, 2], the contract says') for p in problems)
    assert main([str(pack)]) == 1
    assert 'pack breaks the graph contract' in capsys.readouterr().err


def test_an_onnx_file_whose_io_differs_from_the_manifest_is_refused(pack):
    path = pack / 'mapping.onnx'
    model = onnx.load(str(path), load_external_data=False)
    old = model.graph.output[0].name
    for node in model.graph.node:
        node.output[:] = ['latent' if o == old else o for o in node.output]
    model.graph.output[0].name = 'latent'
    onnx.save(model, str(path))
    problems = check_contract(pack)
    assert len(problems) == 1 and problems[0].startswith("mapping: the file mapping.onnx has outputs [{'name': 'latent'")


def test_keys_outside_the_contract_are_allowed(pack):
    edit_manifest(pack, lambda m: m['graphs'].__setitem__('extra_thing', dict(m['graphs']['mapping'])))
    assert check_contract(pack) == []
