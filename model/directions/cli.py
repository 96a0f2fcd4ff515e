"""Edit directions for model packs.

    python3 -m model.directions add PACK FILE|SET... [--space z|w] [--replace] [--checkpoint CK]
    python3 -m model.directions ganspace PACK CHECKPOINT [-k 12] [--samples 100000] [--replace]
    python3 -m model.directions ffhq-json [OUT]       (re)write public/directions/interfacegan-stylegan2-ffhq-z.json

FILE: InterFaceGAN .npy (Z; `_w` in the name: W), GANSpace .npz (lat_comp, lat_stdev), e4e/pSp .pt (W; read by the
restricted unpickler), or a JSON list of manifest direction entries. SET: interfacegan-ffhq (1024 px FFHQ config-f
packs only). W directions get a fitted Z conversion from the pack's own mapping graph (docs/DIRECTIONS.md). A bad
file is reported and the pack is left as it was.
"""
import argparse
import sys

from model.directions.files import DirectionError


def main(argv=None):
    ap = argparse.ArgumentParser(prog='python3 -m model.directions', description=__doc__.split('\n')[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = ap.add_subparsers(dest='cmd', required=True)
    a = sub.add_parser('add', help='add direction files or a shipped set to a pack')
    a.add_argument('pack')
    a.add_argument('files', nargs='+', metavar='FILE|SET')
    a.add_argument('--space', choices=['z', 'w'], help='the files\' space, whatever their names say')
    a.add_argument('--replace', action='store_true', help='overwrite directions with the same id')
    a.add_argument('--checkpoint', help='fit W conversions with the checkpoint instead of the pack\'s mapping graph')
    g = sub.add_parser('ganspace', help='GANSpace components for an existing pack (needs its checkpoint to render)')
    g.add_argument('pack')
    g.add_argument('checkpoint')
    g.add_argument('-k', type=int, default=12)
    g.add_argument('--samples', type=int, default=100_000)
    g.add_argument('--replace', action='store_true')
    j = sub.add_parser('ffhq-json', help='write the InterFaceGAN++ FFHQ set as the app\'s JSON')
    j.add_argument('out', nargs='?')
    args = ap.parse_args(argv)
    try:
        if args.cmd == 'add':
            from model.directions.pack import add_to_pack
            add_to_pack(args.pack, args.files, args.space, args.replace, args.checkpoint)
        elif args.cmd == 'ganspace':
            from model.directions.pack import ganspace_into_pack
            ganspace_into_pack(args.pack, args.checkpoint, args.k, args.samples, args.replace)
        else:
            from model.directions import ffhq
            print(ffhq.write_public_json(*([args.out] if args.out else [])))
    except DirectionError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    return 0
