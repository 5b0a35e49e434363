"""Train a DCGAN with margin-gated G/D balance on a folder of images, or generate from one.

    python train.py --path faces/ --TYPE train --epochs 200
    python train.py --TYPE generate --img_num 16

See README.md, or `python train.py --help` for every flag.
"""
import sys

from gan.cli import main

if __name__ == "__main__":
    sys.exit(main())
