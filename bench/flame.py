"""Summarise a py-spy raw (collapsed-stack) profile: inclusive share per frame, top first.

    python -m bench.flame PROFILE.txt [--top 25] [--match TEXT]

py-spy's ``record -f raw`` writes one line per distinct stack: ``frame;frame;... count``.
A frame's inclusive share is the fraction of samples whose stack contains it.
"""

import argparse
from collections import Counter
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--match", default="", help="only frames containing TEXT")
    args = parser.parse_args()
    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    total = 0
    for line in args.profile.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        samples = int(count)
        total += samples
        frames = stack.split(";")
        for frame in set(frames):
            inclusive[frame] += samples
        leaf[frames[-1]] += samples
    print(f"{total} samples")
    print("inclusive:")
    for frame, samples in inclusive.most_common():
        if args.match in frame:
            print(f"  {samples / total:6.1%}  {frame}")
            args.top -= 1
            if args.top <= 0:
                break
    print("self (leaf):")
    for frame, samples in leaf.most_common(12):
        print(f"  {samples / total:6.1%}  {frame}")


if __name__ == "__main__":
    main()
