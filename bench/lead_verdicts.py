"""Which lead a judged model played: counts from `songspace audio evaluate`'s items.jsonl.

Of the captions whose real render the judges hear with the asked instrument family, how many
generated clips have that family; and of those asking for a family that none of the genre's
own leads has (the melody instruments of :data:`audio_gen.styles.STYLES`), how many have the
asked family and how many a family of the genre's own leads (the genre followed over the
instrument's words). bench/README.md, issue 17, "What is left", items 8 to 10.

    .venv/bin/python bench/lead_verdicts.py bench/results/audio_lead_experiments/*.items.jsonl
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from audio_gen.styles import INSTRUMENTS, STYLES


def lead_verdicts(items: list[dict]) -> dict[str, int]:
    own = {style: {INSTRUMENTS[name].family for name in spec.melody}
           for style, spec in STYLES.items()}
    heard = [item for item in items
             if item["heard_ceiling"]["instrument"] == item["asked"]["instrument"]]
    foreign = [item for item in heard
               if item["asked"]["instrument"] not in own[item["asked"]["genre"]]]

    def played(item: dict) -> str:
        return item["heard_generated"]["instrument"]

    return {
        "heard right in the render": len(heard),
        "generated with the asked family": sum(
            played(i) == i["asked"]["instrument"] for i in heard),
        "asking for a family foreign to the genre's leads": len(foreign),
        "of those, generated with the asked family": sum(
            played(i) == i["asked"]["instrument"] for i in foreign),
        "of those, generated with the genre's own lead's family": sum(
            played(i) in own[i["asked"]["genre"]] for i in foreign),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("items", type=Path, nargs="+", help="items.jsonl files")
    for path in parser.parse_args().items:
        items = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        print(path)
        for name, count in lead_verdicts(items).items():
            print(f"  {name}: {count}")


if __name__ == "__main__":
    main()
